"""The benchmark rows: each measures one figure of kinetic and its physical floor.

For each row, ``describe_*`` returns the unmeasured Row (title, method, target) and
``measure_*`` fills in its figure and floor, medians in seconds. Figures that need kinetic run
in a child interpreter (``driver_kinetic.py``) or as a command, so that no row inherits
another's imports or state.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from bench.context import BENCH_DIR, Context
from bench.report import format_seconds
from bench.timing import (STARTUP_REPEAT_FACTOR, BenchError, Command, Row, Target, median,
                          run_driver, time_call, time_interleaved)

logger = logging.getLogger("bench")

MIB = 1024 ** 2
LOG_LINES = 200_000
RESULT_BYTES = 256 * MIB
LARGE_RESULT_BYTES = 1024 * MIB
READ_CHUNK = MIB
LINES_PER_SECOND_TARGET = 100_000



def _seconds(row: Row) -> str:
    return format_seconds(row.figure)


def _ratio(row: Row) -> str:
    return f"{row.ratio:.2f}x the floor"


def _above_floor(row: Row) -> str:
    return f"{format_seconds(row.figure - row.floor)} above the floor"


def _lines_per_second(row: Row) -> str:
    return (f"{row.extra['lines_per_second']:,.0f} lines/s, {row.extra['missing']} missing, "
            f"{row.extra['out_of_order']} out of order")


IMPORT_TARGET = Target("< 0.1 s", lambda row: row.figure < 0.1, _seconds)
CLI_TARGET = Target("< 0.3 s", lambda row: row.figure < 0.3, _seconds)
COLD_TARGET = Target("<= 3x floor", lambda row: row.figure <= 3 * row.floor, _ratio)
UNCHANGED_TARGET = Target("< 0.05 s", lambda row: row.figure < 0.05, _seconds)
CALL_TARGET = Target("< floor + 0.3 s", lambda row: row.figure - row.floor < 0.3, _above_floor)
LOGS_TARGET = Target(
    f">= {LINES_PER_SECOND_TARGET:,} lines/s, none missing",
    lambda row: row.extra["lines_per_second"] >= LINES_PER_SECOND_TARGET
    and row.extra["missing"] == 0 and row.extra["out_of_order"] == 0,
    _lines_per_second,
)
RESULT_TARGET = Target("<= 3x floor", lambda row: row.figure <= 3 * row.floor, _ratio)


def describe_import(ctx: Context) -> list[Row]:
    return [Row("import", "import", figure_method="`python -c \"import kinetic\"`, wall time",
                floor_method="`python -c pass`, wall time", target=IMPORT_TARGET)]


def _cli_command(ctx: Context) -> list[str]:
    script = Path(ctx.python).parent / "kinetic"
    if script.exists():
        return [str(script), "--help"]
    return [ctx.python, "-m", "kinetic.cli.main", "--help"]


def describe_cli(ctx: Context) -> list[Row]:
    argv = _cli_command(ctx)
    method = "`kinetic --help`, wall time, through the console script next to the interpreter"
    if argv[0] == ctx.python:
        method = "`python -m kinetic.cli.main --help`, wall time (no console script is installed)"
    return [Row("cli", "CLI", figure_method=method, floor_method="`python -c pass`, wall time",
                target=CLI_TARGET)]


def describe_packaging(ctx: Context) -> list[Row]:
    project = ctx.project
    size = f"{project.file_count} files, {project.total_bytes / MIB:.1f} MiB"
    cold = Row("package-cold", "package, cold",
               figure_method=f"`build_archive` + `build_payload` of the generated project ({size}), "
                          f"a fresh store each time",
               floor_method="reading and sha256-hashing the same files, 1 MiB reads",
               target=COLD_TARGET)
    unchanged = Row("package-unchanged", "package, unchanged",
                    figure_method="the same two calls again with the same store: the manifest "
                               "matches, the archive is reused",
                    floor_method="listing the project with `os.scandir` (recursive, `.git` "
                              "skipped) and a `stat` of each file",
                    target=UNCHANGED_TARGET)
    return [cold, unchanged]


def describe_call(ctx: Context) -> list[Row]:
    return [Row("call", "call overhead",
                figure_method="a trivial `@kinetic.run(backend=\"local\")` function, from the call "
                           "to the returned value",
                floor_method="`python -c pass` in a subprocess", target=CALL_TARGET)]


def _log_lines(ctx: Context) -> int:
    return max(100, int(LOG_LINES * ctx.options.scale))


def describe_logs(ctx: Context) -> list[Row]:
    return [Row("logs", "logs",
                figure_method=f"a local job printing {_log_lines(ctx):,} numbered lines, from "
                           f"submit to the last line received through "
                           f"`JobHandle.logs(follow=True)`; every line is counted and its "
                           f"number checked",
                floor_method="the same job printing to `/dev/null` (line buffered, like the "
                          "job's stdout), from submit to the end of its (empty) log stream",
                target=LOGS_TARGET)]


def _result_bytes(ctx: Context, nbytes: int) -> int:
    return max(8 * 1024, int(nbytes * ctx.options.scale) // 8 * 8)


def describe_result(ctx: Context, nbytes: int = RESULT_BYTES, key: str = "result") -> list[Row]:
    size = _format_bytes(_result_bytes(ctx, nbytes))
    return [Row(key, f"result, {size}",
                figure_method=f"a local job returning a {size} float64 numpy array, from the "
                           f"call to the returned value (includes filling the array in the "
                           f"job)",
                floor_method=f"`shutil.copyfile` of a {size} file holding the same bytes",
                target=RESULT_TARGET)]


def describe_large_result(ctx: Context) -> list[Row]:
    return describe_result(ctx, LARGE_RESULT_BYTES, key="result-large")


def measure_import(ctx: Context, rows: list[Row]) -> None:
    row, = rows
    commands = {
        "floor": ctx.kinetic_command([ctx.python, "-c", "pass"]),
        "figure": ctx.kinetic_command([ctx.python, "-c", "import kinetic"]),
    }
    _fill(row, time_interleaved(commands, repeat=_startup_repeat(ctx),
                                warmup=ctx.options.warmup))
    if ctx.comparison:
        _compare_command(ctx, row, [str(ctx.comparison.python), "-c", "import kinetic"])


def measure_cli(ctx: Context, rows: list[Row]) -> None:
    row, = rows
    commands = {
        "floor": ctx.kinetic_command([ctx.python, "-c", "pass"]),
        "figure": ctx.kinetic_command(_cli_command(ctx)),
    }
    _fill(row, time_interleaved(commands, repeat=_startup_repeat(ctx),
                                warmup=ctx.options.warmup))
    if ctx.comparison:
        _compare_command(ctx, row, [str(ctx.comparison.cli), "--help"])


def measure_packaging(ctx: Context, rows: list[Row]) -> None:
    """Fill the cold and unchanged packaging rows; one driver run measures both."""
    cold, unchanged = rows
    project = ctx.project
    measured = run_kinetic_driver(ctx, "package", "package", "--root", str(project.root),
                           "--work", str(ctx.scratch("package")))
    floor_cold = time_call(lambda: _read_and_hash(project.root, project.files),
                           repeat=ctx.options.repeat, warmup=ctx.options.warmup)
    floor_unchanged = time_call(lambda: _list_files(project.root), repeat=ctx.options.repeat,
                                warmup=ctx.options.warmup)
    _fill(cold, {"figure": measured["cold"], "floor": floor_cold})
    _fill(unchanged, {"figure": measured["unchanged"], "floor": floor_unchanged})
    cold.detail = (f"archive {measured['archive_bytes'] / MIB:.1f} MiB, "
                   f"{measured['archive_files']} files; payload "
                   f"{measured['payload_bytes']:,} bytes")

    if ctx.comparison:
        try:
            compared = run_driver(
                _comparison_driver_command(ctx, "--root", str(project.root),
                                           "--work", str(ctx.scratch("package-keras-kinetic"))),
                ctx.workspace / "package-keras-kinetic.json",
                timeout=ctx.options.driver_timeout_s)
        except BenchError as exc:
            logger.error("keras-kinetic packaging failed: %s", exc)
            cold.comparison_note = unchanged.comparison_note = f"failed: {exc}"
            return
        cold.comparison = unchanged.comparison = median(compared["samples"])
        cold.comparison_note = (f"zip {compared['archive_bytes'] / MIB:.1f} MiB, payload "
                                f"{compared['payload_bytes']:,} bytes")
        unchanged.comparison_note = "no cache: every call zips the project again"


def measure_call(ctx: Context, rows: list[Row]) -> None:
    row, = rows
    measured = run_kinetic_driver(ctx, "call", "call", "--root", str(ctx.jobs_root))
    floor = time_interleaved({"floor": ctx.kinetic_command([ctx.python, "-c", "pass"])},
                             repeat=_startup_repeat(ctx), warmup=ctx.options.warmup)
    _fill(row, {"figure": measured["samples"], "floor": floor["floor"]})
    row.detail = f"{(row.figure - row.floor) * 1000:.0f} ms above the floor"


def measure_logs(ctx: Context, rows: list[Row]) -> None:
    row, = rows
    lines = _log_lines(ctx)
    measured = run_kinetic_driver(ctx, "logs", "logs", "--root", str(ctx.jobs_root),
                           "--lines", str(lines))
    _fill(row, {"figure": measured["samples"], "floor": measured["floor"]})
    missing = sum(measured["missing"])
    out_of_order = sum(measured["out_of_order"])
    row.extra.update(lines=lines, lines_per_second=lines / row.figure, missing=missing,
                     out_of_order=out_of_order)
    row.detail = (f"{lines / row.figure:,.0f} lines/s; {missing} missing and {out_of_order} "
                  f"out of order over {len(measured['missing'])} runs")


def measure_result(ctx: Context, rows: list[Row], nbytes: int = RESULT_BYTES) -> None:
    row, = rows
    nbytes = _result_bytes(ctx, nbytes)
    measured = run_kinetic_driver(ctx, row.key, "result", "--root", str(ctx.jobs_root),
                           "--nbytes", str(nbytes), "--work", str(ctx.scratch(row.key)))
    _fill(row, {"figure": measured["samples"], "floor": measured["floor"]})
    fill = median(measured["fill"])
    row.detail = (f"filling the array takes {format_seconds(fill)} in a warm process; "
                  f"without it, {format_seconds(row.figure - fill)} = "
                  f"{(row.figure - fill) / row.floor:.2f}x the floor")


def measure_large_result(ctx: Context, rows: list[Row]) -> None:
    measure_result(ctx, rows, LARGE_RESULT_BYTES)


def _compare_command(ctx: Context, row: Row, argv: list[str]) -> None:
    """Time ``argv`` in the keras-kinetic venv into ``row.comparison``; note a failure."""
    assert ctx.comparison is not None
    try:
        samples = time_interleaved({"comparison": ctx.comparison.command(argv, ctx.workspace)},
                                   repeat=ctx.options.repeat, warmup=ctx.options.warmup)
    except BenchError as exc:
        logger.error("keras-kinetic %s failed: %s", row.key, exc)
        row.comparison_note = f"failed: {exc}"
        return
    row.comparison = median(samples["comparison"])


def _fill(row: Row, samples: dict[str, list[float]]) -> Row:
    row.samples = samples["figure"]
    row.figure = median(row.samples)
    row.floor_samples = samples["floor"]
    row.floor = median(row.floor_samples)
    return row


def run_kinetic_driver(ctx: Context, name: str, mode: str, *arguments: str,
                env: dict[str, str] | None = None, warmup: int | None = None,
                timeout: float | None = None) -> dict:
    """Run ``driver_kinetic.py MODE`` and return its measurements; ``name`` names its JSON.

    ``env`` replaces kinetic's environment and ``warmup`` the run's warm-up count.
    """
    output = ctx.workspace / f"{name}.json"
    command = ctx.kinetic_command([
        ctx.python, str(BENCH_DIR / "driver_kinetic.py"), mode, "--json", str(output),
        "--repeat", str(ctx.options.repeat),
        "--warmup", str(ctx.options.warmup if warmup is None else warmup), *arguments,
    ])
    if env is not None:
        command = Command(command.argv, env, command.cwd)
    return run_driver(command, output, timeout=timeout or ctx.options.driver_timeout_s)


def _comparison_driver_command(ctx: Context, *arguments: str) -> Command:
    assert ctx.comparison is not None
    return ctx.comparison.command([
        str(ctx.comparison.python), str(BENCH_DIR / "driver_keras_kinetic.py"),
        "--json", str(ctx.workspace / "package-keras-kinetic.json"),
        "--repeat", str(ctx.options.repeat), "--warmup", str(ctx.options.warmup), *arguments,
    ], ctx.workspace)


def _read_and_hash(root: Path, files: tuple[str, ...]) -> None:
    for relative in files:
        digest = hashlib.sha256()
        with open(root / relative, "rb") as file:
            while chunk := file.read(READ_CHUNK):
                digest.update(chunk)


def _list_files(root: Path) -> int:
    count = 0
    folders = [root]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != ".git":
                        folders.append(Path(entry.path))
                else:
                    entry.stat(follow_symlinks=False)
                    count += 1
    return count


def _format_bytes(nbytes: int) -> str:
    if nbytes >= 1024 ** 3 and nbytes % 1024 ** 3 == 0:
        return f"{nbytes // 1024 ** 3} GiB"
    if nbytes >= MIB:
        return f"{nbytes / MIB:g} MiB"
    return f"{nbytes / 1024:g} KiB"


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


def _startup_repeat(ctx: Context) -> int:
    """Runs per figure for commands that take well under a second.

    Process start times vary by tens of milliseconds from run to run, so these rows take
    STARTUP_REPEAT_FACTOR times as many samples as the others for a stable median.
    """
    return ctx.options.repeat * STARTUP_REPEAT_FACTOR

