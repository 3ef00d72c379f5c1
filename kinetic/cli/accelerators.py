"""``kinetic accelerators``: the registry as a table or JSON."""

from __future__ import annotations

import json
import sys

import click

from kinetic.accelerators import Accelerator, list_accelerators

KINDS = ("cpu", "gpu", "tpu")


def _price(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.2f}" if value >= 1 else f"${value:.3f}"


def accelerator_row(accelerator: Accelerator) -> dict[str, object]:
    """Collect the columns of one registry entry, for the table and ``--json``."""
    return {
        "name": accelerator.name,
        "kind": accelerator.kind,
        "chips": accelerator.chips,
        "topology": accelerator.topology,
        "hosts": accelerator.hosts,
        "chips_per_host": accelerator.chips_per_host,
        "machine_type": accelerator.machine_type,
        "price_per_hour_on_demand": accelerator.price_per_hour_on_demand,
        "price_per_hour_spot": accelerator.price_per_hour_spot,
        "price_date": accelerator.price_date,
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the registry as a JSON list.")
@click.option("--kind", type=click.Choice(KINDS), default=None,
              help="Show only CPU, GPU or TPU entries.")
def accelerators(as_json: bool, kind: str | None) -> None:
    """List the accelerators kinetic can schedule, with prices.

    Prices are US dollars per hour for the whole slice or GPU set (GPU prices exclude the host
    VM), from a public catalog snapshot whose date is shown. Set prices: in your profile to
    override them.
    """
    entries = [entry for entry in list_accelerators() if kind is None or entry.kind == kind]
    if as_json:
        click.echo(json.dumps([accelerator_row(entry) for entry in entries], indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title="Accelerators")
    for header in ("name", "chips", "topology", "hosts", "machine type", "on-demand/h",
                   "spot/h", "price date"):
        justify = "right" if header in ("chips", "hosts", "on-demand/h", "spot/h") else "left"
        table.add_column(header, justify=justify, no_wrap=True)
    for entry in entries:
        table.add_row(entry.name, str(entry.chips), entry.topology or "-", str(entry.hosts),
                      entry.machine_type or "any", _price(entry.price_per_hour_on_demand),
                      _price(entry.price_per_hour_spot), entry.price_date or "-")
    # A pipe gets the full table instead of one cut to the default 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    console.print(table)
