"""The project's Python requirements, checked and normalised for an image build.

Sources, first match wins: the ``requirements=[...]`` list given by the caller, else
``requirements.txt`` at the project root, else ``[project.dependencies]`` of its
``pyproject.toml``. Lines that cannot be installed inside a container (editable installs, local
paths, missing ``-r`` files) raise :class:`RequirementsError` before any build starts.

The result is normalised so that comments, blank lines, spacing, name spelling (PEP 503) and
order do not change it, because the image tag is a hash over it.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from kinetic.errors import RequirementsError

logger = logging.getLogger("kinetic.images")

KEEP_MARKER = "# kinetic: keep"
"""A line ending in this comment keeps an accelerator pin that would otherwise be dropped."""

ACCELERATOR_PACKAGES = frozenset({"jax", "jaxlib", "libtpu", "libtpu-nightly"})
"""Packages the GPU and TPU images install themselves; a user pin would replace that build."""

# pip options that name where packages come from; their value must be a URL inside an image.
INDEX_OPTIONS = frozenset({"--index-url", "-i", "--extra-index-url", "--find-links", "-f"})
FLAG_OPTIONS = frozenset({"--pre", "--prefer-binary"})
VALUE_OPTIONS = frozenset({"--no-binary", "--only-binary", "--trusted-host"})
URL_SCHEMES = ("http://", "https://")
VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")


@dataclass(frozen=True)
class RequirementLine:
    """One requirement with where it came from, for error messages and warnings."""

    requirement: Requirement
    origin: str
    """``file:line`` or ``requirements[i]``."""
    text: str
    keep: bool = False
    hashes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResolvedRequirements:
    """Normalised requirements of one image.

    ``lines`` are the requirement strings, sorted and deduplicated; ``options`` the pip options
    (index URLs, ``--pre``), sorted; ``dropped`` the accelerator pins removed for GPU and TPU.
    """

    lines: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    source: str = "none"
    dropped: tuple[str, ...] = field(default=(), compare=False)

    def requirements_txt(self) -> str:
        """Return the content of the requirements file placed in the build context."""
        return "".join(line + "\n" for line in (*self.options, *self.lines))


def resolve_requirements(project_root: Path | None, requirements: Sequence[str] | None = None,
                         *, family: str = "cpu") -> ResolvedRequirements:
    """Read, check and normalise the requirements of the project at ``project_root``.

    Raises RequirementsError for any line an image cannot install. For ``family`` ``gpu`` and
    ``tpu``, pins of ACCELERATOR_PACKAGES are dropped with one warning unless the line ends
    with KEEP_MARKER.
    """
    parsed: list[RequirementLine] = []
    options: list[str] = []
    if requirements is not None:
        source = "requirements argument"
        for index, text in enumerate(requirements):
            _parse_line(text, f"requirements[{index}]", project_root, parsed, options,
                        seen=set())
    elif project_root is not None and (project_root / "requirements.txt").is_file():
        path = project_root / "requirements.txt"
        source = str(path)
        _parse_file(path, parsed, options, seen=set())
    elif project_root is not None and (project_root / "pyproject.toml").is_file():
        path = project_root / "pyproject.toml"
        source = f"{path} [project.dependencies]"
        for index, text in enumerate(_pyproject_dependencies(path)):
            _parse_line(text, f"{path} [project.dependencies][{index}]", None, parsed, options,
                        seen=set())
    else:
        return ResolvedRequirements()

    kept, dropped = _drop_accelerator_pins(parsed, family)
    lines = sorted({_normalise(line.requirement, line.hashes) for line in kept})
    return ResolvedRequirements(
        lines=tuple(lines),
        options=tuple(sorted(set(options))),
        source=source,
        dropped=tuple(dropped),
    )


def _parse_file(path: Path, parsed: list[RequirementLine], options: list[str],
                seen: set[Path]) -> None:
    resolved = path.resolve()
    if resolved in seen:
        return
    seen.add(resolved)
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, text in _joined_lines(lines):
        _parse_line(text, f"{path}:{number}", path.parent, parsed, options, seen)


def _joined_lines(lines: list[str]) -> Iterable[tuple[int, str]]:
    """Yield (first line number, text) with backslash continuations joined, as pip does."""
    buffer = ""
    start = 0
    for number, line in enumerate(lines, start=1):
        if not buffer:
            start = number
        if line.endswith("\\") and not line.lstrip().startswith("#"):
            buffer += line[:-1]
            continue
        yield start, buffer + line
        buffer = ""
    if buffer:
        yield start, buffer


def _parse_line(text: str, origin: str, base_dir: Path | None, parsed: list[RequirementLine],
                options: list[str], seen: set[Path]) -> None:
    keep = text.rstrip().endswith(KEEP_MARKER)
    line = _strip_comment(text)
    if not line:
        return
    if line.startswith("-"):
        _parse_option(line, origin, base_dir, parsed, options, seen)
        return
    line, hashes = _split_hashes(line, origin)
    _reject_local(line, origin)
    try:
        requirement = Requirement(line)
    except InvalidRequirement as exc:
        hint = ""
        if line.startswith(VCS_PREFIXES) or line.startswith(URL_SCHEMES):
            hint = " A URL needs a package name in front: write 'NAME @ URL'."
        raise RequirementsError(
            f"{origin}: {line!r} is not a valid requirement ({exc}).{hint} Fix the line or "
            f"remove it."
        ) from exc
    if requirement.url:
        _reject_local(requirement.url, origin, line)
    parsed.append(RequirementLine(requirement, origin, line, keep, hashes))


def _split_hashes(line: str, origin: str) -> tuple[str, tuple[str, ...]]:
    """Split ``NAME==1.0 --hash=sha256:...`` into the requirement and its sorted hashes.

    ``--hash`` is the only per-requirement option kept; pip then installs in hash-checking
    mode inside the image, as it would here.
    """
    parts = re.split(r"\s+(?=--)", line)
    hashes: list[str] = []
    for option in parts[1:]:
        name, value = _split_option(option)
        if name != "--hash" or not value:
            raise RequirementsError(
                f"{origin}: {line!r}: the per-requirement option {option!r} is not supported in "
                f"image builds; only --hash is. Remove the option."
            )
        hashes.append(f"--hash={value}")
    return parts[0], tuple(sorted(hashes))


def _strip_comment(text: str) -> str:
    """Remove a ``#`` comment: at line start, or after whitespace as pip reads it."""
    stripped = text.strip()
    if stripped.startswith("#"):
        return ""
    return re.split(r"\s+#", stripped, maxsplit=1)[0].strip()


