"""The docker row: a trivial function on the docker backend against a bare ``docker run``.

The row is skipped, with the reason, when kinetic has no docker backend or no Docker engine is
reachable. The engine and the build settings (base image, build network, CA certificate) come
from the environment, else from ``.ci-work/services.env`` as written by ``.ci/services.sh``.
No registry is set, so the job image is built into the local engine only.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time

from bench.context import REPO_ROOT, Context, read_services_env
from bench.rows import last_line, run_kinetic_driver
from bench.timing import BenchError, Command, Row, median, run_checked, time_command

logger = logging.getLogger("bench")

SERVICES_ENV = REPO_ROOT / ".ci-work" / "services.env"
REMOVAL_TIMEOUT_S = 120
REMOVAL_POLL_S = 0.2

# Variables of services.env -> the kinetic settings they provide.
SERVICE_SETTINGS = {
    "KINETIC_TEST_BASE_IMAGE": "KINETIC_BASE_IMAGE",
    "KINETIC_TEST_NETWORK_MODE": "KINETIC_BUILD_NETWORK",
    "KINETIC_TEST_CA_CERT": "KINETIC_BUILD_CA_CERT",
}


def describe_docker(ctx: Context) -> list[Row]:
    return [Row("docker", "docker",
                figure_method="a trivial `@kinetic.run(backend=\"docker\")` function with its "
                           "image already built, from the call to the returned value",
                floor_method="`docker run --network host IMAGE python -c pass` of the job's "
                          "image (host networking, like the backend's containers), to the "
                          "container's exit; the container is removed untimed, as kinetic "
                          "removes it after the call returns")]


def measure_docker(ctx: Context, rows: list[Row]) -> None:
    row, = rows
    env = docker_environment(ctx)
    reason = docker_unavailable_reason(ctx, env)
    if reason:
        row.skipped = reason
        return
    engine = describe_engine(ctx, env)
    # At least one untimed call builds the image, so the timed calls find it present.
    measured = run_kinetic_driver(ctx, "docker", "call", "--root", str(ctx.jobs_root),
                                  "--backend", "docker", env=env,
                                  warmup=max(1, ctx.options.warmup),
                                  timeout=ctx.options.docker_timeout_s)
    row.samples = measured["samples"]
    row.figure = median(row.samples)
    image = measured.get("image")
    if not image:
        row.detail = f"{engine}; floor not measured: the job record names no image"
        return
    _wait_for_removal(env, set(measured["job_ids"]), ctx)
    row.floor_samples = _time_docker_run(ctx, env, image)
    row.floor = median(row.floor_samples)
    row.detail = f"{engine}; image {image}"


def _wait_for_removal(env: dict[str, str], job_ids: set[str], ctx: Context) -> None:
    """Wait until the engine has removed the containers of ``job_ids``.

    The engine deletes a job's container after the call has returned, and with the ``vfs``
    storage driver that deletion competes with the floor's containers for the disk.
    """
    deadline = time.monotonic() + REMOVAL_TIMEOUT_S
    command = Command(["docker", "ps", "--all", "--filter", "label=kinetic.managed=true",
                       "--format", '{{.Label "kinetic.job-id"}}'], env, ctx.workspace)
    while True:
        listed = run_checked(command, timeout=60, capture_stdout=True).stdout.decode().split()
        remaining = job_ids.intersection(listed)
        if not remaining:
            return
        if time.monotonic() > deadline:
            logger.warning("containers of jobs %s still exist after %d s; measuring the floor "
                           "anyway", ", ".join(sorted(remaining)), REMOVAL_TIMEOUT_S)
            return
        time.sleep(REMOVAL_POLL_S)


def _time_docker_run(ctx: Context, env: dict[str, str], image: str) -> list[float]:
    """Time ``docker run`` of ``image`` to the container's exit; remove it untimed.

    kinetic removes a job's container after the job has returned, so the floor leaves out the
    removal too, which with the ``vfs`` storage driver deletes a full copy of the image.
    """
    samples = []
    for iteration in range(ctx.options.warmup + ctx.options.repeat):
        name = f"kinetic-bench-floor-{os.getpid()}-{iteration}"
        run = Command(["docker", "run", "--name", name, "--network", "host", image, "python",
                       "-c", "pass"], env, ctx.workspace)
        try:
            elapsed = time_command(run)
        finally:
            subprocess.run(["docker", "rm", "--force", name], env=env, capture_output=True,
                           timeout=300)
        if iteration >= ctx.options.warmup:
            samples.append(elapsed)
    return samples


def docker_environment(ctx: Context) -> dict[str, str]:
    """kinetic's environment plus the Docker engine and the settings of the local services."""
    services = read_services_env(SERVICES_ENV)
    services.update({name: value for name, value in os.environ.items()
                     if name in SERVICE_SETTINGS or name == "DOCKER_HOST"})
    env = dict(ctx.kinetic_env)
    for source, setting in SERVICE_SETTINGS.items():
        if services.get(source):
            env[setting] = services[source]
    if services.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = services["DOCKER_HOST"]
    return env


def docker_unavailable_reason(ctx: Context, env: dict[str, str]) -> str | None:
    """Why the docker row cannot run here, or None when it can."""
    probe = Command([ctx.python, "-c", "import kinetic.backends.docker"], env, ctx.workspace)
    try:
        run_checked(probe, timeout=120)
    except BenchError as exc:
        if "No module named 'kinetic.backends.docker'" in str(exc):
            return "docker backend not available (kinetic/backends/docker.py does not exist)"
        return f"docker backend not available: {last_line(str(exc))}"
    if shutil.which("docker") is None:
        return "no Docker engine: the docker command is not installed"
    try:
        run_checked(Command(["docker", "info", "--format", "{{.ServerVersion}}"], env,
                            ctx.workspace), timeout=30)
    except BenchError as exc:
        return f"no Docker engine: {last_line(str(exc))} (start one with .ci/services.sh)"
    return None


def describe_engine(ctx: Context, env: dict[str, str]) -> str:
    """The engine's version and storage driver (``vfs`` copies every layer per container)."""
    completed = run_checked(
        Command(["docker", "info", "--format", "Docker {{.ServerVersion}}, storage driver "
                 "{{.Driver}}"], env, ctx.workspace), timeout=30, capture_stdout=True)
    return completed.stdout.decode().strip()
