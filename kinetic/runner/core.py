"""The runner: fetch and verify a job, restore its environment, call it, write the result.

Each step is a phase (fetch, verify, extract, unpickle, execute, serialize-result); a failure
in any phase is written as a failure record naming it. The runner exits with
``results.EXIT_OK``, ``EXIT_USER_ERROR`` (the user's code raised or exited non-zero) or
``EXIT_RUNNER_ERROR``, and it ends with ``os._exit`` so that stray non-daemon threads cannot
keep it alive. In a multi-host job only worker 0 (``TPU_WORKER_ID``, else
``JOB_COMPLETION_INDEX``, default 0) writes the result.
"""

from __future__ import annotations

import fnmatch
import json
import os
import runpy
import shutil
import sys
import tempfile
import threading
import traceback
from pathlib import Path

from kinetic import results
from kinetic.packaging.archive import extract_archive
from kinetic.packaging.payload import FunctionCall, ScriptRun, load_payload
from kinetic.store.base import sha256_bytes
from kinetic.store.local import open_store, path_from_uri

# Variables that describe the machine the job runs on; a forwarded value would break it.
PROTECTED_ENV = (
    "PATH", "HOME", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "KUBECONFIG",
    "GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_*", "LD_LIBRARY_PATH", "LD_PRELOAD",
    "DYLD_*", "USER", "LOGNAME", "SHELL", "PWD", "TMPDIR", "HOSTNAME", "KUBERNETES_*",
    "TPU_*", "JOB_COMPLETION_INDEX", "KINETIC_*", "CUDA_VISIBLE_DEVICES", "NVIDIA_*",
    "SSH_*", "DOCKER_*", "CONDA_*",
)


class PhaseError(Exception):
    """An exception raised in ``phase``, carrying the original."""

    def __init__(self, phase: str, original: BaseException) -> None:
        super().__init__(phase)
        self.phase = phase
        self.original = original


def is_protected(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in PROTECTED_ENV)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m kinetic.runner JOB_URI", file=sys.stderr)
        return results.EXIT_RUNNER_ERROR
    job_uri = argv[0]
    job_dir = path_from_uri(job_uri)
    store = open_store(str(job_dir.parent.parent))
    job_id = job_dir.name
    _line_buffer_output()

    code, outcome = _run(store, job_id)
    if _is_worker_zero():
        code = _write_result(store, job_id, code, outcome)
    try:
        store.write_job_file(job_id, "exit_code", str(code).encode())
    except OSError:
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class _Success:
    def __init__(self, value: object) -> None:
        self.value = value


def _run(store, job_id: str) -> tuple[int, _Success | PhaseError]:
    """Run the job's phases; return the exit code and the value or the failure."""
    keep = os.environ.get("KINETIC_KEEP", "") in ("1", "true")
    work_dir = Path(os.environ.get("KINETIC_WORK_DIR") or tempfile.mkdtemp(prefix="kinetic-"))
    try:
        return results.EXIT_OK, _Success(_execute(store, job_id, work_dir))
    except PhaseError as failure:
        if failure.phase != "execute":
            print(f"kinetic runner: {failure.phase} failed:", file=sys.stderr)
            traceback.print_exception(type(failure.original), failure.original,
                                      failure.original.__traceback__)
        else:
            _print_user_traceback(failure.original)
        code = results.EXIT_USER_ERROR if failure.phase == "execute" else \
            results.EXIT_RUNNER_ERROR
        if isinstance(failure.original, SystemExit) and isinstance(failure.original.code, int):
            code = failure.original.code or results.EXIT_USER_ERROR
        return code, failure
    finally:
        if not keep:
            shutil.rmtree(work_dir, ignore_errors=True)


def _write_result(store, job_id: str, code: int, outcome: _Success | PhaseError) -> int:
    """Write the result record; return the exit code, which changes if the value cannot be
    serialized."""
    if isinstance(outcome, PhaseError):
        results.write_failure(store, job_id, outcome.original, outcome.phase)
        return code
    try:
        results.write_success(store, job_id, outcome.value)
        return code
    except Exception as exc:
        print(f"kinetic runner: serialize-result failed: {exc}", file=sys.stderr)
        results.write_failure(store, job_id, exc, "serialize-result")
        return results.EXIT_RUNNER_ERROR


