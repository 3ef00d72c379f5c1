"""Job records (``job.json``), job handles, ``attach`` and ``list_jobs``.

A job's state lives in its store folder, so any process that opens the same store can attach
to a job, follow its logs, wait for it and read its result.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, Iterator

from kinetic import results
from kinetic.errors import JobCancelled, JobFailed, JobNotFound, JobTimeout
from kinetic.store.local import LocalStore, open_store

logger = logging.getLogger("kinetic")

RECORD_SCHEMA = 1
RECORD_FILE = "job.json"
PAYLOAD_FILE = "payload.pkl"
LOG_FILE = "logs.txt"
PLAN_FILE = "plan.json"
CANCELLED_FILE = "cancelled"


class JobStatus(str, enum.Enum):
    """The stage of a job's life."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass
class JobRecord:
    """The contents of ``job.json``: what was submitted, and the backend's state of the job."""

    id: str
    name: str
    kind: str  # "function" or "script"
    backend: str
    accelerator: str
    created: str
    payload_sha256: str
    payload_size: int
    archive_sha256: str
    archive_size: int
    root: str
    cwd: str
    sys_path: list[str]
    status: str = JobStatus.PENDING.value
    exit_code: int | None = None
    ended: str | None = None
    image: str | None = None
    timeout: float | None = None
    backend_state: dict[str, Any] = dataclasses.field(default_factory=dict)
    schema: int = RECORD_SCHEMA

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "JobRecord":
        raw = json.loads(data)
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in raw.items() if key in known})


def save_record(store: LocalStore, record: JobRecord) -> None:
    store.write_job_file(record.id, RECORD_FILE, record.to_json())


