"""The machine description, the terminal table and the markdown page of a benchmark run."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench.context import KERAS_KINETIC_VERSION, REPO_ROOT, VENV_HELP, Context
from bench.timing import STARTUP_REPEAT_FACTOR, Row


@dataclass(frozen=True)
class Machine:
    """The machine, software versions and load of one run."""

    cpu: str
    cores: int
    memory_gib: float
    system: str
    python: str
    versions: dict[str, str]
    commit: str
    date: str
    load_before: float | None
    load_after: float | None

    def lines(self) -> list[str]:
        versions = ", ".join(f"{name} {version}" for name, version in self.versions.items())
        return [
            f"CPU: {self.cpu}, {self.cores} cores available to this process",
            f"Memory: {self.memory_gib:.1f} GiB",
            f"System: {self.system}",
            f"Python: {self.python}",
            f"Versions: {versions}",
            f"Source: {self.commit}",
            f"Date: {self.date}",
            f"Load average over 1 minute: {_format_load(self.load_before)} before the run "
            f"(near 0 on an idle machine), {_format_load(self.load_after)} after it (which "
            f"includes the harness's own processes)",
        ]


def load_average() -> float | None:
    """Return the 1-minute load average, or None where the system does not report one."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _format_load(load: float | None) -> str:
    return "unknown" if load is None else f"{load:.2f}"


def describe_machine(ctx: Context, load_before: float | None) -> Machine:
    versions = {name: _version(name) for name in ("kinetic-launcher", "cloudpickle", "numpy")}
    if ctx.comparison:
        versions["keras-kinetic"] = f"{ctx.comparison.version} (in {ctx.comparison.venv})"
    return Machine(
        cpu=_cpu_model(),
        cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else
        os.cpu_count() or 0,
        memory_gib=_memory_bytes() / 1024 ** 3,
        system=f"{_os_name()}, kernel {platform.release()}, {platform.machine()}",
        python=f"{platform.python_implementation()} {platform.python_version()} "
               f"({sys.executable})",
        versions=versions,
        commit=_commit(),
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        load_before=load_before,
        load_after=load_average(),
    )


def format_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def format_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def format_met(row: Row) -> str:
    if row.met is None:
        return "—"
    return "yes" if row.met else "**no**"


