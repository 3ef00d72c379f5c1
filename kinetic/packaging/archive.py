"""The project archive: the project's files as one content-addressed tar blob.

The archive is deterministic: members are sorted and carry no owner or timestamp, so the same
file contents always give the same sha256, and an unchanged project is never uploaded twice.
A manifest of paths, sizes and modification times, cached per project root, decides whether the
archive must be rebuilt at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kinetic.errors import PackagingError
from kinetic.store.local import LocalStore

logger = logging.getLogger("kinetic.packaging")

DEFAULT_EXCLUDES = (
    ".git/", ".venv/", "venv/", "__pycache__/", "node_modules/", "*.egg-info/", ".mypy_cache/",
    ".pytest_cache/", ".ipynb_checkpoints/", ".kinetic/",
)
CREDENTIAL_PATTERNS = (".env", ".env.*", "*.pem", "id_rsa*")
IGNORE_FILE = ".kineticignore"
MAX_EXTERNAL_LINK_BYTES = 256 * 1024 * 1024
LARGE_ARCHIVE_BYTES = 100 * 1000 * 1000
CREDENTIAL_JSON_MAX_BYTES = 1024 * 1024
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class ArchiveEntry:
    """One member: a file, or a symlink kept as a link (``link_target`` set)."""

    path: str
    source: str
    size: int
    mtime_ns: int
    mode: int
    link_target: str | None = None


@dataclass
class ProjectArchive:
    """A built (or reused) archive and what went into it."""

    root: Path
    sha256: str
    size: int
    file_count: int
    excluded: list[str] = field(default_factory=list)
    credentials_skipped: list[str] = field(default_factory=list)
    largest: list[tuple[str, int]] = field(default_factory=list)
    reused: bool = False


class _Walk:
    """The files of one project after excludes, gathered by ``os.scandir``."""

    def __init__(self, root: Path) -> None:
        import pathspec

        self.root = root
        self.entries: list[ArchiveEntry] = []
        self.excluded: list[str] = []
        self.ignore_text = _read_ignore_file(root)
        user_lines = self.ignore_text.splitlines()
        self.spec = pathspec.GitIgnoreSpec.from_lines(list(DEFAULT_EXCLUDES) + user_lines)
        negations = [line[1:] for line in user_lines if line.strip().startswith("!")]
        self.negated = pathspec.GitIgnoreSpec.from_lines(negations)
        self.credentials = pathspec.GitIgnoreSpec.from_lines(CREDENTIAL_PATTERNS)
        self.external_bytes = 0

    def run(self) -> None:
        self._walk_folder(self.root, "", set())
        self.entries.sort(key=lambda entry: entry.path)

    def _walk_folder(self, folder: Path, prefix: str, visiting: set[tuple[int, int]]) -> None:
        identity = _identity(folder)
        if identity in visiting:
            raise PackagingError(
                f"symlink loop at {folder}: it leads back to a folder already being archived. "
                f"Remove the link or add {prefix.rstrip('/') or '.'} to {IGNORE_FILE}"
            )
        visiting = visiting | {identity}
        try:
            children = sorted(os.scandir(folder), key=lambda child: child.name)
        except OSError as exc:
            raise PackagingError(f"cannot list {folder}: {exc}; fix its permissions or add it "
                                 f"to {IGNORE_FILE}") from exc
        for child in children:
            relative = prefix + child.name
            is_dir = child.is_dir()  # follows symlinks
            if self.spec.match_file(relative + "/" if is_dir else relative) or \
                    (is_dir and _is_environment(child.path)
                     and not self.negated.match_file(relative + "/")):
                self.excluded.append(relative + ("/" if is_dir else ""))
                continue
            if child.is_symlink():
                self._add_symlink(Path(child.path), relative, is_dir, visiting)
            elif is_dir:
                self._walk_folder(Path(child.path), relative + "/", visiting)
            elif child.is_file():
                info = child.stat()
                self.entries.append(ArchiveEntry(relative, child.path, info.st_size,
                                                 info.st_mtime_ns, stat.S_IMODE(info.st_mode)))

    def _add_symlink(self, link: Path, relative: str, is_dir: bool,
                     visiting: set[tuple[int, int]]) -> None:
        try:
            target = link.resolve(strict=True)
        except (FileNotFoundError, RuntimeError, OSError) as exc:
            if isinstance(exc, RuntimeError) or "loop" in str(exc).lower():
                raise PackagingError(f"symlink loop at {link}; remove the link or add "
                                     f"{relative} to {IGNORE_FILE}") from exc
            logger.warning("skipping broken symlink %s -> %s", relative, os.readlink(link))
            self.excluded.append(relative)
            return

        if _is_inside(target, self.root):
            link_target = os.path.relpath(target, link.parent.resolve())
            info = link.lstat()
            self.entries.append(ArchiveEntry(relative, str(link), 0, info.st_mtime_ns, 0o777,
                                             link_target=link_target))
            return

        if is_dir:
            self._walk_folder(target, relative + "/", visiting)
            return
        info = target.stat()
        self.external_bytes += info.st_size
        if self.external_bytes > MAX_EXTERNAL_LINK_BYTES:
            raise PackagingError(
                f"symlink {relative} points outside the project to {target} "
                f"({info.st_size:,} bytes), and files behind such links now total "
                f"{self.external_bytes:,} bytes, over the {MAX_EXTERNAL_LINK_BYTES:,} byte limit. "
                f"Add {relative} to {IGNORE_FILE} and read large data from cloud storage instead"
            )
        self.entries.append(ArchiveEntry(relative, str(target), info.st_size, info.st_mtime_ns,
                                         stat.S_IMODE(info.st_mode)))

    def drop_credentials(self) -> list[str]:
        """Remove credential files unless a negation in the ignore file names them."""
        kept: list[ArchiveEntry] = []
        skipped: list[str] = []
        for entry in self.entries:
            if entry.link_target is None and self._is_credential(entry) \
                    and not self.negated.match_file(entry.path):
                skipped.append(entry.path)
            else:
                kept.append(entry)
        self.entries = kept
        return skipped

    def _is_credential(self, entry: ArchiveEntry) -> bool:
        name = entry.path.rsplit("/", 1)[-1]
        if self.credentials.match_file(name):
            return True
        if name.endswith(".json") and entry.size <= CREDENTIAL_JSON_MAX_BYTES:
            try:
                return b'"private_key"' in Path(entry.source).read_bytes()
            except OSError:
                return False
        return False

    def manifest_digest(self) -> str:
        digest = hashlib.sha256()
        digest.update(f"{MANIFEST_FORMAT}\0{self.ignore_text}\0".encode())
        for entry in self.entries:
            digest.update(f"{entry.path}\0{entry.size}\0{entry.mtime_ns}\0{entry.mode}\0"
                          f"{entry.link_target}\0{entry.source}\n".encode())
        return digest.hexdigest()


def build_archive(root: Path, store: LocalStore, *, warn: bool = True) -> ProjectArchive:
    """Archive the project at ``root`` into ``store`` and return what was archived.

    Reuses the previous archive when the manifest (paths, sizes, modification times) is
    unchanged and its blob is still in the store. Credential files are left out with one warning
    naming them, unless a ``!`` line in ``.kineticignore`` names them.
    """
    root = root.resolve()
    walk = _Walk(root)
    walk.run()
    manifest_digest = walk.manifest_digest()

    cached = _read_cache(store, root)
    if cached and cached.get("manifest") == manifest_digest and store.has_blob(cached["sha256"]):
        archive = ProjectArchive(root, cached["sha256"], cached["size"], cached["file_count"],
                                 cached["excluded"], cached["credentials_skipped"],
                                 [tuple(item) for item in cached["largest"]], reused=True)
        _warn_credentials(archive.credentials_skipped, warn)
        return archive

    credentials = walk.drop_credentials()
    _warn_credentials(credentials, warn)
    sha256, size = _write_tar(walk.entries, store)
    largest = sorted(((entry.path, entry.size) for entry in walk.entries),
                     key=lambda item: -item[1])[:3]
    archive = ProjectArchive(root, sha256, size, len(walk.entries), walk.excluded,
                             credentials, largest)
    if size > LARGE_ARCHIVE_BYTES and warn:
        logger.warning(
            "the project archive of %s is %.0f MB and ships with every job; largest files: %s. "
            "Add data, checkpoints and outputs to %s and read them from cloud storage instead",
            root, size / 1e6, ", ".join(f"{path} ({item_size / 1e6:.0f} MB)"
                                        for path, item_size in largest), IGNORE_FILE)
    _write_cache(store, root, manifest_digest, archive)
    logger.info("archived %s: %d files, %d bytes, sha256 %s", root, archive.file_count, size,
                sha256[:12])
    return archive


def extract_archive(archive_path: Path, destination: Path) -> None:
    """Extract an archive built by build_archive; links may not leave ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive_path, "r:") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(destination, filter="data")
            return
        for member in tar.getmembers():  # Python without extraction filters
            target = (destination / member.name).resolve()
            if not _is_inside(target, destination.resolve()):
                raise PackagingError(f"archive member {member.name!r} escapes {destination}")
        tar.extractall(destination)


