"""Fixtures for tests that need the Docker engine and the registry from .ci/services.sh.

The settings come from the ``KINETIC_TEST_*`` variables that ``.ci/services.sh`` prints and
writes to ``.ci-work/services.env``; when they are not in the environment, that file is read.
Tests using ``docker_env`` are skipped, with the reason, when the engine or the registry does
not respond.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES_ENV = REPO_ROOT / ".ci-work" / "services.env"


@dataclass(frozen=True)
class DockerTestEnv:
    """The engine client and the services the image tests build against."""

    client: Any
    registry: str
    base_image: str
    network_mode: str | None
    ca_cert: Path | None

    def repository(self, name: str) -> str:
        return f"{self.registry}/{name}"


def _services_settings() -> dict[str, str]:
    settings = {name: value for name, value in os.environ.items()
                if name.startswith("KINETIC_TEST_")}
    if "KINETIC_TEST_REGISTRY" in settings or not SERVICES_ENV.is_file():
        return settings
    for line in SERVICES_ENV.read_text().splitlines():
        match = re.match(r"^export (KINETIC_TEST_\w+)=(.*)$", line.strip())
        if match:
            settings.setdefault(match.group(1), match.group(2))
    return settings


def _unavailable_reason(settings: dict[str, str]) -> str | None:
    if "KINETIC_TEST_REGISTRY" not in settings or "KINETIC_TEST_BASE_IMAGE" not in settings:
        return ("KINETIC_TEST_REGISTRY and KINETIC_TEST_BASE_IMAGE are not set; run "
                "'bash .ci/services.sh' to start the Docker engine and the registry")
    try:
        import docker
    except ImportError:
        return "the docker SDK is not installed (pip install docker)"
    try:
        docker.from_env().ping()
    except docker.errors.DockerException as exc:
        return f"the Docker engine does not respond ({exc}); run 'bash .ci/services.sh'"
    url = f"http://{settings['KINETIC_TEST_REGISTRY']}/v2/"
    try:
        urllib.request.urlopen(url, timeout=5).close()
    except (urllib.error.URLError, OSError) as exc:
        return f"the registry at {url} does not respond ({exc}); run 'bash .ci/services.sh'"
    return None


@pytest.fixture(scope="session")
def docker_env() -> DockerTestEnv:
    settings = _services_settings()
    reason = _unavailable_reason(settings)
    if reason:
        pytest.skip(reason)
    import docker

    ca_cert = settings.get("KINETIC_TEST_CA_CERT")
    return DockerTestEnv(
        client=docker.from_env(),
        registry=settings["KINETIC_TEST_REGISTRY"],
        base_image=settings["KINETIC_TEST_BASE_IMAGE"],
        network_mode=settings.get("KINETIC_TEST_NETWORK_MODE") or None,
        ca_cert=Path(ca_cert) if ca_cert and Path(ca_cert).is_file() else None,
    )


@pytest.fixture
def kinetic_cache(tmp_path, monkeypatch) -> Path:
    """A fresh KINETIC_CACHE_DIR (image listing and build logs) for one test."""
    folder = tmp_path / "kinetic-cache"
    monkeypatch.setenv("KINETIC_CACHE_DIR", str(folder))
    return folder
