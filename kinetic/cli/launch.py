"""``kinetic launch`` (run a script as a job) and ``kinetic plan`` (show what would run)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import click

from kinetic.cli.jobs import PLAN_FORMAT_OPTION, echo_plan
from kinetic.errors import KineticError

_ACCELERATOR = click.option("--accelerator", "-a", default=None,
                            help="Accelerator, e.g. tpu-v5e-8, l4, h100:8, cpu.")
_BACKEND = click.option("--backend", "-b", type=click.Choice(["local", "docker"]),
                        default=None, help="Where to run (default: KINETIC_BACKEND, the "
                                           "profile, or local).")


@click.command(context_settings={"ignore_unknown_options": True})
@_ACCELERATOR
@_BACKEND
@click.option("--env", "env", multiple=True, metavar="NAME",
              help="Forward an environment variable (name or glob); repeatable.")
@click.option("--timeout", type=float, default=None, help="Job deadline in seconds.")
@click.option("--detach", is_flag=True, help="Print the job id and return at once.")
@click.argument("script", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
def launch(accelerator: str | None, backend: str | None, env: tuple[str, ...],
           timeout: float | None, detach: bool, script: Path, script_args: tuple[str, ...]) -> None:
    """Run SCRIPT as a job, passing SCRIPT_ARGS (put them after --).

    The project around the script is shipped, the script runs as __main__ through the runner,
    its output streams here, and a non-zero exit code is this command's exit code.
    """
    from kinetic import submission
    from kinetic.jobs import JobStatus

    if not script.exists():
        raise click.BadParameter(f"{script} does not exist; pass the path of a Python script",
                                 param_hint="SCRIPT")
    options = {"accelerator": accelerator, "backend": backend, "timeout": timeout,
               "env": list(env) or None}
    try:
        job = submission.submit_script(script, list(script_args), options)
    except KineticError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"kinetic: job {job.id}", err=True)
    if detach:
        click.echo(job.id)
        return

    try:
        for line in job.logs(follow=True):
            click.echo(line)
    except KeyboardInterrupt:
        job.cancel()
        click.echo(f"kinetic: cancelled job {job.id}", err=True)
        sys.exit(130)
    status = job.wait()
    if status is JobStatus.SUCCEEDED:
        return
    code = job.record.exit_code
    click.echo(f"kinetic: job {job.id} {status.value}"
               + (f" with exit code {code}" if code is not None else ""), err=True)
    sys.exit(code if code else 1)


@click.command()
@_ACCELERATOR
@_BACKEND
@PLAN_FORMAT_OPTION
@click.argument("target", metavar="SCRIPT.py:FUNCTION")
def plan(accelerator: str | None, backend: str | None, output_format: str, target: str) -> None:
    """Show what kinetic would build and submit for FUNCTION in SCRIPT.py, without running it.

    FUNCTION may be decorated with @kinetic.run (its options are used) or plain.
    """
    from kinetic import submission

    function, options = _load_function(target)
    overrides = {"accelerator": accelerator, "backend": backend}
    options = {**options, **{key: value for key, value in overrides.items() if value}}
    try:
        job_plan = submission.plan_call(function, (), {}, options)
    except KineticError as exc:
        raise click.ClickException(str(exc)) from exc
    echo_plan(job_plan, output_format)


def _load_function(target: str):
    from kinetic.api import RemoteFunction

    path_text, separator, name = target.rpartition(":")
    if not separator or not path_text or not name:
        raise click.BadParameter(f"{target!r} is not SCRIPT.py:FUNCTION, e.g. train.py:train",
                                 param_hint="TARGET")
    path = Path(path_text).resolve()
    if not path.is_file():
        raise click.BadParameter(f"{path_text} does not exist", param_hint="TARGET")

    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    try:
        spec.loader.exec_module(module)
    except KineticError as exc:
        raise click.ClickException(f"importing {path_text} failed: {exc}") from exc

    function = getattr(module, name, None)
    if function is None:
        names = sorted(key for key, value in vars(module).items()
                       if callable(value) and not key.startswith("_"))
        raise click.BadParameter(f"{path_text} has no function {name!r}; functions there: "
                                 f"{', '.join(names) or 'none'}", param_hint="TARGET")
    if isinstance(function, RemoteFunction):
        return function.function, dict(function.options)
    return function, {}
