"""The ``kinetic`` command: a click group whose subcommands load only when invoked.

Keeping every subcommand module out of the import path of ``kinetic --help`` is what keeps the
CLI fast: heavy clients (docker, kubernetes, google-cloud) load only in the command that uses
them.
"""

from __future__ import annotations

import importlib
import logging

import click

# Subcommand name -> (module, attribute of its click command or group, one-line help).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "version": ("kinetic.cli.jobs", "version", "Print the kinetic version."),
    "jobs": ("kinetic.cli.jobs", "jobs", "List, inspect, follow and cancel jobs."),
    "launch": ("kinetic.cli.launch", "launch", "Run a Python script as a job."),
    "plan": ("kinetic.cli.launch", "plan", "Show what would be built and submitted for a function."),
    "accelerators": ("kinetic.cli.accelerators", "accelerators", "List the accelerators kinetic can schedule, with prices."),
    "build": ("kinetic.cli.images", "build", "Build or find the project's container image."),
    "images": ("kinetic.cli.images", "images", "List cached container images."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module_name, attribute, _ = entry
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the subcommands from their one-line help in COMMANDS, importing none of them."""
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", count=True, help="Log more: -v for info, -vv for debug.")
def cli(verbose: int) -> None:
    """Run Python functions and scripts on cloud TPUs and GPUs."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(name)s: %(message)s")


def main() -> None:
    cli(prog_name="kinetic")


if __name__ == "__main__":
    main()
