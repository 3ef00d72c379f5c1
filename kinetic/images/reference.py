"""Image references (``[registry/]repository[:tag][@digest]``) as the Docker CLI reads them."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from kinetic.errors import ConfigError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference.

    ``registry`` is the host (and port) as written, ``docker.io`` when none was;
    ``repository`` the path inside the registry (``library/python`` for Docker Hub's
    official images).
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        """The host serving the registry HTTP API (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def is_loopback(self) -> bool:
        host = self.registry.rsplit(":", 1)[0] if not self.registry.startswith("[") else \
            self.registry[1:].split("]", 1)[0]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def api_base(self) -> str:
        """``http://`` for loopback registries (as Docker treats them), else ``https://``."""
        scheme = "http" if self.is_loopback else "https"
        return f"{scheme}://{self.api_host}"

    @property
    def reference(self) -> str:
        """The manifest reference to look up: the digest when present, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    def with_tag(self, tag: str) -> "ImageReference":
        return ImageReference(self.registry, self.repository, tag, None)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Parse ``text`` the way ``docker pull`` does; raise ConfigError when it is malformed."""
    original = text
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise ConfigError(f"image reference {original!r} has an invalid digest {digest!r}; "
                              f"expected ALGORITHM:HEX such as sha256:...")
    tag = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
        if not _TAG_RE.match(tag):
            raise ConfigError(f"image reference {original!r} has an invalid tag {tag!r}; tags "
                              f"use letters, digits, '_', '.' and '-' (at most 128)")
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, text
        if "/" not in repository:
            repository = f"library/{repository}"
    if not _REPOSITORY_RE.match(repository):
        raise ConfigError(f"image reference {original!r} has an invalid repository "
                          f"{repository!r}; use lowercase letters, digits and '.', '_', '-' "
                          f"separated by '/'")
    return ImageReference(registry, repository, tag, digest)
