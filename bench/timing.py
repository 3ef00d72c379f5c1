"""Timing helpers and the result of one benchmark row."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

STDERR_TAIL_CHARS = 2_000

# Commands that take well under a second (process starts) get this many times the --repeat
# runs, because their wall time varies by tens of milliseconds from run to run.
STARTUP_REPEAT_FACTOR = 4


class BenchError(Exception):
    """A benchmark step failed; the message names the command and the cause."""


@dataclass(frozen=True)
class Command:
    """A command line with the environment and working directory it runs in."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path

    def shown(self) -> str:
        return " ".join(self.argv)


@dataclass(frozen=True)
class Target:
    """A goal for one row: its text, a check of a measured row against it, and the row's
    measurement in the target's terms (seconds, a ratio, lines per second)."""

    text: str
    check: Callable[["Row"], bool]
    measured: Callable[["Row"], str]


@dataclass
class Row:
    """One benchmark row: medians in seconds, how they were measured, and the target.

    ``skipped`` is the reason a row was not measured, and ``failed`` the error of a row whose
    measurement raised.
    """

    key: str
    title: str
    figure_method: str
    floor_method: str
    figure: float | None = None
    floor: float | None = None
    samples: list[float] = field(default_factory=list)
    floor_samples: list[float] = field(default_factory=list)
    detail: str = ""
    target: Target | None = None
    skipped: str | None = None
    failed: str | None = None
    comparison: float | None = None
    comparison_note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.figure is None or not self.floor:
            return None
        return self.figure / self.floor

    @property
    def comparison_ratio(self) -> float | None:
        if self.comparison is None or not self.floor:
            return None
        return self.comparison / self.floor

    @property
    def met(self) -> bool | None:
        """Whether the target is met; None without a target or a measurement."""
        if self.target is None or self.figure is None or self.failed or self.skipped:
            return None
        return self.target.check(self)


def median(samples: list[float]) -> float:
    if not samples:
        raise BenchError("no samples were measured; --repeat must be at least 1")
    return statistics.median(samples)


def run_checked(command: Command, *, timeout: float | None = None,
                capture_stdout: bool = False) -> subprocess.CompletedProcess:
    """Run ``command``; raise BenchError with its stderr when it fails or times out."""
    try:
        completed = subprocess.run(
            command.argv, env=command.env, cwd=command.cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE, timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"`{command.shown()}` timed out after {timeout:g} s") from exc
    except OSError as exc:
        raise BenchError(f"cannot run `{command.shown()}`: {exc}") from exc
    if completed.returncode != 0:
        stderr = completed.stderr.decode(errors="replace")[-STDERR_TAIL_CHARS:]
        raise BenchError(f"`{command.shown()}` exited with code {completed.returncode}:\n"
                         f"{stderr}")
    return completed


def time_command(command: Command) -> float:
    """Wall time in seconds of one run of ``command``, from spawn to exit."""
    start = time.perf_counter()
    run_checked(command)
    return time.perf_counter() - start


def time_interleaved(commands: dict[str, Command], *, repeat: int,
                     warmup: int) -> dict[str, list[float]]:
    """Time each command ``repeat`` times after ``warmup`` untimed runs, in turn.

    Running the commands round-robin spreads slow drifts of the machine (page cache, CPU
    frequency, other load) over all of them instead of over one.
    """
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for iteration in range(warmup + repeat):
        for name, command in commands.items():
            elapsed = time_command(command)
            if iteration >= warmup:
                samples[name].append(elapsed)
    return samples


def time_call(function: Callable[[], object], *, repeat: int, warmup: int) -> list[float]:
    """Time ``function()`` in this process ``repeat`` times after ``warmup`` untimed calls."""
    samples = []
    for iteration in range(warmup + repeat):
        start = time.perf_counter()
        function()
        elapsed = time.perf_counter() - start
        if iteration >= warmup:
            samples.append(elapsed)
    return samples


def run_driver(command: Command, output: Path, *, timeout: float) -> dict:
    """Run a driver script that writes its measurements as JSON to ``output``; return them."""
    output.unlink(missing_ok=True)
    run_checked(command, timeout=timeout)
    try:
        return json.loads(output.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"`{command.shown()}` exited normally but wrote no valid JSON to "
                         f"{output}: {exc}") from exc


def child_environment(base: dict[str, str], **overrides: str) -> dict[str, str]:
    """Copy ``base`` without its KINETIC_* settings and apply ``overrides``."""
    env = {name: value for name, value in base.items() if not name.startswith("KINETIC_")}
    env.update(overrides)
    return env


def prepend_path(value: str, existing: str | None) -> str:
    return value if not existing else value + os.pathsep + existing