class _HashingWriter:
    """A file wrapper that hashes every byte written through it."""

    def __init__(self, file) -> None:
        self.file = file
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.file.write(data)

    def tell(self) -> int:
        return self.size


def _write_tar(entries: list[ArchiveEntry], store: LocalStore) -> tuple[str, int]:
    store.blobs_dir.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".archive.", suffix=".tmp",
                                             dir=store.blobs_dir)
    try:
        with os.fdopen(descriptor, "wb") as raw:
            writer = _HashingWriter(raw)
            with tarfile.open(fileobj=writer, mode="w", format=tarfile.PAX_FORMAT,
                              copybufsize=1024 * 1024) as tar:
                for entry in entries:
                    _add_member(tar, entry)
        sha256 = writer.digest.hexdigest()
        store.move_blob_file(Path(temporary), sha256)
        return sha256, writer.size
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _add_member(tar: tarfile.TarFile, entry: ArchiveEntry) -> None:
    info = tarfile.TarInfo(entry.path)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.link_target is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = entry.link_target
        info.mode = 0o777
        tar.addfile(info)
        return
    info.mode = entry.mode
    try:
        with open(entry.source, "rb") as file:
            info.size = os.fstat(file.fileno()).st_size
            tar.addfile(info, file)
    except OSError as exc:
        raise PackagingError(f"cannot read {entry.source}: {exc}; fix its permissions or add "
                             f"{entry.path} to {IGNORE_FILE}") from exc


