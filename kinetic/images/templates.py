"""The Dockerfile templates, one per accelerator family, and their rendering.

Installed from a wheel, the templates sit in ``kinetic/templates``; in a source tree they sit
in ``templates/`` at the repository root.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jinja2

import kinetic
from kinetic.errors import BuildError

FAMILIES = ("cpu", "gpu", "tpu")
SHARED_TEMPLATE = "base.Dockerfile.j2"


def template_name(family: str) -> str:
    return f"{family}.Dockerfile.j2"


def templates_dir() -> Path:
    """Return the folder holding the templates of the running kinetic."""
    package_dir = Path(kinetic.__file__).resolve().parent
    for candidate in (package_dir / "templates", package_dir.parent / "templates"):
        if (candidate / SHARED_TEMPLATE).is_file():
            return candidate
    raise BuildError(
        f"the Dockerfile templates are missing: neither {package_dir / 'templates'} nor "
        f"{package_dir.parent / 'templates'} holds {SHARED_TEMPLATE}; reinstall kinetic"
    )


def template_digest(family: str, directory: Path | None = None) -> str:
    """sha256 over the family's template and the shared template it extends."""
    directory = directory or templates_dir()
    digest = hashlib.sha256()
    for name in (template_name(family), SHARED_TEMPLATE):
        path = directory / name
        if not path.is_file():
            raise BuildError(f"the Dockerfile template {path} is missing; reinstall kinetic or "
                             f"restore the file")
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def render_dockerfile(family: str, variables: dict[str, Any],
                      directory: Path | None = None) -> str:
    """Render the family's template; an undefined variable raises instead of rendering empty."""
    directory = directory or templates_dir()
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    name = template_name(family)
    try:
        template = environment.get_template(name)
        return template.render(template_name=name, **variables)
    except jinja2.TemplateError as exc:
        raise BuildError(f"rendering the Dockerfile template {directory / name} failed: "
                         f"{exc}") from exc
