"""The interface of image builders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kinetic.images.context import BuildContext
from kinetic.images.options import BuildOptions


@dataclass(frozen=True)
class BuiltImage:
    """A pushed image: ``reference`` is ``repository:tag``; ``digest`` the manifest digest
    the registry stored, or None when the builder could not tell."""

    reference: str
    digest: str | None


class ImageBuilder(Protocol):
    """Builds a context into an image and pushes it under ``image`` (``repository:tag``)."""

    name: str

    def build(self, context: BuildContext, image: str, *,
              options: BuildOptions) -> BuiltImage:
        """Build and push; raise BuildError with the failing step and its output on failure."""
