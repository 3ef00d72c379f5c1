"""Backends run a submitted job somewhere: ``local`` (a subprocess), ``docker``, ``gke``."""

from __future__ import annotations

import importlib

from kinetic.errors import ConfigError

_BACKENDS = {
    "local": ("kinetic.backends.local", "LocalBackend"),
    "docker": ("kinetic.backends.docker", "DockerBackend"),
}


def get_backend(name: str):
    """Return the backend called ``name``; its module (and heavy clients) load on first use."""
    entry = _BACKENDS.get(name)
    if name == "gke":
        raise ConfigError(
            "this kinetic version cannot submit jobs to GKE: it renders what a gke job would "
            "run (see `kinetic plan` and `kinetic jobs plan ID`) but has no gke backend. Choose "
            "backend local or docker (backend= or KINETIC_BACKEND), and unset the cluster "
            "setting, which selects gke by default"
        )
    if entry is None:
        raise ConfigError(
            f"unknown or unavailable backend {name!r}; available backends: "
            f"{', '.join(sorted(_BACKENDS))}. The gke backend is not part of this version"
        )
    module_name, class_name = entry
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"the {name} backend is not installed: {exc}; install it with "
                          f"`pip install 'kinetic-launcher[{name}]'`") from exc
    return getattr(module, class_name)()
