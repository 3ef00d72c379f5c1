"""Settings resolve as argument > KINETIC_* variable > profile file > default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import kinetic
from kinetic import config


def write_config(text: str) -> None:
    Path(os.environ["KINETIC_CONFIG"]).write_text(text)


def test_precedence_argument_env_profile_default(monkeypatch):
    write_config('namespace = "from-profile"\ntimeout = 30\n[profiles.prod]\nnamespace = "prod"\n')
    monkeypatch.setenv("KINETIC_TIMEOUT", "60")

    settings = config.resolve({"timeout": 90})
    assert settings.timeout == 90
    assert settings.sources["timeout"] == "argument"

    settings = config.resolve({})
    assert settings.timeout == 60.0
    assert settings.sources["timeout"] == "environment variable KINETIC_TIMEOUT"
    assert settings.namespace == "from-profile"
    assert settings.sources["namespace"].startswith("profile default")
    assert settings.max_preemption_retries == 3
    assert settings.sources["max_preemption_retries"] == "default"

    assert config.resolve({}, profile="prod").namespace == "prod"


def test_none_means_not_set(monkeypatch):
    monkeypatch.setenv("KINETIC_BACKEND", "local")
    assert config.resolve({"backend": None}).backend == "local"


def test_unknown_profile_lists_profiles():
    write_config('[profiles.dev]\nbackend = "local"\n')
    with pytest.raises(kinetic.ConfigError, match="profile 'staging' is not in .*profiles there: dev"):
        config.resolve({}, profile="staging")


def test_unknown_setting_in_profile_named():
    write_config('acclerator = "l4"\n')
    with pytest.raises(kinetic.ConfigError, match="unknown setting.*acclerator.*valid settings"):
        config.resolve({})


def test_invalid_env_value_named(monkeypatch):
    monkeypatch.setenv("KINETIC_TIMEOUT", "soon")
    with pytest.raises(kinetic.ConfigError, match="KINETIC_TIMEOUT='soon' is invalid"):
        config.resolve({})


def test_price_override_reaches_plan():
    write_config('[prices.v5e]\non_demand = 1.0\nspot = 0.2\n')

    @kinetic.run(accelerator="tpu-v5e-8", backend="local")
    def train():
        return 1

    assert train.plan().price_per_hour == pytest.approx(8.0)


def test_invalid_price_override_named():
    write_config('[prices.v5e]\non_demand = -1\n')
    with pytest.raises(kinetic.ConfigError, match="cannot be negative.*profile file"):
        config.resolve({})


def test_invalid_accelerator_rejected_at_decoration():
    with pytest.raises(kinetic.AcceleratorError, match="tpu-v9-4"):
        @kinetic.run(accelerator="tpu-v9-4")
        def train():
            return 1


def test_backend_env_selects_local(monkeypatch):
    monkeypatch.setenv("KINETIC_BACKEND", "local")

    @kinetic.run(accelerator="l4")
    def gpu_job():
        return "ran"

    job = gpu_job.submit()
    assert job.record.backend == "local"
    assert job.record.accelerator == "l4"
    assert job.result(timeout=60) == "ran"


def test_unknown_backend_lists_valid(monkeypatch):
    monkeypatch.setenv("KINETIC_BACKEND", "slurm")

    @kinetic.run()
    def job():
        return 1

    with pytest.raises(kinetic.ConfigError, match="unknown backend 'slurm'.*local, docker, gke"):
        job()


@pytest.mark.parametrize("bad", [0, -5, "1h", True])
def test_invalid_timeout_rejected_at_decoration(bad):
    with pytest.raises(kinetic.ConfigError, match=f"timeout={bad!r}.*positive number of seconds"):
        @kinetic.run(timeout=bad)
        def train():
            return 1


def test_unknown_backend_rejected_at_decoration():
    with pytest.raises(kinetic.ConfigError, match="unknown backend 'kube'.*local, docker, gke"):
        @kinetic.run(backend="kube")
        def train():
            return 1
