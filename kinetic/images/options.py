"""Build settings for networks behind a proxy or a private package index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BuildOptions:
    """Network settings of an image build; none of them change the image tag.

    ``network_mode`` is the build containers' network (``"host"`` where the default bridge
    cannot reach the internet). ``ca_cert_file`` is a PEM bundle that pip trusts during the
    build only (for a TLS-intercepting proxy); it is not in the pushed image.
    ``pip_index_url`` replaces PyPI during the build; it may carry credentials, which stay in
    the build's first stage and never reach the pushed image.
    """

    network_mode: str | None = None
    ca_cert_file: Path | None = None
    pip_index_url: str | None = None
