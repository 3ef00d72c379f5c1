"""Jobs: live logs, cancel, attach from another process, preflight errors, statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import kinetic

lock = threading.Lock()


def test_200k_lines_arrive_once_in_order():
    @kinetic.run(backend="local")
    def chatty(count):
        for number in range(count):
            print(number)
        return count

    job = chatty.submit(200_000)
    received = list(job.logs(follow=True))
    assert job.result(timeout=120) == 200_000
    assert len(received) == 200_000
    assert received == [str(number) for number in range(200_000)]


def test_first_line_arrives_before_job_ends(tmp_path):
    release = tmp_path / "release"

    @kinetic.run(backend="local")
    def two_phases(release_path):
        import time
        from pathlib import Path

        print("first", flush=True)
        while not Path(release_path).exists():
            time.sleep(0.01)
        print("second")
        return "done"

    job = two_phases.submit(str(release))
    lines = job.logs(follow=True)
    assert next(lines) == "first"
    assert job.status() is kinetic.JobStatus.RUNNING
    release.touch()
    assert list(lines) == ["second"]
    assert job.result(timeout=60) == "done"


def test_cancel_ends_process_group():
    @kinetic.run(backend="local")
    def forever():
        import subprocess
        import time

        subprocess.Popen(["sleep", "600"])  # a grandchild in the same process group
        print("started", flush=True)
        while True:
            time.sleep(1)

    job = forever.submit()
    assert next(job.logs(follow=True)) == "started"
    pgid = job.record.backend_state["pgid"]
    job.cancel()
    assert job.status() is kinetic.JobStatus.CANCELLED
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    with pytest.raises(kinetic.JobCancelled):
        job.result()


def test_captured_lock_named_by_preflight():
    @kinetic.run(backend="local")
    def train():
        with lock:
            return 1

    with pytest.raises(kinetic.SerializationError) as caught:
        train.submit()
    message = str(caught.value)
    assert "__globals__['lock']" in message
    assert "_thread.lock" in message
    assert "inside the function" in message


def test_attach_and_follow_from_second_process(tmp_path):
    release = tmp_path / "release"

    @kinetic.run(backend="local")
    def waits(release_path):
        import time
        from pathlib import Path

        for number in range(3):
            print("line", number, flush=True)
        while not Path(release_path).exists():
            time.sleep(0.01)
        print("after release")
        return 7

    job = waits.submit(str(release))
    follower = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, kinetic\n"
         "job = kinetic.attach(sys.argv[1])\n"
         "for line in job.logs(follow=True):\n"
         "    print(line, flush=True)\n"
         "print('result', job.result())\n",
         job.id],
        stdout=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    assert follower.stdout.readline().strip() == "line 0"
    release.touch()
    rest = follower.stdout.read()
    follower.wait(timeout=60)
    assert rest.splitlines() == ["line 1", "line 2", "after release", "result 7"]
    assert follower.returncode == 0


def test_list_jobs_and_status_values():
    @kinetic.run(backend="local")
    def value():
        return 3

    job = value.submit()
    assert job.result(timeout=60) == 3
    listed = kinetic.list_jobs()
    assert job in listed
    assert job.status() == "succeeded"
    record = json.loads((Path(os.environ["KINETIC_STORE"]) / "jobs" / job.id / "job.json")
                        .read_text())
    assert record["status"] == "succeeded"


def test_attach_unknown_job_names_it():
    with pytest.raises(kinetic.JobNotFound, match="no job 'nope-123'"):
        kinetic.attach("nope-123")


def test_local_backend_notice_once(capfd):
    import kinetic.submission as submission

    submission._local_notice_shown = False

    @kinetic.run(accelerator="tpu-v5e-8")
    def train():
        return 0.25

    assert train() == 0.25
    assert train() == 0.25
    err = capfd.readouterr().err
    assert err.count("kinetic: no cluster configured; running") == 1
    assert "locally on CPU (requested tpu-v5e-8)" in err


def test_staticmethod_stacking_rejected():
    with pytest.raises(TypeError, match="put @staticmethod above @kinetic.run"):
        class Trainer:
            @kinetic.run
            @staticmethod
            def fit():
                return 1


def test_env_forwarding_and_protected_names(monkeypatch):
    monkeypatch.setenv("WANDB_PROJECT", "pubmedqa")
    monkeypatch.setenv("WANDB_MODE", "offline")

    @kinetic.run(backend="local", env=["WANDB_*"])
    def read_env():
        import os

        return {name: os.environ.get(name) for name in ("WANDB_PROJECT", "WANDB_MODE")}

    assert read_env() == {"WANDB_PROJECT": "pubmedqa", "WANDB_MODE": "offline"}

    @kinetic.run(backend="local", env=["PYTHONPATH"])
    def protected():
        return 1

    with pytest.raises(kinetic.ConfigError, match="PYTHONPATH"):
        protected()


def test_output_dir_set_for_job():
    @kinetic.run(backend="local")
    def write_output():
        import os
        from pathlib import Path

        path = Path(os.environ["KINETIC_OUTPUT_DIR"]) / "metrics.json"
        path.write_text("{}")
        return str(path)

    assert Path(write_output()).read_text() == "{}"


def test_import_kinetic_stays_light():
    code = ("import sys, kinetic\n"
            "heavy = [m for m in ('kubernetes', 'google.cloud', 'docker', 'jax', 'keras', 'numpy')"
            " if m in sys.modules]\n"
            "print(','.join(heavy))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert output == ""


def test_progress_bar_output_streams_before_newline(tmp_path):
    release = tmp_path / "release"

    @kinetic.run(backend="local")
    def progress(release_path):
        import sys
        import time
        from pathlib import Path

        sys.stdout.write("epoch 1/3\r")
        sys.stdout.flush()
        while not Path(release_path).exists():
            time.sleep(0.01)
        sys.stdout.write("epoch 3/3\n")
        return "trained"

    job = progress.submit(str(release))
    chunks = job.follow_output()
    assert next(chunks) == b"epoch 1/3\r"
    release.touch()
    assert b"".join(chunks) == b"epoch 3/3\n"
    assert job.result(timeout=60) == "trained"


def test_payload_over_limit_names_largest_objects():
    big = b"x" * 200_000

    @kinetic.run(backend="local", max_payload_bytes=100_000)
    def uses(data):
        return len(data)

    with pytest.raises(kinetic.SerializationError) as caught:
        uses.submit(big)
    message = str(caught.value)
    assert "over the limit of 0.1 MB" in message
    assert "uses() argument 0" in message


def test_corrupt_archive_fails_in_verify_phase():
    from kinetic import submission
    from kinetic.backends.local import LocalBackend
    from kinetic.jobs import JobHandle

    def task():
        return 1

    prepared = submission.prepare(submission.FunctionCall(task, (), {}), "task", "function",
                                  Path(__file__).parent, {"backend": "local"})
    prepared.store.blob_path(prepared.archive.sha256).write_bytes(b"not the archive")
    job = submission.launch(prepared)
    with pytest.raises(kinetic.JobFailed) as caught:
        job.result(timeout=60)
    assert caught.value.phase == "verify"
    assert "corrupt" in str(caught.value)
    assert job.record.exit_code == 4


def test_timeout_stops_job_with_timeout_error():
    @kinetic.run(backend="local", timeout=1)
    def slow():
        import time

        time.sleep(600)

    job = slow.submit()
    with pytest.raises(TimeoutError, match="longer than its timeout of 1 s"):
        job.result(timeout=60)
    assert job.status() is kinetic.JobStatus.FAILED


def test_killed_job_fails_with_signal_exit_code():
    @kinetic.run(backend="local")
    def killed():
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)

    job = killed.submit()
    with pytest.raises(kinetic.JobFailed, match="without writing a result") as caught:
        job.result(timeout=60)
    assert caught.value.exit_code == -9


def test_missing_module_in_job_hints_requirements(tmp_path, monkeypatch):
    """A module the client has but the job cannot import fails in the unpickle phase with a
    hint about requirements."""
    from kinetic import submission

    module_dir = tmp_path / "outside"
    module_dir.mkdir()
    (module_dir / "client_only_lib.py").write_text("def scale(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(module_dir))
    import client_only_lib

    def uses():
        return client_only_lib.scale(2)

    prepared = submission.prepare(submission.FunctionCall(uses, (), {}), "uses", "function",
                                  Path(__file__).parent, {"backend": "local"})
    (module_dir / "client_only_lib.py").unlink()
    job = submission.launch(prepared)
    with pytest.raises(kinetic.JobFailed) as caught:
        job.result(timeout=60)
    assert caught.value.phase == "unpickle"
    assert "client_only_lib" in str(caught.value)
    assert "requirements.txt" in str(caught.value)
