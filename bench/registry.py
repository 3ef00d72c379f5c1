"""Every benchmark row, in table order: how to describe it and how to measure it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from bench import rows
from bench.context import Context
from bench.docker_row import describe_docker, measure_docker
from bench.timing import Row


@dataclass(frozen=True)
class RowKind:
    """One selectable row (``--only``/``--skip`` name it by key); packaging yields two rows."""

    describe: Callable[[Context], list[Row]]
    measure: Callable[[Context, list[Row]], None]
    optional: bool = False  # measured only when selected by a flag (--large) or --only


ROWS: dict[str, RowKind] = {
    "import": RowKind(rows.describe_import, rows.measure_import),
    "cli": RowKind(rows.describe_cli, rows.measure_cli),
    "package": RowKind(rows.describe_packaging, rows.measure_packaging),
    "call": RowKind(rows.describe_call, rows.measure_call),
    "logs": RowKind(rows.describe_logs, rows.measure_logs),
    "result": RowKind(rows.describe_result, rows.measure_result),
    "result-large": RowKind(rows.describe_large_result, rows.measure_large_result,
                            optional=True),
    "docker": RowKind(describe_docker, measure_docker),
}