def _execute(store, job_id: str, work_dir: Path):
    try:
        record = json.loads(store.read_job_file(job_id, "job.json"))
        payload_bytes = store.read_job_file(job_id, "payload.pkl")
        archive_path = work_dir / "archive.tar"
        work_dir.mkdir(parents=True, exist_ok=True)
    except Exception as exc:
        raise PhaseError("fetch", exc) from exc

    try:
        actual = sha256_bytes(payload_bytes)
        if actual != record["payload_sha256"]:
            raise ValueError(f"payload sha256 is {actual}, expected {record['payload_sha256']}")
        store.fetch_blob(record["archive_sha256"], archive_path)
    except Exception as exc:
        raise PhaseError("verify", exc) from exc

    project = _extraction_folder(record, work_dir)
    try:
        extract_archive(archive_path, project)
        archive_path.unlink()
        _restore_paths(project, record)
    except Exception as exc:
        raise PhaseError("extract", exc) from exc

    try:
        target, env = load_payload(payload_bytes)
        _apply_env(env)
    except BaseException as exc:
        raise PhaseError("unpickle", exc) from exc

    output_dir = os.environ.setdefault("KINETIC_OUTPUT_DIR", str(work_dir / "outputs"))
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    if record.get("timeout"):
        _start_deadline(store, job_id, float(record["timeout"]))
    return _call(target, project)


def _start_deadline(store, job_id: str, timeout: float) -> None:
    """End the job with a TimeoutError failure record once it has run ``timeout`` seconds."""

    def expire() -> None:
        error = TimeoutError(f"the job ran longer than its timeout of {timeout:g} s and was "
                             f"stopped; raise timeout= or make the job shorter")
        print(f"kinetic runner: {error}", file=sys.stderr, flush=True)
        if _is_worker_zero():
            results.write_failure(store, job_id, error, "execute")
        store.write_job_file(job_id, "exit_code", str(results.EXIT_USER_ERROR).encode())
        sys.stdout.flush()
        os._exit(results.EXIT_USER_ERROR)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()


def _call(target: FunctionCall | ScriptRun, project: Path):
    try:
        if isinstance(target, ScriptRun):
            script = project / target.script
            sys.argv = [str(script), *target.argv]
            sys.path.insert(0, str(script.parent))
            runpy.run_path(str(script), run_name="__main__")
            return None
        return target.function(*target.args, **target.kwargs)
    except SystemExit as exc:
        if exc.code in (None, 0):
            return None
        raise PhaseError("execute", exc) from exc
    except BaseException as exc:
        raise PhaseError("execute", exc) from exc


def _extraction_folder(record: dict, work_dir: Path) -> Path:
    """Return the folder to extract the project into.

    Inside a container that is the client's own root path, so absolute paths captured on the
    client (``__file__``, config entries) resolve the same way. Elsewhere it is a folder in the
    work directory.
    """
    client_root = Path(record.get("root") or "")
    if os.environ.get("KINETIC_EXTRACT_AT_CLIENT_PATH") == "1" and client_root.is_absolute() \
            and not client_root.exists():
        try:
            client_root.mkdir(parents=True)
            return client_root
        except OSError as exc:
            print(f"kinetic runner: cannot create {client_root} ({exc}); extracting the project "
                  f"under {work_dir}", file=sys.stderr)
    return work_dir / "project"


def _restore_paths(project: Path, record: dict) -> None:
    cwd = project / record["cwd"] if record.get("cwd") is not None else project
    cwd.mkdir(parents=True, exist_ok=True)
    os.chdir(cwd)
    restored = []
    for entry in record.get("sys_path", []):
        if entry.startswith("root:"):
            restored.append(str(project / entry[len("root:"):]))
    sys.path[:0] = [path for path in restored if path not in sys.path]


def _apply_env(env: dict[str, str]) -> None:
    for name, value in env.items():
        if is_protected(name):
            print(f"kinetic runner: not forwarding {name}: it describes the machine the job "
                  f"runs on", file=sys.stderr)
            continue
        os.environ[name] = value


def _print_user_traceback(exc: BaseException) -> None:
    if isinstance(exc, SystemExit):
        print(f"kinetic runner: the job exited with code {exc.code}", file=sys.stderr)
        return
    frames = traceback.extract_tb(exc.__traceback__)
    user_frames = [frame for frame in frames if "/kinetic/runner/" not in frame.filename]
    print("Traceback (most recent call last):", file=sys.stderr)
    print("".join(traceback.format_list(user_frames)), end="", file=sys.stderr)
    print("".join(traceback.format_exception_only(type(exc), exc)), end="", file=sys.stderr)


def _is_worker_zero() -> bool:
    worker = os.environ.get("TPU_WORKER_ID") or os.environ.get("JOB_COMPLETION_INDEX") or "0"
    return worker.strip() == "0"


def _line_buffer_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):
            pass
