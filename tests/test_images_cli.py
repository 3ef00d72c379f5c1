"""``kinetic build`` and ``kinetic images list``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from docker_fixtures import docker_env, kinetic_cache  # noqa: F401 (pytest fixtures)
from kinetic.cli.main import cli


@pytest.fixture
def runner():
    return CliRunner()


def test_build_without_registry_fails(runner, tmp_path, kinetic_cache):  # noqa: F811
    result = runner.invoke(cli, ["build", "--project-root", str(tmp_path)])
    assert result.exit_code == 1
    assert "no image registry is set" in result.output
    assert "KINETIC_REGISTRY" in result.output


def test_build_with_bad_accelerator_fails(runner, tmp_path, kinetic_cache):  # noqa: F811
    result = runner.invoke(cli, ["build", "--project-root", str(tmp_path), "--registry",
                                 "127.0.0.1:5000/kinetic", "--accelerator", "tpu-v99-8"])
    assert result.exit_code == 1
    assert "tpu-v99-8" in result.output


def test_build_with_bad_requirement_fails(runner, tmp_path, kinetic_cache):  # noqa: F811
    (tmp_path / "requirements.txt").write_text("-e .\n")
    result = runner.invoke(cli, ["build", "--project-root", str(tmp_path), "--registry",
                                 "127.0.0.1:5000/kinetic", "--base-image",
                                 "127.0.0.1:5000/base@sha256:" + "a" * 64])
    assert result.exit_code == 1
    assert f"{tmp_path / 'requirements.txt'}:1" in result.output
    assert "editable install" in result.output


def test_build_with_unknown_builder_fails(runner, tmp_path, kinetic_cache,  # noqa: F811
                                          monkeypatch):
    monkeypatch.setenv("KINETIC_BUILDER", "kaniko")
    result = runner.invoke(cli, ["build", "--project-root", str(tmp_path), "--registry",
                                 "127.0.0.1:5000/kinetic"])
    assert result.exit_code == 1
    assert "builder 'kaniko' is not one of docker, cloudbuild" in result.output


def test_images_list_empty(runner, kinetic_cache):  # noqa: F811
    result = runner.invoke(cli, ["images", "list", "--no-engine"])
    assert result.exit_code == 0
    assert "No images yet" in result.output


@pytest.mark.docker
@pytest.mark.slow
def test_build_prints_reference_and_lists_it(runner, tmp_path, docker_env,  # noqa: F811
                                             kinetic_cache, monkeypatch):  # noqa: F811
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    if docker_env.network_mode:
        monkeypatch.setenv("KINETIC_BUILD_NETWORK", docker_env.network_mode)
    if docker_env.ca_cert:
        monkeypatch.setenv("KINETIC_BUILD_CA_CERT", str(docker_env.ca_cert))
    arguments = ["build", "--project-root", str(tmp_path), "--registry",
                 docker_env.repository("kinetic-test-cli"), "--base-image",
                 docker_env.base_image]
    first = runner.invoke(cli, arguments)
    assert first.exit_code == 0, first.output
    reference = first.stdout.strip().splitlines()[-1]
    assert reference.startswith(docker_env.repository("kinetic-test-cli") + ":")

    second = runner.invoke(cli, arguments)
    assert second.exit_code == 0, second.output
    assert second.stdout.strip().splitlines()[-1] == reference

    listed = runner.invoke(cli, ["images", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    cached = [row for row in rows if row["reference"] == reference and row["source"] == "cache"]
    assert len(cached) == 1
    assert cached[0]["family"] == "cpu"
    assert cached[0]["project_root"] == str(tmp_path)