def _parse_option(line: str, origin: str, base_dir: Path | None,
                  parsed: list[RequirementLine], options: list[str], seen: set[Path]) -> None:
    name, value = _split_option(line)
    if name in ("-e", "--editable"):
        raise RequirementsError(
            f"{origin}: {line!r} is an editable install, which cannot be installed in a "
            f"container image (your code travels with each job instead). Remove the line; "
            f"list the package's own dependencies instead."
        )
    if name in ("-r", "--requirement"):
        _follow_requirement_file(value, origin, line, base_dir, parsed, options, seen)
        return
    if name in ("-c", "--constraint"):
        raise RequirementsError(
            f"{origin}: {line!r}: constraint files are not supported in image builds. Pin the "
            f"versions in the requirements themselves or remove the line."
        )
    if name in INDEX_OPTIONS:
        if not value.startswith(URL_SCHEMES):
            raise RequirementsError(
                f"{origin}: {line!r} points pip at {value!r}, which is not reachable from inside "
                f"a container image. Use an http(s) URL or remove the line."
            )
        options.append(f"{_long_option(name)} {value}")
        return
    if name in FLAG_OPTIONS and not value:
        options.append(name)
        return
    if name in VALUE_OPTIONS and value:
        options.append(f"{name} {value}")
        return
    raise RequirementsError(
        f"{origin}: the pip option {line!r} is not supported in image builds. Supported: "
        f"-r, --index-url, --extra-index-url, --find-links (URLs only), --pre, "
        f"--prefer-binary, --no-binary, --only-binary, --trusted-host. Remove the line."
    )


