"""Shared fixtures: every test gets its own store and no profile file."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def isolated_kinetic(tmp_path_factory, monkeypatch):
    """Point kinetic at a fresh store and an absent profile file; clear KINETIC_* settings."""
    for name in list(os.environ):
        if name.startswith("KINETIC_") and not name.startswith("KINETIC_TEST_"):
            monkeypatch.delenv(name)
    store = tmp_path_factory.mktemp("store")
    monkeypatch.setenv("KINETIC_STORE", str(store))
    monkeypatch.setenv("KINETIC_CONFIG", str(store / "no-config.toml"))
    return store


def write_project(root, files: dict[str, str]) -> None:
    """Create a project at ``root`` from a mapping of relative path -> text."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
