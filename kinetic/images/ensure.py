"""Find or build the container image of a project: the entry point of ``kinetic.images``.

The image tag is a hash over every build input (see ``tag.BuildInputs``). When the registry
already has the tag, nothing is built; that check costs two manifest HEAD requests, one for
the base image's digest and one for the tag.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from kinetic.errors import BuildError, ConfigError
from kinetic.images import cache
from kinetic.images.builder import ImageBuilder
from kinetic.images.context import create_context
from kinetic.images.distribution import KineticDistribution, locate_kinetic
from kinetic.images.options import BuildOptions
from kinetic.images.reference import ImageReference, parse_reference
from kinetic.images.registry import RegistryClient
from kinetic.images.requirements import ResolvedRequirements, resolve_requirements
from kinetic.images.tag import BuildInputs
from kinetic.images.templates import FAMILIES, template_digest

logger = logging.getLogger("kinetic.images")

LABEL_PREFIX = "kinetic."


@dataclass(frozen=True)
class ImageResult:
    """The image a job runs in.

    ``reference`` is ``repository:tag``; ``digest`` the manifest digest when the registry or
    builder reported one; ``built`` whether this call built it.
    """

    reference: str
    digest: str | None
    built: bool
    inputs: BuildInputs
    requirements: ResolvedRequirements = field(compare=False)

    @property
    def pinned_reference(self) -> str:
        """``repository@digest`` when the digest is known, else ``reference``."""
        if not self.digest:
            return self.reference
        return f"{self.reference.rsplit(':', 1)[0]}@{self.digest}"


def default_base_image(python_version: str) -> str:
    return f"python:{python_version}-slim"


@dataclass(frozen=True)
class ImagePlan:
    """The image ``ensure_image`` would look up or build, computed without building anything."""

    target: ImageReference
    base: ImageReference
    family: str
    inputs: BuildInputs
    requirements: ResolvedRequirements
    distribution: KineticDistribution

    @property
    def reference(self) -> str:
        return str(self.target)

    @property
    def from_image(self) -> str:
        """The FROM reference: pinned to the digest that was hashed, when there is one."""
        if self.inputs.base_image_digest and not self.base.digest:
            return f"{self.base}@{self.inputs.base_image_digest}"
        return str(self.base)


def plan_image(project_root: Path | None, *, repository: str, family: str = "cpu",
               base_image: str | None = None, requirements: Sequence[str] | None = None,
               registry: RegistryClient | None = None,
               template_dir: Path | None = None) -> ImagePlan:
    """Resolve the requirements and the base image digest and compute the image tag.

    Arguments mean what they mean for ``ensure_image``. Raises RequirementsError for
    requirements an image cannot install and ConfigError for malformed names.
    """
    if family not in FAMILIES:
        raise ConfigError(f"image family {family!r} is not one of {', '.join(FAMILIES)}")
    registry = registry or RegistryClient()
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = parse_reference(base_image or default_base_image(python_version))
    target_repository = _parse_repository(repository)
    resolved = resolve_requirements(project_root, requirements, family=family)
    distribution = locate_kinetic()
    inputs = BuildInputs(
        requirements=resolved.lines,
        pip_options=resolved.options,
        base_image=str(base),
        base_image_digest=_base_digest(registry, base),
        template_digest=template_digest(family, template_dir),
        python_version=python_version,
        family=family,
        kinetic=distribution.identity,
    )
    return ImagePlan(target_repository.with_tag(inputs.tag()), base, family, inputs, resolved,
                     distribution)


def ensure_image(project_root: Path | None, *, repository: str, family: str = "cpu",
                 base_image: str | None = None, requirements: Sequence[str] | None = None,
                 builder: ImageBuilder | None = None, options: BuildOptions | None = None,
                 force: bool = False, registry: RegistryClient | None = None,
                 template_dir: Path | None = None) -> ImageResult:
    """Return the image for the project at ``project_root``, building and pushing it when the
    registry does not hold it yet (or always when ``force``).

    ``family`` is ``cpu``, ``gpu`` or ``tpu`` (``Accelerator.image_family``).
    ``repository`` is the image name without tag (``127.0.0.1:5000/kinetic``,
    ``us-docker.pkg.dev/PROJECT/REPO/kinetic``). ``base_image`` defaults to
    ``python:X.Y-slim`` for the client's Python X.Y; the caller resolves it from the call,
    the profile and ``KINETIC_BASE_IMAGE``. ``requirements`` replaces the project's
    requirements files when given. ``builder`` defaults to a ``DockerBuilder``;
    ``template_dir`` replaces the shipped templates.
    """
    options = options or BuildOptions()
    registry = registry or RegistryClient()
    plan = plan_image(project_root, repository=repository, family=family,
                      base_image=base_image, requirements=requirements, registry=registry,
                      template_dir=template_dir)
    reference = plan.reference

    if not force:
        digest = registry.manifest_digest(plan.target)
        if digest is not None:
            logger.info("image %s is in the registry; not building", reference)
            result = ImageResult(reference, digest or None, False, plan.inputs,
                                 plan.requirements)
            _record(result, None, project_root)
            return result

    builder = builder or _default_builder()
    labels = {
        f"{LABEL_PREFIX}managed": "true",
        f"{LABEL_PREFIX}family": family,
        f"{LABEL_PREFIX}inputs": plan.inputs.digest(),
        f"{LABEL_PREFIX}version": plan.distribution.version,
        f"{LABEL_PREFIX}base-image": plan.from_image,
    }
    logger.info("building %s with the %s builder (base %s, %d requirements)", reference,
                builder.name, plan.from_image, len(plan.requirements.lines))
    with tempfile.TemporaryDirectory(prefix="kinetic-context-") as folder:
        context = create_context(
            Path(folder), family=family, from_image=plan.from_image,
            python_version=plan.inputs.python_version, requirements=plan.requirements,
            distribution=plan.distribution, options=options, labels=labels,
            template_dir=template_dir,
        )
        built = builder.build(context, reference, options=options)
    result = ImageResult(reference, built.digest, True, plan.inputs, plan.requirements)
    _record(result, builder, project_root)
    return result


def _parse_repository(repository: str) -> ImageReference:
    parsed = parse_reference(repository)
    if parsed.tag or parsed.digest:
        raise ConfigError(f"the image repository {repository!r} must not carry a tag or digest; "
                          f"kinetic picks the tag. Use e.g. {parsed.name!r}")
    return parsed


def _base_digest(registry: RegistryClient, base: ImageReference) -> str | None:
    """Look up the base image's digest; return None (the name is hashed instead) when the
    lookup fails."""
    if base.digest:
        return base.digest
    try:
        digest = registry.manifest_digest(base)
    except BuildError as exc:
        logger.info("could not look up the digest of base image %s, so its name is hashed "
                    "instead: %s", base, exc)
        return None
    if digest is None:
        raise BuildError(f"the base image {base} does not exist in its registry; check the "
                         f"name and tag of base_image")
    return digest or None


def _default_builder() -> ImageBuilder:
    from kinetic.images.docker_builder import DockerBuilder

    return DockerBuilder()


def _record(result: ImageResult, builder: ImageBuilder | None,
            project_root: Path | None) -> None:
    cache.record_image(cache.CachedImage(
        reference=result.reference,
        digest=result.digest,
        family=result.inputs.family,
        base_image=result.inputs.base_image,
        built=result.built,
        builder=builder.name if builder is not None and result.built else None,
        project_root=str(project_root) if project_root else None,
        time=cache.now(),
    ))
