"""``kinetic build`` and ``kinetic images list``."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from kinetic.errors import KineticError

logger = logging.getLogger("kinetic.images")

_CLUSTER_RE = re.compile(r"^projects/([^/]+)/")


@click.command()
@click.option("--accelerator", "-a", default=None, metavar="NAME",
              help="Accelerator the image is for, e.g. tpu-v5e-8 or l4 (default: the "
                   "accelerator setting, else cpu).")
@click.option("--force", is_flag=True, help="Build even when the registry already has the image.")
@click.option("--base-image", default=None, metavar="IMAGE",
              help="Base image (default: the base_image setting, else python:X.Y-slim for "
                   "this Python X.Y).")
@click.option("--registry", default=None, metavar="REPOSITORY",
              help="Image repository to push to, e.g. 127.0.0.1:5000/kinetic (default: the "
                   "registry setting).")
@click.option("--project-root", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Project folder (default: found from the current folder).")
@click.option("--profile", default=None, help="Profile of the settings file to use.")
def build(accelerator: str | None, force: bool, base_image: str | None, registry: str | None,
          project_root: Path | None, profile: str | None) -> None:
    """Build or find the project's container image and print its reference."""
    from kinetic.accelerators import parse_accelerator
    from kinetic.config import resolve
    from kinetic.images import BuildOptions, ensure_image
    from kinetic.packaging.project import find_project_root

    try:
        settings = resolve({"accelerator": accelerator, "base_image": base_image,
                            "registry": registry}, profile)
        if not settings.registry:
            raise click.ClickException(
                "no image registry is set; pass --registry, set KINETIC_REGISTRY (e.g. "
                "127.0.0.1:5000/kinetic) or add registry to your profile")
        family = parse_accelerator(settings.accelerator).image_family
        root = find_project_root(project_root)
        options = BuildOptions(
            network_mode=settings.build_network,
            ca_cert_file=Path(settings.build_ca_cert) if settings.build_ca_cert else None,
            pip_index_url=settings.pip_index_url,
        )
        result = ensure_image(root, repository=settings.registry, family=family,
                              base_image=settings.base_image, builder=_builder(settings),
                              options=options, force=force)
    except KineticError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.reference)


def _builder(settings: Any) -> Any:
    """Create the builder the ``builder`` setting names; cloudbuild takes its project from the
    ``cluster`` setting and its context bucket from a ``gs://`` ``store``."""
    if settings.builder == "docker":
        from kinetic.images.docker_builder import DockerBuilder

        return DockerBuilder()
    if settings.builder == "cloudbuild":
        from kinetic.images.cloudbuild import CloudBuildBuilder

        match = _CLUSTER_RE.match(settings.cluster or "")
        store = settings.store or ""
        if not match or not store.startswith("gs://"):
            raise click.ClickException(
                "builder cloudbuild needs the cluster setting (projects/P/locations/L/"
                f"clusters/C, got {settings.cluster!r}) and a gs:// store for build contexts "
                f"(got {settings.store!r}); set both or use builder docker")
        bucket = store[len("gs://"):].split("/", 1)[0]
        return CloudBuildBuilder(match.group(1), bucket=bucket)
    raise click.ClickException(f"builder {settings.builder!r} is not one of docker, "
                               f"cloudbuild; fix KINETIC_BUILDER or the profile")


@click.group()
def images() -> None:
    """List cached container images."""


@images.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--engine/--no-engine", default=True,
              help="Also list images in the local Docker engine that carry kinetic's label "
                   "(default: on, skipped when no engine answers).")
def list_command(as_json: bool, engine: bool) -> None:
    """List the images kinetic built or found, newest first."""
    from kinetic.images.cache import list_images

    rows = [{
        "reference": entry.reference,
        "digest": entry.digest,
        "family": entry.family,
        "base_image": entry.base_image,
        "built": entry.built,
        "builder": entry.builder,
        "project_root": entry.project_root,
        "time": entry.time,
        "source": "cache",
    } for entry in list_images()]
    if engine:
        known = {row["reference"] for row in rows}
        rows += [row for row in _engine_images() if row["reference"] not in known]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No images yet; run 'kinetic build' to build one.")
        return
    click.echo(f"{'REFERENCE':<60} {'FAMILY':<6} {'BUILT':<5} {'WHEN':<19} SOURCE")
    for row in rows:
        when = datetime.fromtimestamp(row["time"]).strftime("%Y-%m-%d %H:%M:%S") \
            if row["time"] else "-"
        click.echo(f"{row['reference']:<60} {row['family']:<6} "
                   f"{'yes' if row['built'] else 'no':<5} {when:<19} {row['source']}")


def _engine_images() -> list[dict[str, Any]]:
    """List the images in the local Docker engine labelled ``kinetic.managed=true``; empty
    when the docker SDK is missing or no engine responds."""
    try:
        import docker
        import docker.errors
    except ImportError:
        return []
    try:
        client = docker.from_env()
        found = client.images.list(filters={"label": "kinetic.managed=true"})
    except docker.errors.DockerException as exc:
        logger.info("not listing Docker engine images: %s", exc)
        return []
    rows = []
    for image in found:
        labels = image.labels or {}
        created = image.attrs.get("Created", "")
        try:
            timestamp = datetime.fromisoformat(created[:26].rstrip("Z")).timestamp()
        except ValueError:
            timestamp = 0.0
        for tag in image.tags:
            rows.append({
                "reference": tag, "digest": None, "family": labels.get("kinetic.family", "?"),
                "base_image": labels.get("kinetic.base-image"), "built": True, "builder": None,
                "project_root": None, "time": timestamp, "source": "engine",
            })
    return rows