def _split_option(line: str) -> tuple[str, str]:
    """Split ``--name=value``, ``--name value`` or ``-rfile`` into (name, value)."""
    parts = re.split(r"[\s=]+", line, maxsplit=1)
    name = parts[0]
    value = parts[1].strip() if len(parts) > 1 else ""
    if len(name) > 2 and not name.startswith("--"):
        name, value = name[:2], name[2:]
    return name, value


def _long_option(name: str) -> str:
    return {"-i": "--index-url", "-f": "--find-links"}.get(name, name)


def _follow_requirement_file(value: str, origin: str, line: str, base_dir: Path | None,
                             parsed: list[RequirementLine], options: list[str],
                             seen: set[Path]) -> None:
    if not value:
        raise RequirementsError(f"{origin}: {line!r} names no file. Add the file name or remove "
                                f"the line.")
    if value.startswith(URL_SCHEMES):
        raise RequirementsError(
            f"{origin}: {line!r} includes a requirements file by URL, which kinetic does not "
            f"fetch. Copy its lines into your requirements or remove the line."
        )
    path = Path(value)
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    if not path.is_file():
        raise RequirementsError(
            f"{origin}: {line!r} includes {path}, which does not exist. Create the file, fix "
            f"the path, or remove the line."
        )
    _parse_file(path, parsed, options, seen)


def _reject_local(text: str, origin: str, line: str | None = None) -> None:
    """Raise when ``text`` (a line or a requirement's URL) names a file on this machine."""
    shown = line or text
    if text.startswith(URL_SCHEMES) or text.startswith(VCS_PREFIXES):
        return
    bare = "@" not in text
    local = (
        text.startswith(("file:", "./", "../", "/", "~", ".\\", "..\\"))
        or text in (".", "..")
        or re.match(r"^[A-Za-z]:[\\/]", text) is not None
        or (bare and ("/" in text or "\\" in text))
        or (bare and text.endswith((".whl", ".tar.gz", ".zip")))
    )
    if local:
        raise RequirementsError(
            f"{origin}: {shown!r} refers to a local path, which does not exist inside the "
            f"container image. Publish the package to an index and require it by name, "
            f"require it by URL ('NAME @ https://...'), or remove the line and ship the code "
            f"with your project."
        )


def _pyproject_dependencies(path: Path) -> list[str]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RequirementsError(f"{path} is not valid TOML ({exc}). Fix the file.") from exc
    project = data.get("project", {})
    if "dependencies" in project.get("dynamic", []):
        raise RequirementsError(
            f"{path} declares its dependencies as dynamic, which kinetic cannot read without "
            f"building the project. Add a requirements.txt or pass requirements=[...]."
        )
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise RequirementsError(f"{path}: [project.dependencies] must be a list of strings, got "
                                f"{dependencies!r}. Fix the file.")
    return dependencies


def _drop_accelerator_pins(parsed: list[RequirementLine],
                           family: str) -> tuple[list[RequirementLine], list[str]]:
    if family not in ("gpu", "tpu"):
        return parsed, []
    kept: list[RequirementLine] = []
    dropped: list[str] = []
    for line in parsed:
        if canonicalize_name(line.requirement.name) in ACCELERATOR_PACKAGES and not line.keep:
            dropped.append(f"{line.origin}: {line.text}")
        else:
            kept.append(line)
    if dropped:
        logger.warning(
            "dropped %d requirement(s) that would replace the %s image's own jax build: %s. "
            "End a line with '%s' to keep it.",
            len(dropped), family.upper(), "; ".join(dropped), KEEP_MARKER,
        )
    return kept, dropped


def _normalise(requirement: Requirement, hashes: tuple[str, ...] = ()) -> str:
    """Rewrite the name and extras in PEP 503 form (extras per PEP 685); packaging sorts
    extras and specifiers when it formats the result."""
    normalised = Requirement(str(requirement))
    normalised.name = canonicalize_name(normalised.name)
    normalised.extras = {canonicalize_name(extra) for extra in normalised.extras}
    return " ".join((str(normalised), *hashes))
