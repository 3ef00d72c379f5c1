"""The local backend: the runner in a subprocess of this interpreter, in its own process group.

Output goes to the job's ``logs.txt`` (stdout and stderr merged in the order written), which
any process can follow. The process id is kept in ``job.json`` so another process can observe
or cancel the job.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kinetic.backends.base import FileLogsMixin, runner_variables
from kinetic.errors import BackendError

if TYPE_CHECKING:
    from kinetic.jobs import JobHandle, JobRecord, JobStatus
    from kinetic.store.local import LocalStore

logger = logging.getLogger("kinetic.backends.local")

CANCEL_GRACE_SECONDS = 5.0
EXIT_CODE_FILE = "exit_code"

# Processes this interpreter started, so that their exit is reaped and their code known.
_children: dict[str, subprocess.Popen] = {}


class LocalBackend(FileLogsMixin):
    """Runs jobs as subprocesses on this machine."""

    name = "local"

    def submit(self, record: "JobRecord", store: "LocalStore", env: dict[str, str]) -> None:
        from kinetic.jobs import LOG_FILE, save_record

        job_dir = store.job_dir(record.id)
        process_env = runner_environment(record, job_dir, env)
        command = [sys.executable, "-m", "kinetic.runner", store.job_uri(record.id)]
        with open(job_dir / LOG_FILE, "ab") as log:
            try:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, env=process_env,
                                           cwd=job_dir, start_new_session=True)
            except OSError as exc:
                raise BackendError(f"cannot start {command[0]} for job {record.id}: {exc}") \
                    from exc
        _children[record.id] = process
        record.backend_state = {"pid": process.pid, "pgid": process.pid,
                                "start_time": _process_start_time(process.pid)}
        save_record(store, record)
        logger.info("started job %s as process %d", record.id, process.pid)

    def poll(self, handle: "JobHandle") -> tuple["JobStatus", int | None]:
        from kinetic.jobs import JobStatus

        if _is_running(handle):
            return JobStatus.RUNNING, None
        return JobStatus.FAILED, self.exit_code(handle)

    def exit_code(self, handle: "JobHandle") -> int | None:
        process = _children.get(handle.id)
        if process is not None:
            code = process.poll()
            if code is not None:
                return code
        path = handle.store.job_dir(handle.id) / EXIT_CODE_FILE
        try:
            return int(path.read_text())
        except (OSError, ValueError):
            return None

    def wait_for_change(self, handle: "JobHandle", delay: float) -> None:
        """Sleep up to ``delay`` seconds, waking at once when a child of this process exits."""
        process = _children.get(handle.id)
        if process is None:
            time.sleep(delay)
            return
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass

    def cancel(self, handle: "JobHandle") -> None:
        pgid = handle.record.backend_state.get("pgid")
        if pgid is None or not _is_running(handle):
            return
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        while _group_exists(pgid, handle.id) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _group_exists(pgid, handle.id):
            logger.warning("job %s did not stop within %.0f s of SIGTERM; sending SIGKILL",
                           handle.id, CANCEL_GRACE_SECONDS)
            _signal_group(pgid, signal.SIGKILL)
        process = _children.get(handle.id)
        if process is not None:
            process.wait()


def runner_environment(record: "JobRecord", job_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    """Return the runner's environment: this process's, plus the job's variables."""
    env = dict(os.environ)
    env.update(extra)
    env.update(runner_variables(record, job_dir))
    return env


def _is_running(handle: "JobHandle") -> bool:
    process = _children.get(handle.id)
    if process is not None:
        return process.poll() is None
    state = handle.record.backend_state
    pid = state.get("pid")
    if pid is None:
        return False
    if _process_start_time(pid) != state.get("start_time"):
        return False  # the process is gone, or its id now belongs to another process
    return _process_alive(pid)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    except (OSError, IndexError):
        return True


def _process_start_time(pid: int) -> str | None:
    """Return the kernel's start time of ``pid`` (Linux), to tell a reused process id apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _signal_group(pgid: int, signal_number: int) -> None:
    try:
        os.killpg(pgid, signal_number)
    except ProcessLookupError:
        pass


def _group_exists(pgid: int, job_id: str) -> bool:
    process = _children.get(job_id)
    if process is not None:
        process.poll()
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
