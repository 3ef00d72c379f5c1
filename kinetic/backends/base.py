"""The backend protocol, and the behaviour backends share."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Protocol

if TYPE_CHECKING:
    from kinetic.jobs import JobHandle, JobRecord, JobStatus
    from kinetic.store.local import LocalStore


class Backend(Protocol):
    """Starts, observes and stops jobs. The ``JobHandle`` reads result records and cancel
    markers, so ``poll`` reports only the backend's own view of the job."""

    name: str

    def submit(self, record: "JobRecord", store: "LocalStore", env: dict[str, str]) -> None:
        """Start the job. ``env`` contains extra environment variables for the runner process,
        secrets included, so it must never be written to the store."""

    def poll(self, handle: "JobHandle") -> tuple["JobStatus", int | None]:
        """Return the job's status and exit code from the backend's view (no result record yet)."""

    def exit_code(self, handle: "JobHandle") -> int | None:
        """Return the runner's exit code once it has ended, else None."""

    def cancel(self, handle: "JobHandle") -> None:
        """Stop the job and release what it holds."""

    def read_logs(self, handle: "JobHandle") -> str:
        """Return the job's output so far."""

    def follow_output(self, handle: "JobHandle") -> Iterator[bytes]:
        """Yield output bytes as they arrive, until the job ends."""

    def wait_for_change(self, handle: "JobHandle", delay: float) -> None:
        """Block for at most ``delay`` seconds, returning early if the backend can tell the
        job changed."""


def runner_variables(record: "JobRecord", job_dir: Path) -> dict[str, str]:
    """Return the environment variables every backend gives the runner of a job whose store
    folder is ``job_dir``."""
    return {
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        "KINETIC_JOB_ID": record.id,
        "KINETIC_INSIDE_JOB": "1",
        "KINETIC_OUTPUT_DIR": str(job_dir / "outputs"),
        "KINETIC_WORK_DIR": str(job_dir / "work"),
    }


class FileLogsMixin:
    """Logs kept in the job's ``logs.txt`` in the store."""

    def read_logs(self, handle: "JobHandle") -> str:
        from kinetic.jobs import LOG_FILE

        path = handle.store.job_dir(handle.id) / LOG_FILE
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def follow_output(self, handle: "JobHandle") -> Iterator[bytes]:
        from kinetic.jobs import LOG_FILE, follow_file

        return follow_file(handle, handle.store.job_dir(handle.id) / LOG_FILE)

    def wait_for_change(self, handle: "JobHandle", delay: float) -> None:
        time.sleep(delay)
