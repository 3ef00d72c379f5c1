"""The docker backend: the runner in a container of the job's image on a Docker engine.

The store folder is bind-mounted into the container at its own path, so the runner reads the
payload and writes the result exactly as the local backend's runner does. The runner's stdout
and stderr go to the job's ``logs.txt`` in that mounted folder, so logs can be followed live
from any process and outlive the container. The container runs as this user (files in the
store stay yours), with an init process that forwards signals, and host networking unless
``network_mode`` says otherwise. Without ``keep``, the engine removes the container when it
exits.

The image comes from ``record.image`` when the submitter set it; otherwise it is built (or
found) from the job's project with the settings of the environment and the profile
(``resolve_image``). Without a ``registry`` setting the image stays in the local engine.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kinetic.backends.base import FileLogsMixin, runner_variables
from kinetic.errors import BackendError, BuildError

if TYPE_CHECKING:
    from kinetic.config import Settings
    from kinetic.jobs import JobHandle, JobRecord, JobStatus
    from kinetic.store.local import LocalStore

logger = logging.getLogger("kinetic.backends.docker")

CANCEL_GRACE_SECONDS = 5
EXIT_CODE_FILE = "exit_code"
LOCAL_REPOSITORY = "kinetic-local"
"""Repository of images built for this engine only, when no registry is configured."""
LABEL_JOB_ID = "kinetic.job-id"

# Runs as the container's command: send this process's output to the log file, then become
# the runner. No shell is needed in the image.
_LOG_AND_EXEC = (
    "import os, sys; "
    "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644); "
    "os.dup2(fd, 1); os.dup2(fd, 2); "
    "os.execv(sys.executable, [sys.executable, '-m', 'kinetic.runner', sys.argv[2]])"
)


def _docker() -> Any:
    try:
        import docker
        import docker.errors
        import docker.types
    except ImportError as exc:
        raise BackendError("the docker backend needs the docker SDK; install it with "
                           "pip install 'kinetic-launcher[docker]'") from exc
    return docker


def docker_engine() -> Any:
    """Return a client of the engine ``docker.from_env()`` finds; raise BackendError when none
    responds."""
    from kinetic.images.docker_builder import docker_client

    return docker_client(BackendError, "use backend local")


def resolve_image(settings: "Settings", family: str, project_root: Path, *,
                  requirements: list[str] | None = None, client: Any = None) -> str:
    """Return the reference of the job image for ``project_root``, building it if needed.

    With ``settings.registry`` the image is found in or pushed to that registry; without
    one it is built into the local engine only, as ``kinetic-local:<tag>``.
    """
    from kinetic.images import BuildOptions, ensure_image, plan_image
    from kinetic.images.docker_builder import DockerBuilder

    options = BuildOptions(
        network_mode=settings.build_network,
        ca_cert_file=Path(settings.build_ca_cert) if settings.build_ca_cert else None,
        pip_index_url=settings.pip_index_url,
    )
    client = client or docker_engine()
    if settings.registry:
        result = ensure_image(project_root, repository=settings.registry, family=family,
                              base_image=settings.base_image, requirements=requirements,
                              builder=DockerBuilder(client), options=options)
        return result.reference

    plan = plan_image(project_root, repository=LOCAL_REPOSITORY, family=family,
                      base_image=settings.base_image, requirements=requirements)
    if _local_image_exists(client, plan.reference):
        logger.info("image %s is in the local engine; not building", plan.reference)
        return plan.reference
    result = ensure_image(project_root, repository=LOCAL_REPOSITORY, family=family,
                          base_image=settings.base_image, requirements=requirements,
                          builder=DockerBuilder(client, push=False), options=options,
                          force=True)
    return result.reference


def _local_image_exists(client: Any, reference: str) -> bool:
    docker = _docker()
    try:
        client.images.get(reference)
    except docker.errors.ImageNotFound:
        return False
    return True


class DockerBackend(FileLogsMixin):
    """Runs jobs in containers on a Docker engine.

    ``keep`` (default: the ``keep`` setting) leaves exited containers in place;
    ``network_mode`` is the containers' network (default ``host``).
    """

    name = "docker"

    def __init__(self, client: Any = None, *, keep: bool | None = None,
                 network_mode: str = "host") -> None:
        self._client = client
        self.keep = keep
        self.network_mode = network_mode

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_engine()
        return self._client

    def submit(self, record: "JobRecord", store: "LocalStore", env: dict[str, str]) -> None:
        from kinetic import config
        from kinetic.accelerators import parse_accelerator
        from kinetic.jobs import LOG_FILE, save_record

        accelerator = parse_accelerator(record.accelerator)
        device_requests = self._device_requests(record, accelerator)
        settings = config.resolve({})
        keep = record.backend_state.get("keep", settings.keep) if self.keep is None \
            else self.keep

        if not record.image:
            try:
                record.image = resolve_image(settings, accelerator.image_family,
                                             Path(record.root), client=self.client)
            except BuildError as exc:
                raise BackendError(f"job {record.id}: the image could not be built: {exc}") \
                    from exc
        self._ensure_local(record.image)

        job_dir = store.job_dir(record.id)
        (job_dir / LOG_FILE).touch()
        name = _container_name(record.id)
        try:
            container = self.client.containers.run(
                record.image,
                command=["python", "-c", _LOG_AND_EXEC, str(job_dir / LOG_FILE),
                         store.job_uri(record.id)],
                name=name,
                detach=True,
                init=True,
                auto_remove=not keep,
                environment=_container_environment(record, job_dir, env, keep),
                volumes={str(store.root): {"bind": str(store.root), "mode": "rw"}},
                working_dir=str(job_dir),
                user=f"{os.getuid()}:{os.getgid()}",
                network_mode=self.network_mode,
                labels={"kinetic.managed": "true", LABEL_JOB_ID: record.id},
                device_requests=device_requests,
            )
        except _docker().errors.DockerException as exc:
            raise BackendError(f"starting the container of job {record.id} from image "
                               f"{record.image} failed: {exc}") from exc
        record.backend_state = {"container_id": container.id, "container_name": name,
                                "keep": keep}
        save_record(store, record)
        logger.info("started job %s in container %s (%s) from %s", record.id, name,
                    container.short_id, record.image)

    def check_accelerator(self, record: "JobRecord", accelerator: Any) -> None:
        """Raise BackendError when this engine cannot run ``accelerator``, before any image is
        built or container started."""
        self._device_requests(record, accelerator)

    def _device_requests(self, record: "JobRecord", accelerator: Any) -> list[Any] | None:
        """Return the engine's GPU requests for the job, or None for a CPU job.

        Raise BackendError before anything starts when the job cannot run here: a TPU, or a
        GPU on an engine without the NVIDIA runtime.
        """
        if accelerator.kind == "tpu":
            raise BackendError(
                f"job {record.id} requests {accelerator.name}, but the docker backend cannot "
                f"attach TPUs; use accelerator cpu to try the code in a container"
            )
        if accelerator.kind != "gpu":
            return None
        runtimes = sorted((self.client.info().get("Runtimes") or {}).keys())
        if "nvidia" not in runtimes:
            raise BackendError(
                f"job {record.id} requests {accelerator.name}, but the Docker engine has no "
                f"NVIDIA runtime (its runtimes: {', '.join(runtimes) or 'none'}); install the "
                f"NVIDIA Container Toolkit and restart Docker, or use accelerator cpu"
            )
        docker = _docker()
        return [docker.types.DeviceRequest(count=accelerator.chips, capabilities=[["gpu"]])]

    def _ensure_local(self, image: str) -> None:
        if _local_image_exists(self.client, image):
            return
        logger.info("pulling %s", image)
        try:
            self.client.images.pull(image)
        except _docker().errors.DockerException as exc:
            raise BackendError(f"image {image} is not in the Docker engine and pulling it "
                               f"failed: {exc}; check the registry and your credentials") \
                from exc

    def _container(self, handle: "JobHandle") -> Any:
        """Return the job's container, or None when it is gone (removed after it exited)."""
        container_id = handle.record.backend_state.get("container_id")
        if not container_id:
            return None
        docker = _docker()
        try:
            return self.client.containers.get(container_id)
        except docker.errors.NotFound:
            return None

    def poll(self, handle: "JobHandle") -> tuple["JobStatus", int | None]:
        from kinetic.jobs import JobStatus

        container = self._container(handle)
        if container is not None and container.status in (
                "created", "running", "restarting", "paused"):
            return JobStatus.RUNNING, None
        return JobStatus.FAILED, self.exit_code(handle)

    def exit_code(self, handle: "JobHandle") -> int | None:
        path = handle.store.job_dir(handle.id) / EXIT_CODE_FILE
        try:
            return int(path.read_text())
        except (OSError, ValueError):
            pass
        container = self._container(handle)
        if container is not None and container.status in ("exited", "dead"):
            return container.attrs.get("State", {}).get("ExitCode")
        return None

    def cancel(self, handle: "JobHandle") -> None:
        """Stop the container (SIGTERM, then SIGKILL after CANCEL_GRACE_SECONDS) and remove
        it unless the job keeps it."""
        docker = _docker()
        container = self._container(handle)
        if container is None:
            return
        try:
            container.stop(timeout=CANCEL_GRACE_SECONDS)
        except docker.errors.NotFound:
            return
        if handle.record.backend_state.get("keep"):
            return
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            # 409: the engine is already removing it (auto_remove); wait for that below.
            if exc.status_code != 409:
                raise BackendError(f"removing container {container.name} of job {handle.id} "
                                   f"failed: {exc}") from exc
        try:
            container.wait(condition="removed", timeout=60)
        except docker.errors.NotFound:
            pass
        logger.info("stopped and removed container %s of job %s", container.name, handle.id)


def _container_name(job_id: str) -> str:
    return "kinetic-" + re.sub(r"[^a-zA-Z0-9_.-]", "-", job_id)


def _container_environment(record: "JobRecord", job_dir: Path, extra: dict[str, str],
                           keep: bool) -> dict[str, str]:
    """Return the runner's environment: the job's variables only, never this process's.

    As root, the runner extracts the project at the client's own path, so absolute paths
    captured on the client resolve the same way. Other users cannot create that path.
    """
    env = dict(extra)
    env.update(runner_variables(record, job_dir))
    env["HOME"] = "/tmp"
    if os.getuid() == 0:
        env["KINETIC_EXTRACT_AT_CLIENT_PATH"] = "1"
    if keep:
        env["KINETIC_KEEP"] = "1"
    return env
