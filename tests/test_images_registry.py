"""Manifest lookups: token authentication against a local server, and the real registry."""

from __future__ import annotations

import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from docker_fixtures import docker_env  # noqa: F401 (pytest fixture)
from kinetic.errors import BuildError, ConfigError
from kinetic.images.reference import parse_reference
from kinetic.images.registry import MANIFEST_MEDIA_TYPES, RegistryClient

DIGEST = "sha256:" + "ab" * 32


class TokenRegistry:
    """A local server speaking the token-auth subset of the Docker Registry HTTP API v2.

    ``HEAD /v2/<name>/manifests/<ref>`` returns 401 with a ``WWW-Authenticate: Bearer``
    challenge unless the request carries the token; ``GET /token`` hands out the token, and
    when ``credentials`` is set only to requests with that Basic login. Departs from a real
    registry: ``manifests`` maps ``name:ref`` to a digest instead of storing manifests, and
    tokens are plain strings, not JWTs.
    """

    TOKEN = "token-123"

    def __init__(self, manifests: dict[str, str],
                 credentials: tuple[str, str] | None = None) -> None:
        self.manifests = manifests
        self.credentials = credentials
        self.token_requests: list[dict[str, str]] = []
        self.accept_headers: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "TokenRegistry":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
                registry.accept_headers.append(self.headers.get("Accept", ""))
                if self.headers.get("Authorization") != f"Bearer {registry.TOKEN}":
                    self.send_response(401)
                    name = self.path.split("/manifests/")[0][len("/v2/"):]
                    self.send_header(
                        "WWW-Authenticate",
                        f'Bearer realm="http://{registry.host}/token",service="fake",'
                        f'scope="repository:{name}:pull"')
                    self.end_headers()
                    return
                name, _, reference = self.path[len("/v2/"):].partition("/manifests/")
                digest = registry.manifests.get(f"{name}:{reference}")
                self.send_response(200 if digest else 404)
                if digest:
                    self.send_header("Docker-Content-Digest", digest)
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                path, _, query = self.path.partition("?")
                registry.token_requests.append(
                    dict(part.split("=", 1) for part in query.split("&") if "=" in part))
                expected = None
                if registry.credentials:
                    login = ":".join(registry.credentials).encode()
                    expected = "Basic " + base64.b64encode(login).decode()
                if path != "/token" or (expected and self.headers.get("Authorization") != expected):
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": registry.TOKEN}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def test_bearer_challenge_answered_anonymously():
    with TokenRegistry({"team/app:v1": DIGEST}) as registry:
        client = RegistryClient(credentials=lambda host: None)
        digest = client.manifest_digest(parse_reference(f"{registry.host}/team/app:v1"))
    assert digest == DIGEST
    assert registry.token_requests == [
        {"scope": "repository%3Ateam%2Fapp%3Apull", "service": "fake"}]


def test_manifest_request_accepts_index_and_manifest_types():
    with TokenRegistry({"team/app:v1": DIGEST}) as registry:
        RegistryClient(credentials=lambda host: None).manifest_digest(
            parse_reference(f"{registry.host}/team/app:v1"))
    for media_type in MANIFEST_MEDIA_TYPES:
        assert media_type in registry.accept_headers[-1]


def test_token_reused_for_second_lookup():
    with TokenRegistry({"team/app:v1": DIGEST, "team/app:v2": DIGEST}) as registry:
        client = RegistryClient(credentials=lambda host: None)
        client.manifest_digest(parse_reference(f"{registry.host}/team/app:v1"))
        client.manifest_digest(parse_reference(f"{registry.host}/team/app:v2"))
    assert len(registry.token_requests) == 1


def test_credentials_sent_to_token_service():
    seen_hosts = []

    def credentials(host):
        seen_hosts.append(host)
        return ("oauth2accesstoken", "secret-token")

    with TokenRegistry({"p/r/img:1": DIGEST}, credentials=("oauth2accesstoken",
                                                           "secret-token")) as registry:
        digest = RegistryClient(credentials=credentials).manifest_digest(
            parse_reference(f"{registry.host}/p/r/img:1"))
    assert digest == DIGEST
    assert seen_hosts == [registry.host]


def test_wrong_credentials_raise_build_error():
    with TokenRegistry({"p/img:1": DIGEST}, credentials=("user", "right")) as registry:
        client = RegistryClient(credentials=lambda host: ("user", "wrong"))
        with pytest.raises(BuildError, match="could not get a registry token"):
            client.manifest_digest(parse_reference(f"{registry.host}/p/img:1"))


def test_missing_tag_returns_none():
    with TokenRegistry({}) as registry:
        client = RegistryClient(credentials=lambda host: None)
        assert client.manifest_digest(parse_reference(f"{registry.host}/p/img:1")) is None


def test_unreachable_registry_raises_with_address():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = RegistryClient(credentials=lambda host: None, timeout_s=2)
    with pytest.raises(BuildError, match=f"could not reach the registry at http://127.0.0.1:"
                                         f"{port}"):
        client.manifest_digest(parse_reference(f"127.0.0.1:{port}/p/img:1"))


@pytest.mark.parametrize("text, registry, repository, tag, digest", [
    ("python:3.11-slim", "docker.io", "library/python", "3.11-slim", None),
    ("user/app", "docker.io", "user/app", None, None),
    ("127.0.0.1:5000/kinetic-test/python:3.11", "127.0.0.1:5000", "kinetic-test/python",
     "3.11", None),
    ("us-docker.pkg.dev/proj/repo/img@" + DIGEST, "us-docker.pkg.dev", "proj/repo/img", None,
     DIGEST),
    ("localhost/img:1@" + DIGEST, "localhost", "img", "1", DIGEST),
])
def test_reference_parsing(text, registry, repository, tag, digest):
    reference = parse_reference(text)
    assert (reference.registry, reference.repository, reference.tag, reference.digest) == (
        registry, repository, tag, digest)


@pytest.mark.parametrize("text", ["Python:3.11", "img:bad tag", "img@sha256:xyz", "a//b"])
def test_malformed_reference_rejected(text):
    with pytest.raises(ConfigError, match="image reference"):
        parse_reference(text)


def test_loopback_registries_use_http():
    assert parse_reference("127.0.0.1:5000/a").api_base == "http://127.0.0.1:5000"
    assert parse_reference("localhost:5000/a").api_base == "http://localhost:5000"
    assert parse_reference("python").api_base == "https://registry-1.docker.io"
    assert parse_reference("gcr.io/p/a").api_base == "https://gcr.io"


@pytest.mark.docker
def test_real_registry_reports_base_digest(docker_env):
    client = RegistryClient(credentials=lambda host: None)
    base = parse_reference(docker_env.base_image)
    digest = client.manifest_digest(base)
    assert digest is not None and digest.startswith("sha256:")
    by_digest = parse_reference(f"{base.name}@{digest}")
    assert client.manifest_digest(by_digest) == digest
    assert client.manifest_digest(base.with_tag("no-such-tag")) is None