def print_table(rows: list[Row], ctx: Context) -> None:
    """Print the results as a table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="kinetic launcher overhead (medians)")
    for column in ("row", "kinetic", "floor", "ratio", "target", "met"):
        table.add_column(column, justify="left" if column in ("row", "target") else "right")
    if ctx.comparison:
        table.add_column(f"keras-kinetic {ctx.comparison.version}", justify="right")
        table.add_column("its ratio", justify="right")
    table.add_column("notes")
    for row in rows:
        cells = [row.title, *_measured_cells(row)]
        if ctx.comparison:
            cells += [format_seconds(row.comparison), format_ratio(row.comparison_ratio)]
        cells.append(_notes(row))
        table.add_row(*[cell.replace("**", "") for cell in cells])
    Console(width=200).print(table)


def write_markdown(rows: list[Row], ctx: Context, machine: Machine) -> str:
    """Return the benchmark page: machine, results, missed targets, method."""
    options = ctx.options
    lines = [
        "# Benchmarks",
        "",
        "How much time kinetic adds on top of the physical work a job needs: each row times "
        "one stage of a job and, next to it, the cheapest operation that does the same work "
        "(the floor). This page is written by `python -m bench`; rerun it instead of editing "
        "the page.",
        "",
        "## Machine and run",
        "",
        *[f"- {line}" for line in machine.lines()],
        f"- Command: `{options.command_line}`",
        f"- Each figure is the median of {options.repeat} timed run(s) after "
        f"{options.warmup} warm-up run(s), and of {options.repeat * STARTUP_REPEAT_FACTOR} "
        f"timed runs for the import and CLI rows and the call row's floor, whose process "
        f"start times vary by tens of milliseconds. Ratio = figure / floor.",
    ]
    if options.scale != 1.0:
        lines.append(f"- Sizes and line counts are scaled by {options.scale:g}; the targets "
                     f"are meant for the full sizes.")
    lines += [
        f"- Generated project: {ctx.project.file_count} files, "
        f"{ctx.project.total_bytes:,} bytes ({ctx.project.total_bytes / 1024 ** 2:.1f} MiB), "
        f"plus a `.git` folder of {ctx.project.git_files} files and "
        f"{ctx.project.git_bytes:,} bytes that packaging must skip.",
        "",
        "## Results",
        "",
        *_results_table(rows, ctx),
        "",
        "## Targets missed",
        "",
        *_missed(rows),
        "",
        "## How each row is measured",
        "",
        "| row | figure | floor |",
        "|---|---|---|",
        *[f"| {row.title} | {row.figure_method} | {row.floor_method} |" for row in rows],
        "",
        *_method_notes(ctx),
        "",
        *_samples_section(rows),
        "",
        *_comparison_section(ctx),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _measured_cells(row: Row) -> list[str]:
    if row.skipped or row.failed:
        return ["—", "—", "—", row.target.text if row.target else "—", "—"]
    return [format_seconds(row.figure), format_seconds(row.floor), format_ratio(row.ratio),
            row.target.text if row.target else "—", format_met(row)]


def _notes(row: Row) -> str:
    if row.skipped:
        return f"skipped: {row.skipped}"
    if row.failed:
        return f"failed: {row.failed.strip().splitlines()[0]}"
    notes = [row.detail] if row.detail else []
    if row.comparison_note:
        notes.append(f"keras-kinetic: {row.comparison_note}")
    return "; ".join(notes)


def _results_table(rows: list[Row], ctx: Context) -> list[str]:
    header = ["row", "kinetic", "floor", "ratio", "target", "met"]
    if ctx.comparison:
        header += [f"keras-kinetic {ctx.comparison.version}", "its ratio"]
    header.append("notes")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.title, *_measured_cells(row)]
        if ctx.comparison:
            cells += [format_seconds(row.comparison), format_ratio(row.comparison_ratio)]
        cells.append(_notes(row).replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


# Profiling findings behind a missed target, keyed by row title prefix and shown under the miss.
MISS_ANALYSIS = {
    "result": (
        "The figure includes the job allocating and filling a new array in a fresh runner "
        "process, which the floor does not. On this VM that first touch of fresh memory is slow "
        "and noisy: allocating and filling a new 256 MiB array in a fresh interpreter took "
        "0.04 s, 0.43 s and 0.57 s in three runs (2026-12-04), while the fill column above is "
        "measured in a warm process. The launcher's own work is writing the value file (pickle "
        "protocol 5, the array's memory written directly: 0.05 to 0.16 s for 256 MiB here) and "
        "memory-mapping it in the client (about 1 ms, no copy)."
    ),
}


def _missed(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        if row.met is False:
            lines.append(f"- **{row.title}**: {row.target.measured(row)}, against a target of "
                         f"{row.target.text} (figure {format_seconds(row.figure)}, floor "
                         f"{format_seconds(row.floor)}).")
            analysis = next((text for prefix, text in MISS_ANALYSIS.items()
                             if row.title.startswith(prefix)), None)
            if analysis:
                lines.append(f"  {analysis}")
        elif row.failed:
            lines.append(f"- **{row.title}** failed, so its target is unchecked:\n\n"
                         f"  ```\n  " + row.failed.strip().replace("\n", "\n  ") + "\n  ```")
        elif row.skipped:
            lines.append(f"- **{row.title}** was skipped, so its target is unchecked: "
                         f"{row.skipped}.")
    return lines or ["None: every measured row meets its target."]


def _method_notes(ctx: Context) -> list[str]:
    return [
        f"Every command runs with the interpreter that runs the harness (`{sys.executable}`), "
        "called by its full path so that no shim (pyenv, conda) adds its own start time. "
        "Commands run from a scratch folder, with `KINETIC_STORE` and `KINETIC_CACHE_DIR` "
        "pointing into it and this repository first on `PYTHONPATH`. The wall time of a "
        "command spans spawn to exit. In-process figures (packaging, calls) are timed with "
        "`time.perf_counter` in a fresh interpreter per row (`bench/driver_kinetic.py`). "
        "Files are read from the page cache, because the project is generated just before "
        "and nothing is dropped between runs.",
    ]


def _samples_section(rows: list[Row]) -> list[str]:
    """List every timed sample, so that the spread behind each median is visible."""
    lines = [
        "## Samples",
        "",
        "Every timed run behind the medians above, in the order they ran.",
        "",
        "| row | figure | floor |",
        "|---|---|---|",
    ]
    for row in rows:
        if row.samples:
            lines.append(f"| {row.title} | {_format_samples(row.samples)} | "
                         f"{_format_samples(row.floor_samples)} |")
    return lines


def _format_samples(samples: list[float]) -> str:
    return ", ".join(format_seconds(sample) for sample in samples) or "—"


def _comparison_section(ctx: Context) -> list[str]:
    lines = [
        f"## Comparison with keras-kinetic {KERAS_KINETIC_VERSION}",
        "",
        f"keras-kinetic {KERAS_KINETIC_VERSION} installs a top-level package that is also "
        "named `kinetic`, so it is measured in its own virtual environment:",
        "",
        "```sh",
        VENV_HELP,
        "python -m bench --compare-kinetic /tmp/kk",
        "```",
        "",
        "With `--compare-kinetic VENV`, the import, CLI and packaging rows also time "
        "keras-kinetic on the same project: `python -c \"import kinetic\"` and `kinetic "
        "--help` of that venv, and `bench/driver_keras_kinetic.py` run by that venv's "
        "interpreter. The driver times what keras-kinetic's `_prepare_artifacts` does for a "
        "call without `Data` arguments: `kinetic.utils.packager.save_payload`, "
        "`kinetic.utils.packager.zip_working_dir` (ZIP_DEFLATED, skipping `.git` and "
        "`__pycache__`) and a sha256 of each file. keras-kinetic has no archive cache, so its "
        "unchanged figure is its cold figure.",
        "",
        "No timed keras-kinetic run may touch the network. Where the harness may create a "
        "network namespace (root on Linux), every keras-kinetic process runs under `unshare "
        "--net`, with only a loopback interface that is down. In addition, the packaging "
        "driver installs an audit hook that fails the run on any socket connection or name "
        "lookup.",
    ]
    if ctx.comparison is None:
        lines += ["", "This run did not include the comparison (no `--compare-kinetic`)."]
    elif not ctx.comparison.prefix:
        lines += ["", "In this run `unshare --net` was not available, so the audit hook was "
                      "the only network check."]
    return lines


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def _commit() -> str:
    """Return the repository's commit, and whether the working tree differs from it."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=30)
        status = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git is not available)"
    if commit.returncode != 0:
        return "unknown (not a git checkout)"
    dirty = " with uncommitted changes" if status.stdout.strip() else ""
    return f"commit {commit.stdout.strip()}{dirty}"
