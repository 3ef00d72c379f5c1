"""The build context: a folder holding only what the image build needs.

It is assembled from scratch and never from the project folder, so the project's files
(credentials, ``.env``, ``.git``, virtual environments) cannot reach an image; the project's
code travels with each job instead. It holds the rendered ``Dockerfile``, ``requirements.txt``,
kinetic's wheel or installed files, and where configured a CA bundle and a ``pip.conf``.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from kinetic.errors import BuildError, ConfigError
from kinetic.images.distribution import KineticDistribution, stage_kinetic
from kinetic.images.options import BuildOptions
from kinetic.images.requirements import ResolvedRequirements
from kinetic.images.templates import render_dockerfile

CA_CERT_NAME = "ca-certificates.crt"
PIP_CONF_NAME = "pip.conf"


@dataclass(frozen=True)
class BuildContext:
    """A prepared build context folder and its rendered Dockerfile."""

    directory: Path
    dockerfile: str

    def tar(self, *, compress: bool = False) -> bytes:
        """Pack the folder as a tar (gzip-compressed when ``compress``), with sorted members
        and no owners or timestamps, so equal contexts give equal bytes."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for path in sorted(self.directory.rglob("*")):
                info = archive.gettarinfo(str(path), path.relative_to(self.directory).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if info.isfile():
                    with open(path, "rb") as file:
                        archive.addfile(info, file)
                else:
                    archive.addfile(info)
        data = buffer.getvalue()
        if compress:
            return gzip.compress(data, mtime=0)
        return data


def create_context(directory: Path, *, family: str, from_image: str, python_version: str,
                   requirements: ResolvedRequirements, distribution: KineticDistribution,
                   options: BuildOptions, labels: Mapping[str, str],
                   template_dir: Path | None = None) -> BuildContext:
    """Fill the empty folder ``directory`` with the build context of one image.

    ``labels`` become the image's labels; their values must not contain double quotes.
    """
    (directory / "requirements.txt").write_text(requirements.requirements_txt())
    staged = stage_kinetic(distribution, directory)

    ca_cert = None
    if options.ca_cert_file is not None:
        source = Path(options.ca_cert_file).expanduser()
        if not source.is_file():
            raise ConfigError(f"the build CA certificate file {source} does not exist; point "
                              f"build_ca_cert at a PEM bundle or unset it")
        shutil.copyfile(source, directory / CA_CERT_NAME)
        ca_cert = CA_CERT_NAME

    pip_conf = None
    if options.pip_index_url:
        if not options.pip_index_url.startswith(("http://", "https://")):
            raise ConfigError(f"pip_index_url {options.pip_index_url!r} is not an http(s) URL; "
                              f"set it to your index's simple API URL")
        (directory / PIP_CONF_NAME).write_text(f"[global]\nindex-url = {options.pip_index_url}\n")
        pip_conf = PIP_CONF_NAME

    dockerfile = render_dockerfile(family, {
        "base_image": from_image,
        "python_version": python_version,
        "ca_cert": ca_cert,
        "pip_conf": pip_conf,
        "hash_checking": any("--hash=" in line for line in requirements.lines),
        "kinetic_pip_arguments": staged.pip_arguments,
        "kinetic_site_packages": staged.site_packages_dir,
        "labels": _checked_labels(labels),
    }, template_dir)
    if (directory / "Dockerfile").exists():
        raise BuildError(f"the build context {directory} already contains a Dockerfile; pass an "
                         f"empty folder")
    (directory / "Dockerfile").write_text(dockerfile)
    return BuildContext(directory, dockerfile)


def _checked_labels(labels: Mapping[str, str]) -> dict[str, str]:
    for name, value in labels.items():
        if '"' in value or "\\" in value or "\n" in value or not name or " " in name:
            raise BuildError(f"image label {name}={value!r} cannot be written to a Dockerfile; "
                             f"labels must not contain quotes, backslashes or newlines")
    return dict(labels)
