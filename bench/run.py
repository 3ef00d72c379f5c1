"""The harness: parse options, generate the projects, measure each row, write the report.

``python -m bench`` exits with 0 when every selected row was measured or skipped for a stated
reason (missed targets included), 1 when a row failed, and 2 for invalid options.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.context import (REPO_ROOT, Context, Options, kinetic_environment, open_comparison)
from bench.project import ProjectSpec, generate_jobs_project, generate_project
from bench.report import describe_machine, load_average, print_table, write_markdown
from bench.registry import ROWS
from bench.timing import BenchError, Row

logger = logging.getLogger("bench")

QUICK_REPEAT = 3
MIN_REPEAT = 5


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time kinetic's launcher overhead against its physical floor and write "
                    "docs/benchmarks.md.",
    )
    parser.add_argument("--repeat", type=int, default=None, metavar="N",
                        help=f"timed runs per figure; the median is reported "
                             f"(default {MIN_REPEAT}, {QUICK_REPEAT} with --quick)")
    parser.add_argument("--warmup", type=int, default=1, metavar="N",
                        help="untimed runs before the timed ones (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_REPEAT} timed runs per figure instead of {MIN_REPEAT}")
    parser.add_argument("--large", action="store_true",
                        help="add the row returning a 1 GiB array")
    parser.add_argument("--compare-kinetic", type=Path, metavar="VENV",
                        help="virtual environment with keras-kinetic 0.0.4; adds its import, "
                             "CLI and packaging times")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md",
                        metavar="PATH", help="markdown report to write "
                                             "(default docs/benchmarks.md)")
    parser.add_argument("--scale", type=float, default=1.0, metavar="FACTOR",
                        help="multiply file sizes, log lines and array sizes by FACTOR; for "
                             "smoke tests (default 1, the sizes the targets are meant for)")
    parser.add_argument("--only", default="", metavar="ROWS",
                        help=f"comma-separated rows to measure, of: {', '.join(ROWS)}")
    parser.add_argument("--skip", default="", metavar="ROWS",
                        help="comma-separated rows to leave out; they are listed as skipped")
    args = parser.parse_args(argv)

    repeat = MIN_REPEAT
    if args.repeat is not None:
        repeat = args.repeat
    elif args.quick:
        repeat = QUICK_REPEAT
    if repeat < 1 or args.warmup < 0:
        parser.error(f"--repeat must be at least 1 and --warmup at least 0, got {repeat} and "
                     f"{args.warmup}")
    if not 0 < args.scale <= 10:
        parser.error(f"--scale must be in (0, 10], got {args.scale}")
    only = _row_names(parser, "--only", args.only)
    skipped = _row_names(parser, "--skip", args.skip)
    return Options(
        repeat=repeat, warmup=args.warmup, scale=args.scale, large=args.large,
        compare_venv=args.compare_kinetic, output=args.output.resolve(), rows=only,
        skipped_rows=skipped, quick=args.quick,
        command_line=shlex.join(["python", "-m", "bench", *argv]),
    )


def _row_names(parser: argparse.ArgumentParser, flag: str, text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in ROWS]
    if unknown:
        parser.error(f"{flag}: unknown row(s) {', '.join(unknown)}; rows: {', '.join(ROWS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    options = parse_options(sys.argv[1:] if argv is None else argv)
    workspace = Path(tempfile.mkdtemp(prefix="kinetic-bench-"))
    try:
        return _run(options, workspace)
    except BenchError as exc:
        logger.error("%s", exc)
        return 2
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def _run(options: Options, workspace: Path) -> int:
    os.environ["KINETIC_STORE"] = str(workspace / "store")
    os.environ["KINETIC_CACHE_DIR"] = str(workspace / "cache")
    comparison = open_comparison(options.compare_venv, workspace) \
        if options.compare_venv else None

    started = time.perf_counter()
    load_before = load_average()
    logger.info("generating the benchmark project in %s", workspace)
    project = generate_project(workspace / "project", ProjectSpec().scaled(options.scale))
    jobs_root = generate_jobs_project(workspace / "jobs")
    env = kinetic_environment(workspace)
    env["KINETIC_PROJECT_ROOT"] = str(jobs_root)
    ctx = Context(options, workspace, env, project, jobs_root, comparison)

    rows = _measure_rows(ctx)
    print_table(rows, ctx)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(write_markdown(rows, ctx, describe_machine(ctx, load_before)))
    logger.info("wrote %s in %.0f s", options.output, time.perf_counter() - started)
    return 1 if any(row.failed for row in rows) else 0


def _measure_rows(ctx: Context) -> list[Row]:
    measured: list[Row] = []
    for key, kind in ROWS.items():
        if ctx.options.rows:
            selected = key in ctx.options.rows
        else:
            selected = not kind.optional or (key == "result-large" and ctx.options.large)
        selected = selected and key not in ctx.options.skipped_rows
        if kind.optional and not selected:
            continue
        rows = kind.describe(ctx)
        measured.extend(rows)
        if not selected:
            for row in rows:
                row.skipped = "not selected (--only or --skip)"
            continue

        logger.info("measuring %s", key)
        started = time.perf_counter()
        try:
            kind.measure(ctx, rows)
        except BenchError as exc:
            logger.error("row %s failed: %s", key, exc)
            for row in rows:
                row.failed = str(exc)
            continue
        logger.info("measured %s in %.1f s", key, time.perf_counter() - started)
    return measured
