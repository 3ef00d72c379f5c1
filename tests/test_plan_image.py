"""With a registry configured, a plan names the job's image and whether it must be built.

Runs against the local registry that .ci/services.sh starts; no image is built.
"""

from __future__ import annotations

import pytest

import kinetic
from docker_fixtures import docker_env  # noqa: F401 (pytest fixture)

pytestmark = pytest.mark.docker


def test_plan_names_registry_image(docker_env, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv("KINETIC_REGISTRY", docker_env.repository("plan-check"))
    monkeypatch.setenv("KINETIC_BASE_IMAGE", docker_env.base_image)

    @kinetic.run(accelerator="tpu-v5e-8", requirements=["six==1.16.0"])
    def train():
        return 1

    plan = train.plan()
    assert plan.image.startswith(docker_env.repository("plan-check") + ":")
    assert plan.image_needs_build is True
    job = plan.manifests[-1]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == plan.image
