"""Manifest lookups against a registry speaking the Docker Registry HTTP API v2.

One ``HEAD /v2/<repository>/manifests/<reference>`` settles both questions the image cache
asks: does this tag exist, and which digest does a base image have. A ``401`` with a
``WWW-Authenticate: Bearer`` challenge (Docker Hub, Artifact Registry) is answered with a token
from the challenge's realm, obtained anonymously or with credentials from ``credentials``;
``Basic`` challenges get the credentials directly.

Default credentials: an application-default Google access token for ``*.pkg.dev`` and
``gcr.io`` hosts (when google-auth is installed), else the base64 ``auth`` entries of
``~/.docker/config.json``. Credential helpers (``credsStore``, ``credHelpers``) are not run.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from kinetic.errors import BuildError
from kinetic.images.reference import ImageReference

logger = logging.getLogger("kinetic.images")

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DEFAULT_TIMEOUT_S = 5.0

Credentials = Callable[[str], "tuple[str, str] | None"]
"""Called with a registry host; returns (username, password) or None for anonymous access."""


class RegistryClient:
    """A small Registry HTTP API v2 client for manifest lookups; tokens are cached per scope."""

    def __init__(self, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 credentials: Credentials | None = None) -> None:
        self.timeout_s = timeout_s
        self.credentials = credentials if credentials is not None else default_credentials
        self._tokens: dict[tuple[str, str], str] = {}

    def manifest_digest(self, image: ImageReference) -> str | None:
        """Return the manifest digest of ``image``, or None when the registry has no such tag.

        The digest is the ``Docker-Content-Digest`` header; when a registry omits it, the
        reference's own digest or ``""`` (exists, digest unknown) is returned. Raises
        BuildError when the registry cannot be reached or rejects the credentials.
        """
        url = f"{image.api_base}/v2/{image.repository}/manifests/{image.reference}"
        status, headers = self._head(url, image)
        if status == 404:
            return None
        if status == 200:
            return headers.get("Docker-Content-Digest") or image.digest or ""
        raise BuildError(
            f"registry {image.api_host} returned HTTP {status} for {url}; check that the "
            f"registry address is right and that you are allowed to read {image.name}"
        )

    def exists(self, image: ImageReference) -> bool:
        return self.manifest_digest(image) is not None

    def _head(self, url: str, image: ImageReference) -> tuple[int, dict[str, str]]:
        headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
        scope = f"repository:{image.repository}:pull"
        cached = self._tokens.get((image.api_host, scope))
        if cached:
            headers["Authorization"] = cached
        status, response_headers = self._request("HEAD", url, headers, image)
        if status != 401:
            return status, response_headers
        challenge = response_headers.get("WWW-Authenticate", "")
        authorization = self._authorize(challenge, image, scope)
        if authorization is None:
            return status, response_headers
        self._tokens[(image.api_host, scope)] = authorization
        headers["Authorization"] = authorization
        return self._request("HEAD", url, headers, image)

    def _authorize(self, challenge: str, image: ImageReference, scope: str) -> str | None:
        """Return an Authorization header value for ``challenge``, or None."""
        scheme, _, parameters_text = challenge.partition(" ")
        parameters = dict(re.findall(r'(\w+)="([^"]*)"', parameters_text))
        credentials = self.credentials(image.api_host)
        if scheme.lower() == "basic":
            if credentials is None:
                return None
            return "Basic " + _basic(*credentials)
        if scheme.lower() != "bearer" or "realm" not in parameters:
            logger.info("registry %s sent an unsupported challenge %r", image.api_host, challenge)
            return None
        query = {"scope": parameters.get("scope", scope)}
        if "service" in parameters:
            query["service"] = parameters["service"]
        token_url = f"{parameters['realm']}?{urllib.parse.urlencode(query)}"
        request_headers = {}
        if credentials is not None:
            request_headers["Authorization"] = "Basic " + _basic(*credentials)
        request = urllib.request.Request(token_url, headers=request_headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = json.load(response)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise BuildError(
                f"could not get a registry token for {image.name} from {parameters['realm']}: "
                f"{exc}; check your network and your registry credentials"
            ) from exc
        token = body.get("token") or body.get("access_token")
        if not token:
            raise BuildError(f"the token service {parameters['realm']} returned no token for "
                                f"{image.name}; check your registry credentials")
        return f"Bearer {token}"

    def _request(self, method: str, url: str, headers: dict[str, str],
                 image: ImageReference) -> tuple[int, dict[str, str]]:
        request = urllib.request.Request(url, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, dict(response.headers.items())
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers.items()) if exc.headers else {}
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BuildError(
                f"could not reach the registry at {image.api_base} for {image.name}: {reason}; "
                f"check that it is running and that the registry setting is right"
            ) from exc


def _basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def default_credentials(host: str) -> tuple[str, str] | None:
    """Credentials for ``host``: a Google access token for Google registries, else
    ``~/.docker/config.json`` ``auths``; None when neither has any."""
    if host.endswith((".pkg.dev", "gcr.io")):
        token = _google_access_token()
        if token:
            return "oauth2accesstoken", token
    return _docker_config_credentials(host)


def _google_access_token() -> str | None:
    try:
        import google.auth
        import google.auth.transport.requests
    except ImportError:
        return None
    try:
        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"])
        credentials.refresh(google.auth.transport.requests.Request())
    except Exception as exc:  # google.auth raises several unrelated types here.
        logger.info("no Google credentials for the registry lookup: %s", exc)
        return None
    return credentials.token


def _docker_config_credentials(host: str) -> tuple[str, str] | None:
    config_dir = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    path = Path(config_dir) / "config.json"
    try:
        auths = json.loads(path.read_text()).get("auths", {})
    except (OSError, ValueError):
        return None
    for key in (host, f"https://{host}", f"https://{host}/v1/", f"http://{host}"):
        encoded = auths.get(key, {}).get("auth")
        if encoded:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
            return username, password
    return None
