"""Builds images with Google Cloud Build.

The build context is uploaded as a tar.gz (to a GCS bucket, or through any ``upload``
callable), a build with one ``docker build`` step is created, its log is streamed from the
build's logs bucket while the build is polled, and Cloud Build pushes the image (the build's
``images`` field). ``google-cloud-build`` and ``google-cloud-storage``
(``pip install 'kinetic-launcher[gke]'``) are imported when a build starts.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any, Callable

from rich.console import Console

from kinetic.errors import BuildError
from kinetic.images.builder import BuiltImage
from kinetic.images.context import BuildContext
from kinetic.images.docker_builder import build_log_dir
from kinetic.images.options import BuildOptions
from kinetic.images.progress import TAIL_LINES, BuildProgress
from kinetic.images.reference import parse_reference

logger = logging.getLogger("kinetic.images")

DOCKER_STEP_IMAGE = "gcr.io/cloud-builders/docker"
DOCKER_STEP_ID = "docker-build"
CONTEXT_PREFIX = "kinetic/build-contexts"
DEFAULT_TIMEOUT_S = 3600
DEFAULT_POLL_INTERVAL_S = 2.0
# Build.Status values (google.devtools.cloudbuild.v1.Build.Status).
_SUCCESS, _FAILURE, _INTERNAL_ERROR, _TIMEOUT, _CANCELLED, _EXPIRED = 3, 4, 5, 6, 7, 9
_TERMINAL = {_SUCCESS, _FAILURE, _INTERNAL_ERROR, _TIMEOUT, _CANCELLED, _EXPIRED}
_STATUS_NAMES = {_FAILURE: "FAILURE", _INTERNAL_ERROR: "INTERNAL_ERROR", _TIMEOUT: "TIMEOUT",
                 _CANCELLED: "CANCELLED", _EXPIRED: "EXPIRED"}
# Cloud Build prefixes each step's log line with 'Step #N: ' or 'Step #N - "ID": '.
_STEP_LINE_RE = re.compile(r'^Step #(\d+)(?: - "[^"]*")?: ?(.*)$')

Upload = Callable[[bytes, str], str]
"""Stores the context bytes under a name; returns the ``gs://BUCKET/OBJECT`` URI."""


class CloudBuildBuilder:
    """Builds and pushes with Cloud Build in ``project_id``.

    Give either ``bucket`` (a GCS bucket for build contexts) or ``upload``. ``location``
    selects a regional Cloud Build endpoint (``projects/P/locations/L``); None uses the
    global one. ``client`` and ``storage_client`` default to clients built from application
    default credentials. ``builds`` counts the builds this object started.
    """

    name = "cloudbuild"

    def __init__(self, project_id: str, *, bucket: str | None = None,
                 upload: Upload | None = None, location: str | None = None,
                 client: Any = None, storage_client: Any = None,
                 timeout_s: int = DEFAULT_TIMEOUT_S,
                 poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
                 console: Console | None = None) -> None:
        if bucket is None and upload is None:
            raise BuildError("the cloudbuild builder needs a bucket for build contexts or an "
                             "upload function; pass bucket='NAME' or upload=...")
        self.project_id = project_id
        self.bucket = bucket
        self._upload = upload
        self.location = location
        self._client = client
        self._storage_client = storage_client
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self.console = console
        self.builds = 0

    @property
    def client(self) -> Any:
        if self._client is None:
            cloudbuild_v1 = _import_cloudbuild()
            self._client = cloudbuild_v1.CloudBuildClient()
        return self._client

    @property
    def storage_client(self) -> Any:
        if self._storage_client is None:
            try:
                from google.cloud import storage
            except ImportError as exc:
                raise BuildError("the cloudbuild builder needs google-cloud-storage; install "
                                 "it with pip install 'kinetic-launcher[gke]'") from exc
            self._storage_client = storage.Client(project=self.project_id)
        return self._storage_client

    def build(self, context: BuildContext, image: str, *,
              options: BuildOptions) -> BuiltImage:
        """Upload ``context``, build and push it as ``image`` on Cloud Build."""
        cloudbuild_v1 = _import_cloudbuild()
        self.builds += 1
        tag = parse_reference(image).tag or "latest"
        data = context.tar(compress=True)
        object_name = f"{CONTEXT_PREFIX}/{tag}-{hashlib.sha256(data).hexdigest()[:12]}.tar.gz"
        bucket, object_name = _split_gs_uri(self._store(data, object_name))

        docker_args = ["build", f"--network={options.network_mode or 'cloudbuild'}",
                       "-t", image, "."]
        request = cloudbuild_v1.Build(
            source=cloudbuild_v1.Source(storage_source=cloudbuild_v1.StorageSource(
                bucket=bucket, object_=object_name)),
            steps=[cloudbuild_v1.BuildStep(name=DOCKER_STEP_IMAGE, id=DOCKER_STEP_ID,
                                           args=docker_args)],
            images=[image],
            timeout={"seconds": self.timeout_s},
            tags=["kinetic"],
        )
        log_path = build_log_dir() / f"{tag}.log"
        with BuildProgress(image, log_path=log_path, console=self.console) as progress:
            build_id = self._create(request)
            logger.info("Cloud Build build %s started for %s", build_id, image)
            build, log_lines = self._follow(build_id, progress)
            if build.status != _SUCCESS:
                raise _failure(build, image, log_lines, log_path, self.timeout_s)
            progress.finish_build()
        digest = None
        for built in build.results.images:
            if built.name == image or built.name == image.rsplit(":", 1)[0]:
                digest = built.digest or None
        logger.info("Cloud Build pushed %s (%s)", image, digest or "digest unknown")
        return BuiltImage(image, digest)

    def _store(self, data: bytes, object_name: str) -> str:
        if self._upload is not None:
            return self._upload(data, object_name)
        blob = self.storage_client.bucket(self.bucket).blob(object_name)
        try:
            blob.upload_from_string(data, content_type="application/gzip")
        except Exception as exc:  # google-cloud-storage raises api_core and transport errors.
            raise BuildError(f"uploading the build context to gs://{self.bucket}/{object_name} "
                             f"failed: {exc}; check that the bucket exists and that you may "
                             f"write to it") from exc
        return f"gs://{self.bucket}/{object_name}"

    def _create(self, request: Any) -> str:
        from google.api_core import exceptions

        try:
            if self.location:
                operation = self.client.create_build(
                    parent=f"projects/{self.project_id}/locations/{self.location}",
                    project_id=self.project_id, build=request)
            else:
                operation = self.client.create_build(project_id=self.project_id, build=request)
        except exceptions.GoogleAPICallError as exc:
            raise BuildError(f"Cloud Build rejected the build in project {self.project_id}: "
                             f"{exc.message}; check that the Cloud Build API is enabled and "
                             f"that you may create builds") from exc
        return operation.metadata.build.id

    def _get(self, build_id: str) -> Any:
        from google.api_core import exceptions

        try:
            if self.location:
                name = f"projects/{self.project_id}/locations/{self.location}/builds/{build_id}"
                return self.client.get_build(name=name, project_id=self.project_id,
                                             id=build_id)
            return self.client.get_build(project_id=self.project_id, id=build_id)
        except exceptions.GoogleAPICallError as exc:
            raise BuildError(f"reading Cloud Build build {build_id} failed: {exc.message}; the "
                             f"build may still be running, see the Cloud Console") from exc

    def _follow(self, build_id: str, progress: BuildProgress) -> tuple[Any, list[str]]:
        """Poll until the build ends, passing new log lines to ``progress``; return the
        final build and every log line."""
        reader = _LogReader(self)
        while True:
            build = self._get(build_id)
            for line in reader.read_new(build):
                progress.output(_strip_step_prefix(line))
            if build.status in _TERMINAL:
                for line in reader.read_new(build):
                    progress.output(_strip_step_prefix(line))
                return build, reader.lines
            time.sleep(self.poll_interval_s)


