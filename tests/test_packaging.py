"""Project root, archive contents, credentials, symlinks and the unchanged-project cache."""

from __future__ import annotations

import logging
import os
import tarfile

import pytest

from conftest import write_project
from kinetic.errors import PackagingError
from kinetic.packaging.archive import build_archive, extract_archive
from kinetic.packaging.project import find_project_root
from kinetic.store.local import LocalStore


def members(store: LocalStore, sha256: str) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(store.blob_path(sha256)) as tar:
        return {member.name: member for member in tar.getmembers()}


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "store")


def test_root_found_above_packages(tmp_path):
    write_project(tmp_path / "proj", {
        "setup.cfg": "", "src/app/__init__.py": "", "src/app/models/__init__.py": "",
    })
    assert find_project_root(tmp_path / "proj/src/app/models") == tmp_path / "proj"


def test_root_without_marker_is_first_folder_outside_packages(tmp_path):
    write_project(tmp_path / "loose", {"pkg/__init__.py": ""})
    assert find_project_root(tmp_path / "loose/pkg") == tmp_path / "loose"


def test_root_override_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("KINETIC_PROJECT_ROOT", str(tmp_path / "missing"))
    with pytest.raises(Exception, match="KINETIC_PROJECT_ROOT=.*missing.* is not a folder"):
        find_project_root()


def test_default_excludes_and_ignore_file(tmp_path, store):
    root = tmp_path / "proj"
    write_project(root, {
        "pyproject.toml": "", "train.py": "print(1)\n", ".git/config": "[core]\n",
        ".venv/lib/x.py": "", "pkg/__pycache__/a.pyc": "", "node_modules/m.js": "",
        "demo.egg-info/PKG-INFO": "", "data/big.bin": "x" * 10, "data/keep.bin": "y",
        ".kineticignore": "data/*\n!data/keep.bin\n",
    })
    archive = build_archive(root, store)
    names = set(members(store, archive.sha256))
    assert names == {"pyproject.toml", "train.py", "data/keep.bin", ".kineticignore"}
    assert ".git/" in archive.excluded
    assert "data/big.bin" in archive.excluded


def test_credentials_left_out_with_one_warning(tmp_path, store, caplog):
    root = tmp_path / "proj"
    write_project(root, {
        "requirements.txt": "", ".env": "TOKEN=1", ".env.prod": "TOKEN=2", "key.pem": "-----",
        "id_rsa": "k", "sa-key.json": '{"type": "service_account", "private_key": "x"}',
        "config.json": '{"lr": 0.1}',
    })
    with caplog.at_level(logging.WARNING, logger="kinetic"):
        archive = build_archive(root, store)
    names = set(members(store, archive.sha256))
    assert names == {"requirements.txt", "config.json"}
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1
    for name in (".env", ".env.prod", "key.pem", "id_rsa", "sa-key.json"):
        assert name in warnings[0]


def test_credential_negation_ships_file(tmp_path, store):
    root = tmp_path / "proj"
    write_project(root, {"requirements.txt": "", ".env": "A=1", ".kineticignore": "!.env\n"})
    archive = build_archive(root, store)
    assert ".env" in members(store, archive.sha256)


def test_symlinks_inside_kept_outside_followed(tmp_path, store):
    root = tmp_path / "proj"
    outside = tmp_path / "shared-data"
    write_project(root, {"requirements.txt": "", "configs/base.yaml": "a: 1\n"})
    write_project(outside, {"vocab.txt": "hello\n"})
    os.symlink("configs/base.yaml", root / "current.yaml")
    os.symlink(outside / "vocab.txt", root / "vocab.txt")
    archive = build_archive(root, store)
    entries = members(store, archive.sha256)
    assert entries["current.yaml"].issym()
    assert entries["current.yaml"].linkname == "configs/base.yaml"
    assert entries["vocab.txt"].isfile()

    destination = tmp_path / "extracted"
    extract_archive(store.blob_path(archive.sha256), destination)
    assert (destination / "current.yaml").read_text() == "a: 1\n"
    assert (destination / "vocab.txt").read_text() == "hello\n"


def test_symlink_loop_detected(tmp_path, store):
    root = tmp_path / "proj"
    outside = tmp_path / "outside"
    write_project(root, {"requirements.txt": ""})
    outside.mkdir()
    os.symlink(outside, outside / "self")
    os.symlink(outside, root / "out")
    with pytest.raises(PackagingError, match="symlink loop"):
        build_archive(root, store)


def test_unchanged_project_reused_and_content_addressed(tmp_path, store):
    root = tmp_path / "proj"
    write_project(root, {"requirements.txt": "", "a.py": "x = 1\n"})
    first = build_archive(root, store)
    second = build_archive(root, store)
    assert second.reused
    assert second.sha256 == first.sha256

    os.utime(root / "a.py", ns=(1, 1))  # same bytes, new time: rebuilt, same name
    third = build_archive(root, store)
    assert not third.reused
    assert third.sha256 == first.sha256

    (root / "a.py").write_text("x = 2\n")
    fourth = build_archive(root, store)
    assert fourth.sha256 != first.sha256


def test_corrupt_blob_detected(tmp_path, store):
    root = tmp_path / "proj"
    write_project(root, {"requirements.txt": "", "a.py": "x = 1\n"})
    archive = build_archive(root, store)
    store.blob_path(archive.sha256).write_bytes(b"tampered")
    with pytest.raises(Exception, match="corrupt"):
        store.fetch_blob(archive.sha256, tmp_path / "copy.tar")


def test_environments_excluded_whatever_their_name(tmp_path, store):
    root = tmp_path / "proj"
    write_project(root, {
        "requirements.txt": "", "train.py": "",
        "env/pyvenv.cfg": "home = /usr/bin\n", "env/lib/site.py": "",
        "tools/conda/conda-meta/history": "", "tools/conda/bin/python": "",
    })
    archive = build_archive(root, store)
    assert set(members(store, archive.sha256)) == {"requirements.txt", "train.py"}
    assert "env/" in archive.excluded
    assert "tools/conda/" in archive.excluded


def test_large_archive_warns_with_largest_files(tmp_path, store, caplog, monkeypatch):
    import kinetic.packaging.archive as archive_module

    monkeypatch.setattr(archive_module, "LARGE_ARCHIVE_BYTES", 50_000)
    root = tmp_path / "proj"
    write_project(root, {"requirements.txt": "", "data/train.csv": "x" * 80_000})
    with caplog.at_level(logging.WARNING, logger="kinetic"):
        build_archive(root, store)
    assert "data/train.csv" in caplog.text
    assert ".kineticignore" in caplog.text
