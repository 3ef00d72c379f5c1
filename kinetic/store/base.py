"""The storage interface that client, backends and runner share.

A store holds two kinds of artifact. Blobs are content-addressed: each is named by the sha256 of
its bytes and is written once. Job files live under ``jobs/<job id>/`` (``job.json``, the payload,
the result record, logs). Every write is atomic: a reader sees the whole file or none of it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO, Callable, Protocol, runtime_checkable

CHUNK_SIZE = 1024 * 1024


@runtime_checkable
class Store(Protocol):
    """The storage of payloads, archives, results and job records."""

    uri: str

    def has_blob(self, sha256: str) -> bool:
        """Return whether a blob with this sha256 exists."""

    def put_blob_file(self, path: Path, sha256: str) -> None:
        """Store the file at ``path`` as blob ``sha256``; the caller computed the hash."""

    def fetch_blob(self, sha256: str, destination: Path) -> None:
        """Copy blob ``sha256`` to ``destination``; raise IntegrityError if its hash differs."""

    def write_job_file(self, job_id: str, name: str, data: bytes) -> None:
        """Atomically write ``jobs/<job_id>/<name>``."""

    def write_job_file_from(self, job_id: str, name: str,
                            write: Callable[[BinaryIO], None]) -> None:
        """Atomically write ``jobs/<job_id>/<name>`` by streaming through ``write(file)``."""

    def read_job_file(self, job_id: str, name: str) -> bytes:
        """Read ``jobs/<job_id>/<name>``; raise FileNotFoundError if it is missing."""

    def open_job_file(self, job_id: str, name: str) -> BinaryIO:
        """Open ``jobs/<job_id>/<name>`` for streaming reads."""

    def job_file_exists(self, job_id: str, name: str) -> bool:
        """Return whether ``jobs/<job_id>/<name>`` exists."""

    def list_job_ids(self) -> list[str]:
        """Return every job id in the store, oldest first."""

    def job_uri(self, job_id: str) -> str:
        """Return the URI the runner receives to find this job."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()
