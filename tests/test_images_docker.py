"""Image builds on the real Docker engine, pushed to the real local registry."""

from __future__ import annotations

import io
import json
import logging
import statistics
import tarfile
import time

import pytest

from docker_fixtures import DockerTestEnv, docker_env, kinetic_cache  # noqa: F401
from kinetic.errors import BuildError
from kinetic.images import BuildOptions, ensure_image
from kinetic.images.docker_builder import DockerBuilder
from kinetic.images.reference import parse_reference
from kinetic.images.registry import RegistryClient

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REQUIREMENT = "six==1.16.0"
PRIVATE_KEY_MARKER = "kinetic-test-private-key-6f1c2a"


def build_options(env: DockerTestEnv) -> BuildOptions:
    return BuildOptions(network_mode=env.network_mode, ca_cert_file=env.ca_cert)


def run_in_image(env: DockerTestEnv, image: str, code: str) -> str:
    output = env.client.containers.run(image, ["python", "-c", code], remove=True,
                                       network_mode="host")
    return output.decode()


@pytest.fixture(scope="module")
def built(docker_env, tmp_path_factory):  # noqa: F811 (pytest fixture)
    """One project with a one-line requirements.txt, built once for the module."""
    project = tmp_path_factory.mktemp("project")
    (project / "requirements.txt").write_text(REQUIREMENT + "\n")
    (project / "train.py").write_text("print('first version')\n")
    builder = DockerBuilder()
    cache = tmp_path_factory.mktemp("kinetic-cache")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("KINETIC_CACHE_DIR", str(cache))
    try:
        result = ensure_image(project, repository=docker_env.repository("kinetic-test-build"),
                              base_image=docker_env.base_image, builder=builder,
                              options=build_options(docker_env), force=True)
    finally:
        monkeypatch.undo()
    return project, builder, result


def test_image_built_and_pushed(built, docker_env):
    _, builder, result = built
    assert result.built
    assert builder.builds == 1
    assert result.digest and result.digest.startswith("sha256:")
    registry = RegistryClient(credentials=lambda host: None)
    assert registry.manifest_digest(parse_reference(result.reference)) == result.digest


def test_image_imports_kinetic_and_requirement(built, docker_env):
    _, _, result = built
    output = run_in_image(docker_env, result.reference,
                          "import kinetic, six, sys; "
                          "print(kinetic.__version__, six.__version__, sys.version_info[:2])")
    import kinetic

    assert output.split()[0] == kinetic.__version__
    assert output.split()[1] == "1.16.0"


def test_image_python_is_client_python(built, docker_env):
    import sys

    _, _, result = built
    output = run_in_image(docker_env, result.reference,
                          "import sys; print('%d.%d' % sys.version_info[:2])")
    assert output.strip() == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_image_labels(built, docker_env):
    _, _, result = built
    labels = docker_env.client.images.get(result.reference).labels
    assert labels["kinetic.managed"] == "true"
    assert labels["kinetic.family"] == "cpu"
    assert labels["kinetic.inputs"].startswith(result.reference.rsplit(":", 1)[1])


def test_code_change_does_not_rebuild(built, docker_env, kinetic_cache):  # noqa: F811
    project, builder, first = built
    (project / "train.py").write_text("print('second version')\n")
    (project / "helpers.py").write_text("VALUE = 2\n")
    second = ensure_image(project, repository=docker_env.repository("kinetic-test-build"),
                          base_image=docker_env.base_image, builder=builder,
                          options=build_options(docker_env))
    assert not second.built
    assert builder.builds == 1
    assert second.reference == first.reference
    assert second.digest == first.digest


def test_cache_hit_under_100_ms(built, docker_env, kinetic_cache):  # noqa: F811
    project, builder, first = built
    registry = RegistryClient(credentials=lambda host: None)
    durations = []
    for _ in range(5):
        started = time.perf_counter()
        result = ensure_image(project, repository=docker_env.repository("kinetic-test-build"),
                              base_image=docker_env.base_image, builder=builder,
                              registry=registry, options=build_options(docker_env))
        durations.append(time.perf_counter() - started)
        assert not result.built
    assert statistics.median(durations) < 0.1, durations


def test_cached_image_listed(built, docker_env, kinetic_cache):  # noqa: F811
    from kinetic.images.cache import list_images

    project, builder, first = built
    ensure_image(project, repository=docker_env.repository("kinetic-test-build"),
                 base_image=docker_env.base_image, builder=builder,
                 options=build_options(docker_env))
    entries = list_images()
    assert [entry.reference for entry in entries] == [first.reference]
    assert entries[0].project_root == str(project)


def test_force_rebuilds(built, docker_env, kinetic_cache):  # noqa: F811
    project, _, first = built
    builder = DockerBuilder()
    again = ensure_image(project, repository=docker_env.repository("kinetic-test-build"),
                         base_image=docker_env.base_image, builder=builder,
                         options=build_options(docker_env), force=True)
    assert again.built
    assert builder.builds == 1
    assert again.reference == first.reference


def layer_files(env: DockerTestEnv, image: str) -> dict[str, bytes]:
    """Every file of every layer of ``image`` (path inside the layer -> content), from
    ``docker save``; layer archives are unpacked so that deleted files still show."""
    saved = b"".join(env.client.images.get(image).save(named=True))
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            data = outer.extractfile(member).read()
            if member.name.endswith("layer.tar") or member.name.startswith("blobs/"):
                try:
                    with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                        for entry in layer.getmembers():
                            if entry.isfile():
                                files[f"{member.name}!{entry.name}"] = \
                                    layer.extractfile(entry).read()
                    continue
                except tarfile.TarError:
                    pass
            files[member.name] = data
    return files


