"""Builds images on a Docker engine with the ``docker`` SDK and pushes them to the registry.

The SDK (``pip install 'kinetic-launcher[docker]'``) is imported when a build starts. The
engine is the one ``docker.from_env()`` finds (``DOCKER_HOST`` or the local socket); pushes use
its credentials from ``~/.docker/config.json``.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any

from rich.console import Console

from kinetic.errors import BuildError, KineticError
from kinetic.images.builder import BuiltImage
from kinetic.images.context import BuildContext
from kinetic.images.options import BuildOptions
from kinetic.images.progress import BuildProgress
from kinetic.images.reference import parse_reference

logger = logging.getLogger("kinetic.images")


def build_log_dir() -> Path:
    """Folder of per-image build logs: ``$KINETIC_CACHE_DIR/build-logs`` or
    ``~/.cache/kinetic/build-logs``."""
    root = os.environ.get("KINETIC_CACHE_DIR") or str(Path.home() / ".cache" / "kinetic")
    return Path(root) / "build-logs"


def docker_client(error: type[KineticError] = BuildError,
                  alternative: str = "use builder='cloudbuild'") -> Any:
    """Return a ``docker.DockerClient`` for the configured engine.

    Raise ``error`` when the SDK is missing or the engine does not respond; its message ends
    with ``alternative``, what the user can do instead.
    """
    try:
        import docker
        import docker.errors
    except ImportError as exc:
        raise error("this needs the docker SDK; install it with "
                    "pip install 'kinetic-launcher[docker]'") from exc
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise error(f"cannot reach the Docker engine at {host}: {exc}; start Docker, set "
                    f"DOCKER_HOST, or {alternative}") from exc
    return client


class DockerBuilder:
    """Builds with the engine's classic builder API and pushes the result.

    ``builds`` counts the builds this object started. ``push=False`` leaves the image in the
    engine only (for the docker backend on the same engine).
    """

    name = "docker"

    def __init__(self, client: Any = None, *, push: bool = True,
                 console: Console | None = None) -> None:
        self._client = client
        self.push = push
        self.console = console
        self.builds = 0

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def build(self, context: BuildContext, image: str, *,
              options: BuildOptions) -> BuiltImage:
        """Build ``context`` as ``image`` and push it unless ``push`` is False."""
        import docker.errors

        self.builds += 1
        reference = parse_reference(image)
        log_path = build_log_dir() / f"{reference.tag or 'latest'}.log"
        with BuildProgress(image, log_path=log_path, console=self.console) as progress:
            try:
                events = self.client.api.build(
                    fileobj=io.BytesIO(context.tar()), custom_context=True, tag=image,
                    rm=True, forcerm=True, decode=True, network_mode=options.network_mode,
                )
                self._follow_build(events, progress, image, log_path)
            except docker.errors.APIError as exc:
                raise BuildError(f"the Docker engine rejected the build of {image}: "
                                 f"{exc.explanation or exc}") from exc
            progress.finish_build()
            if not self.push:
                return BuiltImage(image, None)
            digest = self._push(reference.name, reference.tag or "latest", progress, image)
        logger.info("pushed %s (%s)", image, digest or "digest unknown")
        return BuiltImage(image, digest)

    def _follow_build(self, events: Any, progress: BuildProgress, image: str,
                      log_path: Path) -> None:
        for event in events:
            if "stream" in event:
                progress.output(event["stream"])
            elif "error" in event:
                detail = event.get("errorDetail", {}).get("message") or event["error"]
                raise BuildError(
                    f"building {image} failed at {progress.step or 'the start'}: "
                    f"{detail.strip()}\nLast build output:\n{progress.tail_text()}\n"
                    f"Full log: {log_path}. Fix the cause above (often a requirement pip cannot "
                    f"install or an unreachable index) and run again."
                )

    def _push(self, repository: str, tag: str, progress: BuildProgress,
              image: str) -> str | None:
        import docker.errors

        digest = None
        try:
            for event in self.client.api.push(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    detail = event.get("errorDetail", {}).get("message") or event["error"]
                    raise BuildError(
                        f"pushing {image} failed: {detail.strip()}; check that the registry "
                        f"is reachable from the Docker engine and that 'docker login' has "
                        f"credentials for it"
                    )
                aux = event.get("aux") or {}
                if aux.get("Digest"):
                    digest = aux["Digest"]
                progress.push_event(event)
        except docker.errors.APIError as exc:
            raise BuildError(f"pushing {image} failed: {exc.explanation or exc}; check the "
                             f"registry address and your credentials") from exc
        return digest
