"""Remote exceptions come back as the same type, with the remote frames, or as RemoteError."""

from __future__ import annotations

import traceback

import pytest

import kinetic


class NoArgumentError(Exception):
    def __init__(self):
        super().__init__("raised without arguments")


class DetailedError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def test_value_error_keeps_type_and_remote_line():
    @kinetic.run(backend="local")
    def fail():
        raise ValueError("learning rate must be positive, got -1")

    with pytest.raises(ValueError, match="learning rate must be positive") as caught:
        fail()
    frames = traceback.extract_tb(caught.value.__traceback__)
    assert frames[-1].name == "fail"
    assert frames[-1].filename == __file__
    assert "raise ValueError" in frames[-1].line
    assert not any("kinetic/runner" in frame.filename for frame in frames)


def test_exception_without_constructor_arguments():
    @kinetic.run(backend="local")
    def fail():
        raise NoArgumentError()

    with pytest.raises(NoArgumentError, match="raised without arguments"):
        fail()


def test_exception_with_extra_attributes():
    @kinetic.run(backend="local")
    def fail():
        error = DetailedError("quota exceeded", code=429)
        error.retry_after = 30
        raise error

    with pytest.raises(DetailedError) as caught:
        fail()
    assert caught.value.code == 429
    assert caught.value.retry_after == 30


def test_exception_class_only_in_job_code(tmp_path):
    @kinetic.run(backend="local")
    def fail(folder):
        import sys

        with open(f"{folder}/remote_only_errors.py", "w") as file:
            file.write("class ShardMissing(Exception):\n    pass\n")
        sys.path.insert(0, folder)
        import remote_only_errors

        raise remote_only_errors.ShardMissing("shard 7 of 8 is missing")

    job_folder = tmp_path / "job-only"
    job_folder.mkdir()
    with pytest.raises(kinetic.RemoteError) as caught:
        fail(str(job_folder))
    assert caught.value.type_name == "remote_only_errors.ShardMissing"
    assert "shard 7 of 8 is missing" in str(caught.value)
    assert "raise remote_only_errors.ShardMissing" in caught.value.remote_traceback


def test_unpicklable_return_value_reports_type():
    @kinetic.run(backend="local")
    def make_lock():
        import threading

        return threading.Lock()

    with pytest.raises(kinetic.JobFailed) as caught:
        make_lock()
    assert caught.value.phase == "serialize-result"
    assert "_thread.lock" in str(caught.value)


def test_unpicklable_exception_still_reported():
    @kinetic.run(backend="local")
    def fail():
        import threading

        class LockedError(Exception):
            pass

        error = LockedError("holding a lock")
        error.lock = threading.Lock()
        raise error

    with pytest.raises(kinetic.RemoteError) as caught:
        fail()
    assert caught.value.type_name.endswith("LockedError")
    assert "holding a lock" in str(caught.value)


def test_sys_exit_nonzero_fails_with_code():
    @kinetic.run(backend="local")
    def leave():
        raise SystemExit(7)

    job = leave.submit()
    assert job.wait(timeout=60) is kinetic.JobStatus.FAILED
    assert job.record.exit_code == 7
    with pytest.raises(SystemExit):
        job.result()
