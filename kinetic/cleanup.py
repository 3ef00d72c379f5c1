"""Removing finished jobs and the blobs no job needs any more from a store."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field

from kinetic.jobs import list_jobs
from kinetic.store.local import LocalStore

logger = logging.getLogger("kinetic")


@dataclass
class CleanupReport:
    """The jobs and blobs a cleanup removed (or, in a dry run, would remove)."""

    jobs: list[str] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    bytes_freed: int = 0


def clean_store(store: LocalStore, *, older_than_days: float, dry_run: bool = False) -> CleanupReport:
    """Remove finished jobs created more than ``older_than_days`` days ago, then every blob
    that no remaining job uses. Pending and running jobs are never removed."""
    report = CleanupReport()
    cutoff = time.time() - older_than_days * 86400
    for handle in list_jobs(str(store.root)):
        job_dir = store.job_dir(handle.id)
        if not handle.status().finished or job_dir.stat().st_mtime > cutoff:
            continue
        report.jobs.append(handle.id)
        report.bytes_freed += _folder_size(job_dir)
        if not dry_run:
            shutil.rmtree(job_dir, ignore_errors=True)
            logger.info("removed job %s", handle.id)

    used = _blobs_in_use(store, set(report.jobs) if dry_run else set())
    if store.blobs_dir.exists():
        for entry in os.scandir(store.blobs_dir):
            if entry.is_file() and not entry.name.startswith(".") and entry.name not in used:
                report.blobs.append(entry.name)
                report.bytes_freed += entry.stat().st_size
                if not dry_run:
                    os.unlink(entry.path)
    return report


def _blobs_in_use(store: LocalStore, ignored_jobs: set[str]) -> set[str]:
    used = set()
    for job_id in store.list_job_ids():
        if job_id in ignored_jobs:
            continue
        try:
            record = json.loads(store.read_job_file(job_id, "job.json"))
        except (OSError, ValueError):
            continue
        used.add(record.get("archive_sha256"))
    return used


def _folder_size(folder) -> int:
    total = 0
    for path, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(path, name)).st_size
            except OSError:
                continue
    return total
