"""kinetic: run a Python function or script on a cloud TPU or GPU as if it ran locally.

    import kinetic

    @kinetic.run(accelerator="tpu-v5e-8")
    def train(steps: int) -> float:
        ...

    loss = train(100)

Only the names below are public. Heavy clients (docker, kubernetes, google-cloud, jax) are
imported by the backends that need them, never by ``import kinetic``.
"""

from __future__ import annotations

from kinetic.errors import (
    AcceleratorError,
    BackendError,
    BuildError,
    ConfigError,
    JobCancelled,
    JobFailed,
    JobNotFound,
    JobTimeout,
    KineticError,
    PackagingError,
    RemoteError,
    SerializationError,
)

__version__ = "0.1.0"

__all__ = [
    "AcceleratorError", "BackendError", "BuildError", "ConfigError", "JobCancelled", "JobFailed",
    "JobHandle", "JobNotFound", "JobStatus", "JobTimeout", "KineticError", "PackagingError",
    "RemoteError", "RemoteFunction", "SerializationError", "attach", "list_jobs", "run",
    "__version__",
]

_LAZY = {
    "run": "kinetic.api",
    "RemoteFunction": "kinetic.api",
    "attach": "kinetic.jobs",
    "list_jobs": "kinetic.jobs",
    "JobHandle": "kinetic.jobs",
    "JobStatus": "kinetic.jobs",
}


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'kinetic' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
