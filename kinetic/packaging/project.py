"""Finding the project root: the folder whose files travel with a job."""

from __future__ import annotations

import os
from pathlib import Path

from kinetic.errors import ConfigError

ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", ".git")


def find_project_root(start: Path | str | None = None) -> Path:
    """Return the project root for code in ``start`` (a file or folder; default: the cwd).

    ``KINETIC_PROJECT_ROOT`` overrides the search. Otherwise the search leaves any package
    (folders holding ``__init__.py``), then walks up to the nearest folder holding one of
    ROOT_MARKERS. It stops below ``$HOME`` and ``/``: when no marker is found, the first folder
    outside the packages is the root.
    """
    override = os.environ.get("KINETIC_PROJECT_ROOT")
    if override:
        root = Path(override).expanduser().resolve()
        if not root.is_dir():
            raise ConfigError(
                f"KINETIC_PROJECT_ROOT={override!r} is not a folder; set it to your project's "
                f"top folder or unset it to let kinetic find the root"
            )
        return root

    folder = Path(start).resolve() if start is not None else Path.cwd().resolve()
    if folder.is_file():
        folder = folder.parent
    while (folder / "__init__.py").exists() and folder.parent != folder:
        folder = folder.parent

    outside_packages = folder
    home = Path.home().resolve()
    candidate = folder
    while candidate != home and candidate.parent != candidate:
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
        candidate = candidate.parent
    return outside_packages


def relative_to_root(path: str | Path, root: Path) -> str | None:
    """``path`` relative to ``root`` in POSIX form, or None when it lies outside the root."""
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return None
