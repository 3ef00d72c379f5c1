"""``kinetic jobs ...`` and ``kinetic version``."""

from __future__ import annotations

import json
import sys

import click

from kinetic.errors import KineticError

_STORE_OPTION = click.option("--store", default=None, metavar="PATH",
                             help="Store folder (default: KINETIC_STORE, the profile, or "
                                  "~/.cache/kinetic).")


PLAN_FORMAT_OPTION = click.option(
    "--format", "output_format", type=click.Choice(["text", "yaml", "json", "manifests"]),
    default="text", help="Output format; manifests prints only the Kubernetes manifests, as "
                         "YAML documents that kubectl accepts.")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def version(as_json: bool) -> None:
    """Print the kinetic version."""
    import kinetic

    if as_json:
        click.echo(json.dumps({"version": kinetic.__version__, "python": sys.version.split()[0]}))
    else:
        click.echo(f"kinetic {kinetic.__version__} (Python {sys.version.split()[0]})")


@click.group()
def jobs() -> None:
    """List, inspect, follow and cancel jobs."""


def _attach(job_id: str, store: str | None):
    from kinetic.jobs import attach

    try:
        return attach(job_id, store)
    except KineticError as exc:
        raise click.ClickException(str(exc)) from exc


def _summary(handle) -> dict:
    record = handle.record
    return {"id": handle.id, "name": record.name, "status": handle.status().value,
            "backend": record.backend, "accelerator": record.accelerator,
            "created": record.created, "ended": record.ended, "exit_code": record.exit_code}


@jobs.command("list")
@_STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(store: str | None, as_json: bool) -> None:
    """List the jobs in the store, oldest first."""
    from kinetic.jobs import list_jobs

    rows = [_summary(handle) for handle in list_jobs(store)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "status", "backend", "accelerator", "created")
    table.add_column("id", no_wrap=True, min_width=28)
    for row in rows:
        table.add_row(row["name"], row["status"], row["backend"], row["accelerator"],
                      row["created"], row["id"])
    Console().print(table)


@jobs.command()
@click.argument("job_id")
@_STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(job_id: str, store: str | None, as_json: bool) -> None:
    """Print a job's status."""
    summary = _summary(_attach(job_id, store))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(summary["status"])


@jobs.command()
@click.argument("job_id")
@_STORE_OPTION
@click.option("-f", "--follow", is_flag=True, help="Keep printing output until the job ends.")
def logs(job_id: str, store: str | None, follow: bool) -> None:
    """Print a job's output."""
    handle = _attach(job_id, store)
    if follow:
        for line in handle.logs(follow=True):
            click.echo(line)
    else:
        click.echo(handle.logs(), nl=False)


@jobs.command()
@click.argument("job_id")
@_STORE_OPTION
@click.option("--timeout", type=float, default=None, help="Seconds to wait for the job.")
@click.option("--json", "as_json", is_flag=True, help="Print the value as JSON.")
def result(job_id: str, store: str | None, timeout: float | None, as_json: bool) -> None:
    """Wait for a job and print its value (exit code 1 if it failed)."""
    handle = _attach(job_id, store)
    try:
        value = handle.result(timeout=timeout)
    except KineticError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:  # the job's own exception, re-raised here
        raise click.ClickException(f"job {job_id} raised {type(exc).__name__}: {exc}") from exc
    if as_json:
        click.echo(json.dumps(value, default=repr))
    else:
        click.echo(repr(value))


@jobs.command()
@click.argument("job_id")
@_STORE_OPTION
def cancel(job_id: str, store: str | None) -> None:
    """Cancel a job."""
    handle = _attach(job_id, store)
    handle.cancel()
    click.echo(f"{job_id}: {handle.status().value}")


@jobs.command()
@click.argument("job_id")
@_STORE_OPTION
@PLAN_FORMAT_OPTION
def plan(job_id: str, store: str | None, output_format: str) -> None:
    """Show the plan written when the job was submitted (the local dry run)."""
    handle = _attach(job_id, store)
    try:
        job_plan = handle.plan()
    except KineticError as exc:
        raise click.ClickException(str(exc)) from exc
    echo_plan(job_plan, output_format)


def echo_plan(job_plan, output_format: str) -> None:
    """Print a plan as text, YAML, JSON, or only its Kubernetes manifests."""
    if output_format == "yaml":
        click.echo(job_plan.to_yaml())
    elif output_format == "json":
        click.echo(job_plan.to_json())
    elif output_format == "manifests":
        import yaml

        click.echo(yaml.safe_dump_all(list(job_plan.manifests), sort_keys=False), nl=False)
    else:
        click.echo(job_plan.to_text())


@jobs.command()
@_STORE_OPTION
@click.option("--older-than", "older_than", type=click.FloatRange(min=0), default=7.0,
              show_default=True, help="Remove finished jobs created more than this many days ago.")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
def clean(store: str | None, older_than: float, dry_run: bool) -> None:
    """Remove finished jobs and the archives no remaining job uses."""
    from kinetic.cleanup import clean_store
    from kinetic.jobs import _default_store
    from kinetic.store.local import open_store

    opened = open_store(store) if store else _default_store()
    report = clean_store(opened, older_than_days=older_than, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {len(report.jobs)} job(s) and {len(report.blobs)} archive(s), "
               f"{report.bytes_freed / 1e6:,.1f} MB, from {opened.root}")
