"""The image tag changes with every build input and with nothing else."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess

import pytest

from docker_fixtures import docker_env  # noqa: F401 (pytest fixture)
from kinetic.images import plan_image
from kinetic.images.registry import RegistryClient
from kinetic.images.tag import TAG_HEX_LENGTH
from kinetic.images.templates import templates_dir

REPOSITORY = "127.0.0.1:5000/kinetic-tag-tests"
BASE_A = "127.0.0.1:5000/base@sha256:" + "a" * 64
BASE_B = "127.0.0.1:5000/base@sha256:" + "b" * 64


def make_project(root, requirements: str, code: str = "print('hello')\n"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text(requirements)
    (root / "train.py").write_text(code)
    return root


def tag_of(project, **kwargs) -> str:
    """The planned tag; bases given by digest need no registry lookup."""
    kwargs.setdefault("base_image", BASE_A)
    return plan_image(project, repository=REPOSITORY, **kwargs).target.tag


def test_tag_is_hex_of_fixed_length(tmp_path):
    tag = tag_of(make_project(tmp_path / "p", "six==1.16.0\n"))
    assert len(tag) == TAG_HEX_LENGTH
    int(tag, 16)


def test_comment_only_change_keeps_tag(tmp_path):
    before = tag_of(make_project(tmp_path / "a", "six==1.16.0\nrich>=13\n"))
    after = tag_of(make_project(tmp_path / "b",
                                "# data loading\nrich >= 13  # console\n\nsix==1.16.0\n"))
    assert before == after


def test_code_change_keeps_tag(tmp_path):
    project = make_project(tmp_path / "p", "six==1.16.0\n")
    before = tag_of(project)
    (project / "train.py").write_text("print('changed')\n")
    (project / "new_module.py").write_text("X = 1\n")
    assert tag_of(project) == before


def test_requirements_change_changes_tag(tmp_path):
    project = make_project(tmp_path / "p", "six==1.16.0\n")
    before = tag_of(project)
    (project / "requirements.txt").write_text("six==1.17.0\n")
    assert tag_of(project) != before


def test_requirements_argument_changes_tag(tmp_path):
    project = make_project(tmp_path / "p", "six==1.16.0\n")
    assert tag_of(project) != tag_of(project, requirements=["six==1.16.0", "rich"])


def test_base_image_change_changes_tag(tmp_path):
    project = make_project(tmp_path / "p", "six==1.16.0\n")
    assert tag_of(project, base_image=BASE_A) != tag_of(project, base_image=BASE_B)


def test_template_change_changes_tag(tmp_path):
    project = make_project(tmp_path / "p", "six==1.16.0\n")
    edited = tmp_path / "templates"
    shutil.copytree(templates_dir(), edited)
    before = tag_of(project, template_dir=edited)
    with open(edited / "base.Dockerfile.j2", "a") as file:
        file.write("RUN echo changed\n")
    assert tag_of(project, template_dir=edited) != before


def test_family_changes_tag(tmp_path):
    project = make_project(tmp_path / "p", "six==1.16.0\n")
    tags = {tag_of(project, family=family) for family in ("cpu", "gpu", "tpu")}
    assert len(tags) == 3


def test_dropped_jax_pin_does_not_change_tpu_tag(tmp_path):
    plain = make_project(tmp_path / "a", "optax\n")
    pinned = make_project(tmp_path / "b", "optax\njax==0.4.30\n")
    assert tag_of(plain, family="tpu") == tag_of(pinned, family="tpu")
    assert tag_of(plain, family="cpu") != tag_of(pinned, family="cpu")


def test_unreachable_base_registry_hashes_name(tmp_path, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    project = make_project(tmp_path / "p", "six\n")
    registry = RegistryClient(credentials=lambda host: None, timeout_s=2)
    with caplog.at_level(logging.INFO, logger="kinetic.images"):
        first = plan_image(project, repository=REPOSITORY, registry=registry,
                           base_image=f"127.0.0.1:{port}/base:1")
        second = plan_image(project, repository=REPOSITORY, registry=registry,
                            base_image=f"127.0.0.1:{port}/base:2")
    assert first.inputs.base_image_digest is None
    assert first.target.tag != second.target.tag
    assert first.from_image == f"127.0.0.1:{port}/base:1"
    assert "its name is hashed instead" in caplog.text


def test_repository_with_tag_rejected(tmp_path):
    from kinetic.errors import ConfigError

    with pytest.raises(ConfigError, match="must not carry a tag"):
        plan_image(tmp_path, repository="127.0.0.1:5000/kinetic:latest", base_image=BASE_A)


@pytest.mark.docker
def test_base_by_tag_and_by_digest_share_tag(tmp_path, docker_env):
    project = make_project(tmp_path / "p", "six\n")
    registry = RegistryClient(credentials=lambda host: None)
    by_tag = plan_image(project, repository=REPOSITORY, base_image=docker_env.base_image,
                        registry=registry)
    digest = by_tag.inputs.base_image_digest
    assert digest and digest.startswith("sha256:")
    assert by_tag.from_image == f"{docker_env.base_image}@{digest}"
    name = docker_env.base_image.rsplit(":", 1)[0]
    by_digest = plan_image(project, repository=REPOSITORY, base_image=f"{name}@{digest}",
                           registry=registry)
    assert by_digest.target.tag == by_tag.target.tag


@pytest.mark.docker
def test_other_pushed_base_changes_tag(tmp_path, docker_env):
    """A second base image with other content, pushed to the registry, gives another tag."""
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "marker.txt").write_text("a base image used only by the tag test\n")
    other = f"{docker_env.registry}/kinetic-test/other-base:1"
    tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], check=True,
                         capture_output=True).stdout
    docker_env.client.api.import_image_from_data(tar, repository=other.rsplit(":", 1)[0],
                                                 tag="1")
    for event in docker_env.client.api.push(other.rsplit(":", 1)[0], tag="1", stream=True,
                                            decode=True):
        assert "error" not in event, event
    project = make_project(tmp_path / "p", "six\n")
    registry = RegistryClient(credentials=lambda host: None)
    first = plan_image(project, repository=REPOSITORY, base_image=docker_env.base_image,
                       registry=registry)
    second = plan_image(project, repository=REPOSITORY, base_image=other, registry=registry)
    assert first.inputs.base_image_digest != second.inputs.base_image_digest
    assert first.target.tag != second.target.tag
