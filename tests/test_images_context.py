"""Build contexts and rendered Dockerfiles, without a Docker engine."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kinetic.errors import BuildError, ConfigError
from kinetic.images import BuildOptions
from kinetic.images.context import create_context
from kinetic.images.distribution import locate_kinetic
from kinetic.images.requirements import resolve_requirements

LABELS = {"kinetic.managed": "true", "kinetic.family": "cpu"}


def make_context(folder: Path, *, family: str = "cpu", requirements=("six==1.16.0",),
                 options: BuildOptions | None = None, labels=None):
    folder.mkdir(parents=True, exist_ok=True)
    return create_context(
        folder, family=family, from_image="python:3.11-slim@sha256:" + "c" * 64,
        python_version="3.11", requirements=resolve_requirements(None, list(requirements),
                                                                 family=family),
        distribution=locate_kinetic(), options=options or BuildOptions(),
        labels=labels if labels is not None else LABELS,
    )


def final_stage(dockerfile: str) -> str:
    return dockerfile.split("\nFROM ", 2)[2]


def context_files(context) -> list[str]:
    return sorted(p.relative_to(context.directory).as_posix()
                  for p in context.directory.rglob("*") if p.is_file())


def test_context_holds_only_build_files(tmp_path):
    context = make_context(tmp_path / "ctx")
    files = context_files(context)
    assert files[0] == "Dockerfile"
    assert files[1].startswith("kinetic/kinetic_launcher-")
    assert files[1].endswith(".whl")
    assert files[2:] == ["requirements.txt"]
    assert (context.directory / "requirements.txt").read_text() == "six==1.16.0\n"


def test_kinetic_wheel_holds_package_and_templates(tmp_path):
    context = make_context(tmp_path / "ctx")
    wheel = next((context.directory / "kinetic").glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "kinetic/__init__.py" in names
    assert "kinetic/images/ensure.py" in names
    assert "kinetic/templates/cpu.Dockerfile.j2" in names


def test_both_stages_use_pinned_base(tmp_path):
    dockerfile = make_context(tmp_path / "ctx").dockerfile
    froms = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert froms == ["FROM python:3.11-slim@sha256:" + "c" * 64 + " AS install",
                     "FROM python:3.11-slim@sha256:" + "c" * 64]


def test_python_version_checked_in_build(tmp_path):
    dockerfile = make_context(tmp_path / "ctx").dockerfile
    assert 'found == "3.11"' in dockerfile
    assert "choose a base image with Python 3.11" in dockerfile


def test_cpu_image_has_no_jax(tmp_path):
    assert "jax" not in make_context(tmp_path / "ctx").dockerfile


def test_tpu_image_installs_jax_tpu_with_libtpu_index(tmp_path):
    dockerfile = make_context(tmp_path / "ctx", family="tpu").dockerfile
    assert '"jax[tpu]"' in dockerfile
    assert "--find-links https://storage.googleapis.com/jax-releases/libtpu_releases.html" \
        in dockerfile


def test_gpu_image_installs_jax_cuda(tmp_path):
    dockerfile = make_context(tmp_path / "ctx", family="gpu").dockerfile
    assert '"jax[cuda12]"' in dockerfile
    assert "NVIDIA_VISIBLE_DEVICES=all" in final_stage(dockerfile)


def test_labels_in_one_instruction(tmp_path):
    dockerfile = make_context(tmp_path / "ctx").dockerfile
    label_lines = [line for line in dockerfile.splitlines() if line.startswith("LABEL")]
    assert label_lines == ['LABEL kinetic.family="cpu" kinetic.managed="true"']


def test_label_with_quote_rejected(tmp_path):
    with pytest.raises(BuildError, match="cannot be written to a Dockerfile"):
        make_context(tmp_path / "ctx", labels={"kinetic.x": 'a"b'})


def test_ca_cert_used_only_in_build_stage(tmp_path):
    bundle = tmp_path / "proxy-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    context = make_context(tmp_path / "ctx", options=BuildOptions(ca_cert_file=bundle))
    assert (context.directory / "ca-certificates.crt").read_text() == bundle.read_text()
    assert "export PIP_CERT=/kinetic-build/ca-certificates.crt" in context.dockerfile
    assert "PIP_CERT" not in final_stage(context.dockerfile)
    assert "ENV PIP_CERT" not in context.dockerfile


def test_index_url_in_pip_conf_not_build_arg(tmp_path):
    url = "https://user:secret@pypi.example.com/simple"
    context = make_context(tmp_path / "ctx", options=BuildOptions(pip_index_url=url))
    assert (context.directory / "pip.conf").read_text() == f"[global]\nindex-url = {url}\n"
    assert "secret" not in context.dockerfile
    assert "PIP_CONFIG_FILE" not in final_stage(context.dockerfile)


def test_missing_ca_cert_rejected(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        make_context(tmp_path / "ctx",
                     options=BuildOptions(ca_cert_file=tmp_path / "missing.pem"))


def test_index_url_must_be_http(tmp_path):
    with pytest.raises(ConfigError, match="not an http"):
        make_context(tmp_path / "ctx", options=BuildOptions(pip_index_url="/srv/simple"))


def test_hashed_requirements_get_own_pip_run(tmp_path):
    dockerfile = make_context(
        tmp_path / "ctx", requirements=["six==1.16.0 --hash=sha256:" + "d" * 64]).dockerfile
    assert "pip install --require-hashes -r /kinetic-build/requirements.txt" in dockerfile
    assert dockerfile.count("-r /kinetic-build/requirements.txt") == 1


def test_context_tar_is_deterministic(tmp_path):
    first = make_context(tmp_path / "a")
    second = make_context(tmp_path / "b")
    assert first.tar() == second.tar()
    assert first.tar(compress=True) == second.tar(compress=True)


def test_installed_kinetic_copied_with_metadata(tmp_path):
    """kinetic installed from a wheel (not a source tree) is staged as installed files."""
    wheel_context = make_context(tmp_path / "ctx")
    wheel = next((wheel_context.directory / "kinetic").glob("*.whl"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(wheel)], check=True)
    script = (
        "import pathlib, sys\n"
        "from kinetic.images.distribution import locate_kinetic, stage_kinetic\n"
        "dist = locate_kinetic()\n"
        "assert dist.source_root is None, dist\n"
        "staged = stage_kinetic(dist, pathlib.Path(sys.argv[1]))\n"
        "print(dist.identity, staged.site_packages_dir, *staged.pip_arguments)\n"
    )
    out = tmp_path / "staged"
    out.mkdir()
    completed = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True,
                               text=True, env={"PYTHONPATH": str(target), "PATH": "/usr/bin"},
                               cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    identity, site_dir, *arguments = completed.stdout.split()
    assert "+src." not in identity
    assert site_dir == "kinetic/site-packages"
    assert arguments == ["-r", "/kinetic-build/kinetic/requirements.txt"]
    site = out / "kinetic" / "site-packages"
    assert (site / "kinetic" / "images" / "ensure.py").is_file()
    assert (site / "kinetic" / "templates" / "base.Dockerfile.j2").is_file()
    dist_info = next(site.glob("kinetic_launcher-*.dist-info"))
    assert (dist_info / "METADATA").is_file()
    assert not (dist_info / "RECORD").exists()
    requirements = (out / "kinetic" / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("cloudpickle") for line in requirements)
    assert not [line for line in requirements if "extra ==" in line]


def test_import_stays_light():
    code = ("import sys, kinetic.images, kinetic.images.docker_builder, "
            "kinetic.images.cloudbuild; "
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('docker', 'kubernetes', "
            "'jax') or m.startswith('google.cloud')]; print(heavy)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True)
    assert completed.stdout.strip() == "[]"