class _LogReader:
    """Reads a build's ``log-ID.txt`` from its logs bucket from where it left off; keeps every
    line for the failure message."""

    def __init__(self, builder: CloudBuildBuilder) -> None:
        self.builder = builder
        self.offset = 0
        self.partial = b""
        self.lines: list[str] = []

    def read_new(self, build: Any) -> list[str]:
        from google.api_core import exceptions

        if not build.logs_bucket:
            return []
        bucket, prefix = _split_gs_uri(build.logs_bucket.rstrip("/") + "/")
        blob = self.builder.storage_client.bucket(bucket).blob(f"{prefix}log-{build.id}.txt")
        try:
            data = blob.download_as_bytes(start=self.offset)
        except (exceptions.NotFound, exceptions.RequestRangeNotSatisfiable):
            return []
        except exceptions.GoogleAPICallError as exc:
            logger.info("could not read the log of Cloud Build build %s: %s", build.id, exc)
            return []
        self.offset += len(data)
        text = (self.partial + data).decode("utf-8", errors="replace")
        *complete, rest = text.split("\n")
        self.partial = rest.encode()
        self.lines.extend(complete)
        return complete


def _step_index(line: str) -> int | None:
    match = _STEP_LINE_RE.match(line)
    return int(match.group(1)) if match else None


def _strip_step_prefix(line: str) -> str:
    match = _STEP_LINE_RE.match(line)
    return match.group(2) if match else line


def _failure(build: Any, image: str, log_lines: list[str], log_path: Any,
             timeout_s: int) -> BuildError:
    """Build the error for a build that did not succeed, with the failing step's last log
    lines (or the build's, when no step failed)."""
    status = _STATUS_NAMES.get(build.status, str(build.status))
    failing = [index for index, step in enumerate(build.steps) if step.status == _FAILURE]
    where = f"step #{failing[0]} ({build.steps[failing[0]].name})" if failing else None
    detail = build.status_detail or ""
    if build.status == _TIMEOUT:
        summary = (f"Cloud Build build {build.id} for {image} timed out after {timeout_s} s"
                   f"{f' in {where}' if where else ''}; raise the builder's timeout_s or make "
                   f"the requirements faster to install")
    elif where:
        summary = (f"Cloud Build build {build.id} for {image} failed at {where}: "
                   f"{detail or status}; fix the cause in the step's output below and run "
                   f"again")
    else:
        summary = (f"Cloud Build build {build.id} for {image} ended with status {status}: "
                   f"{detail or 'no detail given'}; see {build.log_url or 'the Cloud Console'}")
    if failing:
        log_lines = [line for line in log_lines if _step_index(line) == failing[0]]
    shown = "\n".join(_strip_step_prefix(line) for line in log_lines[-TAIL_LINES:])
    return BuildError(f"{summary}\nLast build output:\n{shown}\nFull log: {log_path}"
                      f"{f'; console: {build.log_url}' if build.log_url else ''}")


def _split_gs_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://"):
        raise BuildError(f"the build context location {uri!r} is not a gs:// URI; the upload "
                         f"function must return gs://BUCKET/OBJECT")
    bucket, _, name = uri[len("gs://"):].partition("/")
    return bucket, name


def _import_cloudbuild() -> Any:
    try:
        from google.cloud.devtools import cloudbuild_v1
    except ImportError as exc:
        raise BuildError("the cloudbuild builder needs google-cloud-build; install it with "
                         "pip install 'kinetic-launcher[gke]'") from exc
    return cloudbuild_v1