def _warn_credentials(paths: list[str], warn: bool) -> None:
    if paths and warn:
        logger.warning(
            "left out %d credential file(s): %s. To ship one anyway, add a line '!PATH' to %s",
            len(paths), ", ".join(paths), IGNORE_FILE,
        )


def _cache_path(store: LocalStore, root: Path) -> Path:
    key = hashlib.sha256(str(root).encode()).hexdigest()[:32]
    return store.root / "cache" / "archives" / f"{key}.json"


def _read_cache(store: LocalStore, root: Path) -> dict | None:
    try:
        return json.loads(_cache_path(store, root).read_text())
    except (OSError, ValueError):
        return None


def _write_cache(store: LocalStore, root: Path, manifest: str, archive: ProjectArchive) -> None:
    path = _cache_path(store, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "manifest": manifest, "sha256": archive.sha256, "size": archive.size,
        "file_count": archive.file_count, "excluded": archive.excluded,
        "credentials_skipped": archive.credentials_skipped, "largest": archive.largest,
    }
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(record))
    os.replace(temporary, path)


def _read_ignore_file(root: Path) -> str:
    try:
        return (root / IGNORE_FILE).read_text()
    except FileNotFoundError:
        return ""


def _is_environment(folder: str) -> bool:
    """Return whether ``folder`` is a Python virtual or conda environment, whatever its name
    (``env/``, ``.env/``, ``myenv/``). Jobs never need one, because the image has its own
    packages."""
    return os.path.exists(os.path.join(folder, "pyvenv.cfg")) or \
        os.path.isdir(os.path.join(folder, "conda-meta"))


def _identity(folder: Path) -> tuple[int, int]:
    info = folder.stat()
    return info.st_dev, info.st_ino


def _is_inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False
