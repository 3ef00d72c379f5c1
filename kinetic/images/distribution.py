"""Putting the client's own kinetic into the image, so the runner matches the client.

Two cases:

- kinetic runs from a source tree (a checkout, or an editable install of one): a wheel is
  built from that tree with ``pip wheel`` and installed in the image. Its identity in the image
  tag is the version plus a hash of the package's source files, so any edit to kinetic itself
  leads to a new image.
- kinetic is installed from a wheel: its installed files (package and ``.dist-info``) are copied
  into the image, and the requirements from its metadata are installed there. Its identity is
  the version.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import kinetic
from kinetic.errors import BuildError

logger = logging.getLogger("kinetic.images")

DISTRIBUTION_NAME = "kinetic-launcher"
_SKIPPED_PARTS = {"__pycache__"}
_SKIPPED_DIST_INFO = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


@dataclass(frozen=True)
class KineticDistribution:
    """The origin of the running kinetic.

    ``source_root`` is the source tree holding ``pyproject.toml`` (None when installed from a
    wheel); ``identity`` is what the image tag hashes.
    """

    version: str
    package_dir: Path
    source_root: Path | None
    identity: str


@dataclass(frozen=True)
class StagedKinetic:
    """kinetic's files in a build context and how the template installs them.

    ``pip_arguments`` are added to the image's ``pip install``; ``site_packages_dir``, when
    set, is a context folder copied into the image's site-packages.
    """

    pip_arguments: tuple[str, ...]
    site_packages_dir: str | None = None


def locate_kinetic() -> KineticDistribution:
    """Find the running kinetic and compute its identity."""
    package_dir = Path(kinetic.__file__).resolve().parent
    version = kinetic.__version__
    candidate = package_dir.parent
    if _is_source_tree(candidate):
        digest = _hash_tree([package_dir, candidate / "templates", candidate / "pyproject.toml"])
        return KineticDistribution(version, package_dir, candidate, f"{version}+src.{digest[:16]}")
    return KineticDistribution(version, package_dir, None, version)


def _is_source_tree(folder: Path) -> bool:
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return False
    return re.search(rf'^name\s*=\s*"{DISTRIBUTION_NAME}"', pyproject.read_text(),
                     re.MULTILINE) is not None


def _hash_tree(paths: list[Path]) -> str:
    """sha256 over relative paths and contents of every file under ``paths``, in sorted order."""
    digest = hashlib.sha256()
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if _SKIPPED_PARTS & set(path.parts) or path.suffix == ".pyc":
                continue
            digest.update(path.relative_to(root.parent).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def stage_kinetic(distribution: KineticDistribution, context_dir: Path) -> StagedKinetic:
    """Write kinetic into ``context_dir/kinetic/`` and say how to install it."""
    target = context_dir / "kinetic"
    target.mkdir(parents=True, exist_ok=True)
    if distribution.source_root is not None:
        wheel = _build_wheel(distribution.source_root, target)
        return StagedKinetic(pip_arguments=(f"/kinetic-build/kinetic/{wheel.name}",))
    return _copy_installed(distribution, target)


def _build_wheel(source_root: Path, target: Path) -> Path:
    """Build kinetic's wheel from ``source_root`` into ``target`` with pip.

    pip builds without isolation when hatchling (the build backend) is importable here, so no
    index is needed; otherwise pip fetches hatchling into an isolated build environment.
    """
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(target)]
    try:
        import hatchling  # noqa: F401
        command.append("--no-build-isolation")
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="kinetic-wheel-") as scratch:
        # Building from a copy keeps pip's build folders out of the source tree.
        copy = Path(scratch) / "src"
        shutil.copytree(source_root / "kinetic", copy / "kinetic",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copytree(source_root / "templates", copy / "templates")
        shutil.copy2(source_root / "pyproject.toml", copy / "pyproject.toml")
        for name in ("README.md", "LICENSE"):
            if (source_root / name).is_file():
                shutil.copy2(source_root / name, copy / name)
            elif name == "README.md":
                # pyproject.toml names README.md as the readme; hatchling requires it to exist.
                (copy / name).write_text("kinetic\n")
        logger.info("building the kinetic wheel from %s", source_root)
        completed = subprocess.run([*command, str(copy)], capture_output=True, text=True)
    if completed.returncode != 0:
        raise BuildError(
            f"building the kinetic wheel from {source_root} failed (exit code "
            f"{completed.returncode}):\n{completed.stderr.strip()[-3000:]}\nInstall hatchling "
            f"('pip install hatchling') or install kinetic from a wheel, then retry."
        )
    wheels = sorted(target.glob("kinetic_launcher-*.whl"))
    if not wheels:
        raise BuildError(f"pip wheel produced no kinetic wheel in {target}; its output was:\n"
                         f"{completed.stdout}{completed.stderr}")
    return wheels[-1]


def _copy_installed(distribution: KineticDistribution, target: Path) -> StagedKinetic:
    try:
        installed = metadata.distribution(DISTRIBUTION_NAME)
    except metadata.PackageNotFoundError as exc:
        raise BuildError(
            f"kinetic at {distribution.package_dir} is neither a source tree nor an installed "
            f"{DISTRIBUTION_NAME} distribution, so it cannot be put into the image; install it "
            f"with 'pip install {DISTRIBUTION_NAME}'"
        ) from exc
    site_dir = target / "site-packages"
    shutil.copytree(distribution.package_dir, site_dir / "kinetic",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for file in installed.files or []:
        if not file.parts[0].endswith(".dist-info") or file.name in _SKIPPED_DIST_INFO:
            continue
        destination = site_dir / Path(*file.parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(str(installed.locate_file(file))), destination)
    requirements = [r for r in (installed.requires or []) if "extra ==" not in r]
    (target / "requirements.txt").write_text("".join(r + "\n" for r in requirements))
    return StagedKinetic(pip_arguments=("-r", "/kinetic-build/kinetic/requirements.txt"),
                         site_packages_dir="kinetic/site-packages")