def load_record(store: LocalStore, job_id: str) -> JobRecord:
    store.require_job(job_id)
    return JobRecord.from_json(store.read_job_file(job_id, RECORD_FILE))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class JobHandle:
    """A submitted job: its status, logs, result, and cancellation.

    Handles are cheap; ``kinetic.attach(job_id)`` gives an equal handle in another process.
    """

    def __init__(self, job_id: str, store: LocalStore | None = None) -> None:
        self.id = job_id
        self.store = store or open_store()
        self._record = load_record(self.store, job_id)

    def __repr__(self) -> str:
        return f"JobHandle({self.id!r}, status={self.status().value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JobHandle) and (other.id, other.store.root) == \
            (self.id, self.store.root)

    def __hash__(self) -> int:
        return hash((self.id, str(self.store.root)))

    @property
    def record(self) -> JobRecord:
        return self._record

    @property
    def name(self) -> str:
        return self._record.name

    def _backend(self):
        from kinetic.backends import get_backend

        return get_backend(self._record.backend)

    def status(self) -> JobStatus:
        """Return the job's current status, saving a finished status to ``job.json``."""
        self._record = load_record(self.store, self.id)
        if JobStatus(self._record.status).finished:
            return JobStatus(self._record.status)

        status, exit_code = self._observe()
        if status.finished:
            self._record.status = status.value
            self._record.exit_code = exit_code
            self._record.ended = now_iso()
            save_record(self.store, self._record)
            logger.info("job %s %s (exit code %s)", self.id, status.value, exit_code)
        return status

    def _observe(self) -> tuple[JobStatus, int | None]:
        # Ask the backend first: the runner writes its result before it exits, so a result
        # absent now is absent for good when the backend has just reported the process gone.
        backend_status = self._backend().poll(self)
        if self.store.job_file_exists(self.id, results.RESULT_FILE):
            record = results.read_record(self.store, self.id)
            exit_code = results.EXIT_OK if record.ok else self._backend().exit_code(self)
            return (JobStatus.SUCCEEDED if record.ok else JobStatus.FAILED), exit_code
        if self.store.job_file_exists(self.id, CANCELLED_FILE):
            return JobStatus.CANCELLED, None
        return backend_status

    def logs(self, follow: bool = False) -> Any:
        """Return the job's output so far as one string, or with ``follow=True`` an iterator of
        lines that ends when the job ends."""
        if follow:
            return split_lines(self._backend().follow_output(self))
        return self._backend().read_logs(self)

    def follow_output(self) -> Iterator[bytes]:
        """The job's raw output as it arrives, until the job ends; carriage returns (progress
        bars) pass through unchanged."""
        return self._backend().follow_output(self)

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the job finishes; raise JobTimeout after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.01
        while True:
            status = self.status()
            if status.finished:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeout(
                    f"job {self.id} is still {status.value} after {timeout:g} s; it keeps "
                    f"running: wait again, follow it with `kinetic jobs logs -f {self.id}`, or "
                    f"cancel it with `kinetic jobs cancel {self.id}`"
                )
            self._backend().wait_for_change(self, delay)
            delay = min(delay * 1.5, 0.25)

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the job and return its value, or raise the remote exception."""
        status = self.wait(timeout)
        if self.store.job_file_exists(self.id, results.RESULT_FILE):
            record = results.read_record(self.store, self.id)
            if record.ok:
                return results.load_value(self.store, self.id, record)
            if record.phase == "execute":
                raise results.rebuild_exception(record)
            raise self._runner_failure(record)
        if status is JobStatus.CANCELLED:
            raise JobCancelled(f"job {self.id} was cancelled before it returned a result")
        submit_error = self._record.backend_state.get("submit_error")
        if submit_error:
            raise JobFailed(f"job {self.id} never started: the {self._record.backend} backend "
                            f"failed to submit it: {submit_error}", job_id=self.id)
        exit_code = self._record.exit_code
        raise JobFailed(
            f"job {self.id} ended with exit code {exit_code} without writing a result; "
            f"the process was killed or crashed (out of memory is a common cause). "
            f"Read its output with `kinetic jobs logs {self.id}`",
            job_id=self.id, exit_code=exit_code,
        )

    def _runner_failure(self, record: results.ResultRecord) -> JobFailed:
        error = record.error or {}
        message = (f"job {self.id} failed in the {record.phase} phase: {error.get('type')}: "
                   f"{error.get('message')}")
        if error.get("type") == "ModuleNotFoundError":
            message += ("\nThe job's environment lacks a module the function needs: add its "
                        "package to requirements.txt (or requirements= on the decorator).")
        if record.phase != "serialize-result":
            message += f"\nThe runner's traceback is in `kinetic jobs logs {self.id}`."
        return JobFailed(message, job_id=self.id, phase=record.phase,
                         exit_code=self._record.exit_code)

    def cancel(self) -> None:
        """Stop the job. Cancelling a finished job does nothing."""
        if self.status().finished:
            return
        self.store.write_job_file(self.id, CANCELLED_FILE, now_iso().encode())
        self._backend().cancel(self)
        logger.info("cancelled job %s", self.id)
        self.status()

    def plan(self) -> Any:
        """Return the plan written when the job was submitted (a ``kinetic.plan.Plan``)."""
        from kinetic.plan import Plan

        if not self.store.job_file_exists(self.id, PLAN_FILE):
            raise JobNotFound(f"job {self.id} has no plan; it was submitted by a kinetic "
                              f"version that did not write one")
        return Plan.from_dict(json.loads(self.store.read_job_file(self.id, PLAN_FILE)))


def attach(job_id: str, store: str | None = None) -> JobHandle:
    """Return a handle to the job ``job_id`` in ``store`` (default: the configured store)."""
    return JobHandle(job_id, open_store(store) if store else _default_store())


def list_jobs(store: str | None = None) -> list[JobHandle]:
    """Return a handle to every job in the store, oldest first."""
    opened = open_store(store) if store else _default_store()
    handles = []
    for job_id in opened.list_job_ids():
        try:
            handles.append(JobHandle(job_id, opened))
        except (JobNotFound, ValueError, TypeError) as exc:
            logger.debug("skipping %s: %s", job_id, exc)
    return handles


def _default_store() -> LocalStore:
    from kinetic.config import resolve

    return open_store(resolve({}).store)


def follow_file(handle: JobHandle, path) -> Iterator[bytes]:
    """Yield the bytes appended to ``path`` as they are written, until the job finishes."""
    position = 0
    delay = 0.005
    while True:
        finished = handle.status().finished
        try:
            with open(path, "rb") as file:
                file.seek(position)
                chunk = file.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            position += len(chunk)
            yield chunk
            delay = 0.005
            continue
        if finished:  # observed before the read above, so nothing more will be written
            return
        handle._backend().wait_for_change(handle, delay)
        delay = min(delay * 2, 0.1)


def split_lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """Turn a stream of byte chunks into text lines (the last one may lack a newline)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace")
    if pending:
        yield pending.decode(errors="replace")