def test_credentials_never_reach_image(docker_env, tmp_path, kinetic_cache):  # noqa: F811
    project = tmp_path / "secret-project"
    (project / ".git").mkdir(parents=True)
    (project / "requirements.txt").write_text(REQUIREMENT + "\n")
    (project / "train.py").write_text("print('hi')\n")
    (project / ".env").write_text(f"API_TOKEN={PRIVATE_KEY_MARKER}-env\n")
    (project / "sa-key.json").write_text(json.dumps({
        "type": "service_account", "private_key_id": "0",
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{PRIVATE_KEY_MARKER}\n"
                       f"-----END PRIVATE KEY-----\n",
    }))
    (project / ".git" / "config").write_text(
        f"[remote \"origin\"]\n\turl = https://user:{PRIVATE_KEY_MARKER}@example.com/r.git\n")
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").write_text("#!/bin/sh\n")

    result = ensure_image(project, repository=docker_env.repository("kinetic-test-secrets"),
                          base_image=docker_env.base_image, builder=DockerBuilder(),
                          options=build_options(docker_env), force=True)

    files = layer_files(docker_env, result.reference)
    names = [name.rsplit("!", 1)[-1] for name in files]
    assert any(name.endswith("site-packages/six.py") for name in names)
    for forbidden in (".env", "sa-key.json", ".git/config", ".venv/bin/python"):
        assert not [name for name in names if name == forbidden or
                    name.endswith("/" + forbidden)], forbidden
    leaked = [name for name, data in files.items() if PRIVATE_KEY_MARKER.encode() in data]
    assert leaked == []


def test_pip_config_and_ca_only_in_build_stage(docker_env, tmp_path, kinetic_cache):  # noqa: F811
    """The index URL (which may hold a password) and the CA file stay out of the pushed
    image's layers and configuration."""
    project = tmp_path / "index-project"
    project.mkdir()
    (project / "requirements.txt").write_text(REQUIREMENT + "\n")
    index_url = "https://pypi.org/simple"
    options = BuildOptions(network_mode=docker_env.network_mode,
                           ca_cert_file=docker_env.ca_cert, pip_index_url=index_url)
    result = ensure_image(project, repository=docker_env.repository("kinetic-test-index"),
                          base_image=docker_env.base_image, builder=DockerBuilder(),
                          options=options, force=True)
    files = layer_files(docker_env, result.reference)
    names = [name.rsplit("!", 1)[-1] for name in files]
    assert any(name.endswith("site-packages/six.py") for name in names)
    assert not [name for name in names if name.startswith("kinetic-build/")]
    config = json.dumps(docker_env.client.images.get(result.reference).attrs)
    assert "PIP_CERT" not in config
    assert "pip.conf" not in config


def test_failing_requirement_raises_build_error(docker_env, tmp_path, kinetic_cache,  # noqa: F811
                                                caplog):
    project = tmp_path / "broken"
    project.mkdir()
    (project / "requirements.txt").write_text("kinetic-no-such-package-5b1d==1.0\n")
    with caplog.at_level(logging.INFO, logger="kinetic.images"):
        with pytest.raises(BuildError) as caught:
            ensure_image(project, repository=docker_env.repository("kinetic-test-broken"),
                         base_image=docker_env.base_image, builder=DockerBuilder(),
                         options=build_options(docker_env))
    message = str(caught.value)
    assert "failed at step 3/" in message
    assert "RUN set -eu" in message
    assert "kinetic-no-such-package-5b1d" in message
    assert "Full log: " in message
    log_path = message.split("Full log: ")[1].split(". ")[0]
    assert "kinetic-no-such-package-5b1d" in open(log_path).read()
    assert "step 2/" in caplog.text


def test_installed_kinetic_built_into_image(docker_env, tmp_path, kinetic_cache):  # noqa: F811
    """A client whose kinetic is installed from a wheel puts those installed files into the
    image, and the image's kinetic reports the same distribution version."""
    import subprocess
    import sys

    from kinetic.images.distribution import locate_kinetic, stage_kinetic

    wheel_dir = tmp_path / "wheel"
    stage_kinetic(locate_kinetic(), wheel_dir)
    wheel = next((wheel_dir / "kinetic").glob("*.whl"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(site), str(wheel)], check=True)
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text(REQUIREMENT + "\n")
    script = (
        "import pathlib, sys\n"
        "from kinetic.images import BuildOptions, ensure_image\n"
        "ca = sys.argv[4] or None\n"
        "result = ensure_image(pathlib.Path(sys.argv[1]), repository=sys.argv[2],\n"
        "    base_image=sys.argv[3], force=True,\n"
        "    options=BuildOptions(network_mode=sys.argv[5] or None, ca_cert_file=ca))\n"
        "print(result.reference)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(project),
         docker_env.repository("kinetic-test-installed"), docker_env.base_image,
         str(docker_env.ca_cert or ""), docker_env.network_mode or ""],
        capture_output=True, text=True, cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin",
             "KINETIC_CACHE_DIR": str(kinetic_cache), "HOME": str(tmp_path)},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    reference = completed.stdout.strip().splitlines()[-1]
    output = run_in_image(docker_env, reference,
                          "import kinetic, six; from importlib.metadata import version; "
                          "print(version('kinetic-launcher'), kinetic.__file__)")
    import kinetic

    installed_version, location = output.split()
    assert installed_version == kinetic.__version__
    assert location.startswith("/opt/kinetic/venv/lib/")
