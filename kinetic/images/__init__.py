"""Container images for jobs: requirements, content-addressed tags, and builders.

``ensure_image`` is the entry point. The builders import their heavy clients (docker,
google-cloud-build) only when they build.
"""

from __future__ import annotations

from kinetic.images.builder import BuiltImage, ImageBuilder
from kinetic.images.ensure import ImagePlan, ImageResult, ensure_image, plan_image
from kinetic.images.options import BuildOptions
from kinetic.images.requirements import ResolvedRequirements, resolve_requirements
from kinetic.images.tag import BuildInputs

__all__ = [
    "BuildInputs", "BuildOptions", "BuiltImage", "ImageBuilder", "ImagePlan", "ImageResult",
    "ResolvedRequirements", "ensure_image", "plan_image", "resolve_requirements",
]
