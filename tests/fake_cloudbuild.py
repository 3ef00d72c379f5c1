"""A fake Cloud Build v1 REST server, and a GCS emulator beside it, for builder tests.

Cloud Build subset served (paths as in google.devtools.cloudbuild.v1):

- ``POST /v1/projects/{project}/builds``: checks that the source tar.gz exists in storage and
  contains a Dockerfile, records the request, and returns a long-running Operation whose
  metadata is a BuildOperationMetadata.
- ``GET /v1/projects/{project}/builds/{id}``: the build, one state further on each call.
- ``GET /v1/operations/build/{project}/{id}``: the Operation, done once the build ended.

Where it departs from the real service: nothing is built. Each build follows the scripted
``Outcome`` queued with ``script()`` (SUCCESS when none was queued): QUEUED on creation,
WORKING on the first GET (the first half of the log is written), then the outcome's status on
the second GET (the full log is written). Logs go to ``log-ID.txt`` in the logs bucket of the
gcp-storage-emulator, as Cloud Build writes them to its logs bucket; step lines carry the
``Step #N - "ID": `` prefix the real service uses. Image digests are made up. Enums are
written as integers when the query asks for ``enum-encoding=int`` (as the REST transport of
google-cloud-build does), as names otherwise. There is no authentication.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATUS = {"STATUS_UNKNOWN": 0, "QUEUED": 1, "WORKING": 2, "SUCCESS": 3, "FAILURE": 4,
          "INTERNAL_ERROR": 5, "TIMEOUT": 6, "CANCELLED": 7, "EXPIRED": 9, "PENDING": 10}
LOGS_BUCKET = "kinetic-test-cloudbuild-logs"


@dataclass
class Outcome:
    """How a scripted build ends: its final status, the failing step, and each step's log."""

    status: str = "SUCCESS"
    failing_step: int | None = None
    step_logs: list[list[str]] = field(default_factory=lambda: [[
        "Step 1/3 : FROM python:3.11-slim", "Step 2/3 : COPY . /kinetic-build/",
        "Step 3/3 : RUN pip install -r requirements.txt", "Successfully built 0123456789ab",
    ]])
    status_detail: str = ""


@dataclass
class FakeBuild:
    id: str
    project: str
    request: dict[str, Any]
    outcome: Outcome
    status: str = "QUEUED"
    polls: int = 0
    create_time: str = field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


