"""`kinetic jobs clean` removes finished jobs and unused archives, never running jobs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import kinetic
from kinetic.cleanup import clean_store
from kinetic.store.local import open_store


def age(job, days: float) -> None:
    job_dir = Path(os.environ["KINETIC_STORE"]) / "jobs" / job.id
    past = time.time() - days * 86400
    os.utime(job_dir, (past, past))


def test_clean_removes_old_finished_jobs_only(tmp_path):
    release = tmp_path / "release"

    @kinetic.run(backend="local")
    def quick():
        return 1

    @kinetic.run(backend="local")
    def waits(path):
        import time
        from pathlib import Path

        while not Path(path).exists():
            time.sleep(0.01)

    old = quick.submit()
    assert old.result(timeout=60) == 1
    recent = quick.submit()
    assert recent.result(timeout=60) == 1
    running = waits.submit(str(release))
    age(old, 10)
    age(running, 10)

    store = open_store(os.environ["KINETIC_STORE"])
    preview = clean_store(store, older_than_days=7, dry_run=True)
    assert preview.jobs == [old.id]
    assert (store.job_dir(old.id) / "job.json").exists()

    report = clean_store(store, older_than_days=7)
    assert report.jobs == [old.id]
    assert not store.job_dir(old.id).exists()
    assert store.job_dir(recent.id).exists()
    assert store.job_dir(running.id).exists()
    assert store.has_blob(recent.record.archive_sha256)  # still used by the remaining jobs
    release.touch()
    running.wait(timeout=60)


def test_clean_removes_unused_archives():
    store = open_store(os.environ["KINETIC_STORE"])
    store.blobs_dir.mkdir(parents=True, exist_ok=True)
    (store.blobs_dir / ("ab" * 32)).write_bytes(b"an archive no job uses")
    report = clean_store(store, older_than_days=7)
    assert report.blobs == ["ab" * 32]
    assert not store.has_blob("ab" * 32)
