"""Jobs on the docker backend: real containers on the engine from .ci/services.sh."""

from __future__ import annotations

import importlib
import sys

import pytest

from conftest import write_project
from docker_fixtures import docker_env, kinetic_cache  # noqa: F401 (pytest fixtures)
from kinetic.errors import BackendError

pytestmark = [pytest.mark.docker, pytest.mark.slow]

JOBS_MODULE = '''
import time

import kinetic


@kinetic.run(backend="docker")
def add(a, b):
    return a + b


@kinetic.run(backend="docker")
def fail(value):
    raise ValueError(f"bad value {value}")


@kinetic.run(backend="docker")
def print_lines(count):
    for index in range(count):
        print(f"line {index}")
    return count


@kinetic.run(backend="docker")
def wait_forever():
    print("started", flush=True)
    time.sleep(3600)


@kinetic.run(backend="docker", accelerator="l4")
def on_gpu():
    return "unreachable"


@kinetic.run(backend="docker", accelerator="tpu-v5e-8")
def on_tpu():
    return "unreachable"
'''


@pytest.fixture
def jobs(tmp_path, monkeypatch, docker_env, kinetic_cache):  # noqa: F811 (pytest fixtures)
    """A project whose functions run on the docker backend, with an image built for this
    engine only (no registry setting) from the test base image."""
    project = tmp_path / "docker-project"
    write_project(project, {"requirements.txt": "", "docker_jobs.py": JOBS_MODULE})
    monkeypatch.setenv("KINETIC_BASE_IMAGE", docker_env.base_image)
    if docker_env.network_mode:
        monkeypatch.setenv("KINETIC_BUILD_NETWORK", docker_env.network_mode)
    if docker_env.ca_cert:
        monkeypatch.setenv("KINETIC_BUILD_CA_CERT", str(docker_env.ca_cert))
    monkeypatch.syspath_prepend(str(project))
    module = importlib.import_module("docker_jobs")
    try:
        yield module
    finally:
        sys.modules.pop("docker_jobs", None)


def job_containers(docker_env, job_id: str) -> list:  # noqa: F811
    return docker_env.client.containers.list(
        all=True, filters={"label": f"kinetic.job-id={job_id}"})


def test_value_returned(jobs, docker_env):  # noqa: F811
    handle = jobs.add.submit(2, 3)
    assert handle.result(timeout=300) == 5
    assert handle.record.image.startswith("docker.io/library/kinetic-local:")
    assert handle.status().value == "succeeded"


def test_container_removed_after_job(jobs, docker_env):  # noqa: F811
    handle = jobs.add.submit(1, 1)
    assert handle.result(timeout=300) == 2
    container_id = handle.record.backend_state["container_id"]
    # auto_remove: the engine removes the container once it exits.
    import docker.errors

    try:
        docker_env.client.containers.get(container_id).wait(condition="removed", timeout=60)
    except docker.errors.NotFound:
        pass
    assert job_containers(docker_env, handle.id) == []


def test_keep_leaves_container(jobs, docker_env, monkeypatch):  # noqa: F811
    monkeypatch.setenv("KINETIC_KEEP", "1")
    handle = jobs.add.submit(4, 4)
    try:
        assert handle.result(timeout=300) == 8
        containers = job_containers(docker_env, handle.id)
        assert len(containers) == 1
        assert containers[0].wait(timeout=60)["StatusCode"] == 0
    finally:
        for container in job_containers(docker_env, handle.id):
            container.remove(force=True)


def test_remote_exception_reraised(jobs):
    handle = jobs.fail.submit(42)
    with pytest.raises(ValueError, match="bad value 42"):
        handle.result(timeout=300)
    assert handle.status().value == "failed"


def test_200000_lines_arrive_in_order(jobs):
    count = 200_000
    handle = jobs.print_lines.submit(count)
    lines = [line for line in handle.logs(follow=True) if line.startswith("line ")]
    assert len(lines) == count
    assert lines == [f"line {index}" for index in range(count)]
    assert handle.result(timeout=60) == count


def test_cancel_leaves_no_container(jobs, docker_env):  # noqa: F811
    handle = jobs.wait_forever.submit()
    for line in handle.logs(follow=True):
        if line == "started":
            break
    assert len(job_containers(docker_env, handle.id)) == 1
    handle.cancel()
    assert handle.status().value == "cancelled"
    assert job_containers(docker_env, handle.id) == []


def test_gpu_job_fails_before_start_without_nvidia_runtime(jobs, docker_env):  # noqa: F811
    if "nvidia" in (docker_env.client.info().get("Runtimes") or {}):
        pytest.skip("this engine has the NVIDIA runtime")
    before = {c.id for c in docker_env.client.containers.list(
        all=True, filters={"label": "kinetic.managed=true"})}
    with pytest.raises(BackendError, match="has no NVIDIA runtime") as caught:
        jobs.on_gpu.submit()
    assert "l4" in str(caught.value)
    after = {c.id for c in docker_env.client.containers.list(
        all=True, filters={"label": "kinetic.managed=true"})}
    assert after - before == set()


def test_tpu_job_rejected(jobs):
    with pytest.raises(BackendError, match="cannot attach TPUs"):
        jobs.on_tpu.submit()