class FakeCloudBuild:
    """The fake server; ``endpoint`` is its ``http://127.0.0.1:PORT`` base URL.

    ``storage_client`` is a google-cloud-storage client pointed at a storage emulator, used to
    read sources and write logs. ``requests`` contains every accepted create request body.
    """

    def __init__(self, storage_client: Any) -> None:
        self.storage_client = storage_client
        self.builds: dict[str, FakeBuild] = {}
        self.requests: list[dict[str, Any]] = []
        self._script: list[Outcome] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        storage_client.create_bucket(LOGS_BUCKET)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeCloudBuild":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def script(self, outcome: Outcome) -> None:
        """Queue the outcome of the next build created."""
        with self._lock:
            self._script.append(outcome)

    # Request handling -------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                fake._dispatch(self, "POST")

            def do_GET(self) -> None:  # noqa: N802
                fake._dispatch(self, "GET")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path, _, query = handler.path.partition("?")
        enums_as_int = "enum-encoding=int" in query
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}") if length else {}
        routes = (
            ("POST", r"^/v1/projects/([^/]+)/builds$", self._create),
            ("GET", r"^/v1/projects/([^/]+)/builds/([^/:]+)$", self._get_build),
            ("GET", r"^/v1/operations/build/([^/]+)/([^/]+)$", self._get_operation),
        )
        for route_method, pattern, action in routes:
            match = re.match(pattern, path)
            if match and method == route_method:
                try:
                    status, payload = action(*match.groups(), body=body, enums=enums_as_int)
                except _ApiError as exc:
                    status, payload = exc.code, {"error": {
                        "code": exc.code, "message": str(exc), "status": exc.status}}
                return self._reply(handler, status, payload)
        self._reply(handler, 404, {"error": {"code": 404, "message": f"no route {method} {path}",
                                             "status": "NOT_FOUND"}})

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _create(self, project: str, *, body: dict[str, Any],
                enums: bool) -> tuple[int, dict[str, Any]]:
        source = body.get("source", {}).get("storageSource", {})
        self._check_source(source.get("bucket", ""), source.get("object", ""))
        if not body.get("steps"):
            raise _ApiError(400, "INVALID_ARGUMENT", "build has no steps")
        with self._lock:
            build_id = hashlib.sha256(
                f"{project}/{len(self.builds)}".encode()).hexdigest()[:8] + "-fake"
            outcome = self._script.pop(0) if self._script else Outcome()
            build = FakeBuild(build_id, project, body, outcome)
            self.builds[build_id] = build
            self.requests.append(body)
        return 200, self._operation(build, enums)

    def _check_source(self, bucket: str, name: str) -> None:
        blob = self.storage_client.bucket(bucket).blob(name)
        try:
            data = blob.download_as_bytes()
        except Exception as exc:  # NotFound and transport errors alike.
            raise _ApiError(400, "INVALID_ARGUMENT",
                            f"source gs://{bucket}/{name} could not be read: {exc}") from exc
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as archive:
            if "Dockerfile" not in archive.getnames():
                raise _ApiError(400, "INVALID_ARGUMENT",
                                f"source gs://{bucket}/{name} holds no Dockerfile")

    def _get_build(self, project: str, build_id: str, *, body: dict[str, Any],
                   enums: bool) -> tuple[int, dict[str, Any]]:
        build = self._find(project, build_id)
        with self._lock:
            self._advance(build)
        return 200, self._build_json(build, enums)

    def _get_operation(self, project: str, build_id: str, *, body: dict[str, Any],
                       enums: bool) -> tuple[int, dict[str, Any]]:
        build = self._find(project, build_id)
        with self._lock:
            self._advance(build)
        return 200, self._operation(build, enums)

    def _find(self, project: str, build_id: str) -> FakeBuild:
        build = self.builds.get(build_id)
        if build is None or build.project != project:
            raise _ApiError(404, "NOT_FOUND", f"build {build_id} not found in {project}")
        return build

    # Build state ------------------------------------------------------------------------

    def _advance(self, build: FakeBuild) -> None:
        build.polls += 1
        if build.status == "QUEUED":
            build.status = "WORKING"
            self._write_log(build, final=False)
        elif build.status == "WORKING":
            build.status = build.outcome.status
            self._write_log(build, final=True)

    def _log_lines(self, build: FakeBuild) -> list[str]:
        lines: list[str] = []
        for index, step_lines in enumerate(build.outcome.step_logs):
            step_id = build.request["steps"][index].get("id") if index < len(
                build.request["steps"]) else None
            prefix = f'Step #{index} - "{step_id}": ' if step_id else f"Step #{index}: "
            lines.append(f"Starting Step #{index}")
            lines.extend(prefix + line for line in step_lines)
            lines.append(f"Finished Step #{index}")
        return lines

    def _write_log(self, build: FakeBuild, *, final: bool) -> None:
        lines = ["FETCHSOURCE", "BUILD", *self._log_lines(build)]
        if not final:
            lines = lines[: len(lines) // 2]
        elif build.status == "SUCCESS":
            lines += ["PUSH", f"Pushing {build.request['images'][0]}", "DONE"]
        else:
            lines += ["ERROR"]
        blob = self.storage_client.bucket(LOGS_BUCKET).blob(f"log-{build.id}.txt")
        blob.upload_from_string("".join(line + "\n" for line in lines).encode())

    def _step_status(self, build: FakeBuild, index: int) -> str:
        if build.status in ("QUEUED",):
            return "QUEUED"
        if build.status == "WORKING":
            return "WORKING"
        if build.outcome.failing_step is None:
            return build.status if build.status != "FAILURE" else "SUCCESS"
        if index < build.outcome.failing_step:
            return "SUCCESS"
        if index == build.outcome.failing_step:
            return build.status
        return "QUEUED"

    def _build_json(self, build: FakeBuild, enums: bool) -> dict[str, Any]:
        def enum(name: str) -> int | str:
            return STATUS[name] if enums else name

        steps = [{**step, "status": enum(self._step_status(build, index))}
                 for index, step in enumerate(build.request["steps"])]
        document: dict[str, Any] = {
            "id": build.id,
            "projectId": build.project,
            "status": enum(build.status),
            "source": build.request.get("source", {}),
            "steps": steps,
            "images": build.request.get("images", []),
            "timeout": build.request.get("timeout", "600s"),
            "createTime": build.create_time,
            "logsBucket": f"gs://{LOGS_BUCKET}",
            "logUrl": f"{self.endpoint}/console/builds/{build.id}",
        }
        if build.status in ("FAILURE", "TIMEOUT", "INTERNAL_ERROR") and \
                build.outcome.status_detail:
            document["statusDetail"] = build.outcome.status_detail
        if build.status == "SUCCESS":
            document["results"] = {"images": [
                {"name": image, "digest": "sha256:" + hashlib.sha256(image.encode()).hexdigest()}
                for image in build.request.get("images", [])
            ]}
        return document

    def _operation(self, build: FakeBuild, enums: bool) -> dict[str, Any]:
        build_json = self._build_json(build, enums)
        operation: dict[str, Any] = {
            "name": f"operations/build/{build.project}/{build.id}",
            "metadata": {
                "@type": "type.googleapis.com/google.devtools.cloudbuild.v1."
                         "BuildOperationMetadata",
                "build": build_json,
            },
            "done": build.status not in ("QUEUED", "WORKING"),
        }
        if operation["done"]:
            operation["response"] = {
                "@type": "type.googleapis.com/google.devtools.cloudbuild.v1.Build",
                **build_json,
            }
        return operation


class _ApiError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
