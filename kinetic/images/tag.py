"""The content-addressed image tag: a sha256 over every input of an image build."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

TAG_HEX_LENGTH = 20
INPUTS_FORMAT = 1
"""Bumped when the set or meaning of the inputs changes, so old tags are not reused."""


@dataclass(frozen=True)
class BuildInputs:
    """Everything that decides an image's content.

    ``base_image_digest`` is the manifest digest the registry reported for ``base_image``, or
    None when it could not be looked up (then the name alone is hashed). ``kinetic`` is the
    identity from ``distribution.locate_kinetic``.
    """

    requirements: tuple[str, ...]
    pip_options: tuple[str, ...]
    base_image: str
    base_image_digest: str | None
    template_digest: str
    python_version: str
    family: str
    kinetic: str

    def digest(self) -> str:
        """sha256 hex over the canonical JSON form of the inputs."""
        document = {"format": INPUTS_FORMAT, **asdict(self)}
        if self.base_image_digest:
            # A digest names the content; the tag or name it was found under does not matter.
            document["base_image"] = None
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def tag(self) -> str:
        """Return the image tag: the first TAG_HEX_LENGTH hex digits of ``digest()``."""
        return self.digest()[:TAG_HEX_LENGTH]
