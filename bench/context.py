"""The options, scratch folder, generated projects and child-process environments that every
benchmark row needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.project import GeneratedProject
from bench.timing import BenchError, Command, child_environment, prepend_path, run_checked

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
KERAS_KINETIC_VERSION = "0.0.4"
VENV_HELP = (f"python -m venv /tmp/kk && /tmp/kk/bin/pip install "
             f"keras-kinetic=={KERAS_KINETIC_VERSION}")


@dataclass(frozen=True)
class Options:
    """The harness's command-line options, resolved."""

    repeat: int = 5
    warmup: int = 1
    scale: float = 1.0
    large: bool = False
    compare_venv: Path | None = None
    output: Path = REPO_ROOT / "docs" / "benchmarks.md"
    rows: tuple[str, ...] = ()
    skipped_rows: tuple[str, ...] = ()
    quick: bool = False
    driver_timeout_s: float = 600.0
    docker_timeout_s: float = 900.0
    command_line: str = "python -m bench"


@dataclass(frozen=True)
class Comparison:
    """The keras-kinetic virtual environment and how to run its interpreter without network.

    ``prefix`` is ``["unshare", "--net"]`` where this process may create a network namespace
    (root on Linux). The child then has only a loopback interface, which is down. Elsewhere
    ``prefix`` is empty, and the driver's audit hook is the only check.
    """

    venv: Path
    python: Path
    cli: Path
    version: str
    prefix: tuple[str, ...]
    env: dict[str, str]

    def command(self, argv: list[str], cwd: Path) -> Command:
        return Command([*self.prefix, *argv], self.env, cwd)


@dataclass
class Context:
    """Shared state of one harness run."""

    options: Options
    workspace: Path
    kinetic_env: dict[str, str]
    project: GeneratedProject
    jobs_root: Path
    comparison: Comparison | None = None

    @property
    def python(self) -> str:
        return sys.executable

    def kinetic_command(self, argv: list[str]) -> Command:
        return Command(argv, self.kinetic_env, self.workspace)

    def scratch(self, name: str) -> Path:
        """Create an empty folder ``name`` in the workspace (emptying it if it exists)."""
        path = self.workspace / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


def kinetic_environment(workspace: Path) -> dict[str, str]:
    """Return the environment of every process that runs kinetic.

    It has a store, a cache folder and a profile path in the workspace, no KINETIC_* setting
    of the caller, and this repository first on the Python path.
    """
    return child_environment(
        dict(os.environ),
        KINETIC_STORE=str(workspace / "store"),
        KINETIC_CACHE_DIR=str(workspace / "cache"),
        KINETIC_CONFIG=str(workspace / "no-profile.toml"),
        PYTHONPATH=prepend_path(str(REPO_ROOT), os.environ.get("PYTHONPATH")),
    )


def open_comparison(venv: Path, workspace: Path) -> Comparison:
    """Check the keras-kinetic venv at ``venv`` and return how to run it.

    Raises BenchError naming what is missing and how to create the venv.
    """
    venv = venv.expanduser().resolve()
    python = venv / "bin" / "python"
    cli = venv / "bin" / "kinetic"
    if not python.exists():
        raise BenchError(f"--compare-kinetic {venv}: {python} does not exist; create the venv "
                         f"with `{VENV_HELP}`")
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("KINETIC_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(VIRTUAL_ENV=str(venv), PATH=prepend_path(str(venv / "bin"), env.get("PATH")))
    probe = Command([str(python), "-c",
                     "import importlib.metadata as m, kinetic.utils.packager;"
                     "print(m.version('keras-kinetic'))"], env, workspace)
    try:
        version = run_checked(probe, capture_stdout=True, timeout=120).stdout.decode().strip()
    except BenchError as exc:
        raise BenchError(f"--compare-kinetic {venv}: keras-kinetic is not importable there "
                         f"({exc}); create the venv with `{VENV_HELP}`") from exc
    if version != KERAS_KINETIC_VERSION:
        raise BenchError(f"--compare-kinetic {venv} has keras-kinetic {version}; the "
                         f"comparison is written for {KERAS_KINETIC_VERSION}: `{VENV_HELP}`")
    if not cli.exists():
        raise BenchError(f"--compare-kinetic {venv}: the keras-kinetic command {cli} is "
                         f"missing; reinstall it with `{VENV_HELP}`")
    return Comparison(venv, python, cli, version, _network_isolation(workspace), env)


def _network_isolation(workspace: Path) -> tuple[str, ...]:
    prefix = ("unshare", "--net")
    if shutil.which("unshare") is None:
        return ()
    try:
        completed = subprocess.run([*prefix, "true"], cwd=workspace, capture_output=True,
                                   timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return prefix if completed.returncode == 0 else ()


def read_services_env(path: Path) -> dict[str, str]:
    """Parse the ``export NAME=VALUE`` lines of a file written by ``.ci/services.sh``."""
    values: dict[str, str] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export "):].partition("=")
            values[name.strip()] = value.strip().strip("'\"")
    return values
