"""Time keras-kinetic's packaging of a project; run by the harness with that venv's python.

keras-kinetic 0.0.4 installs a top-level package also named ``kinetic``, so it runs in its own
virtual environment. This script imports nothing from the ``bench`` package, because that
interpreter has neither it nor this repository's kinetic.

It times what ``kinetic.backend.execution._prepare_artifacts`` of keras-kinetic 0.0.4 does
for a call with no ``Data`` arguments: ``packager.save_payload``, ``packager.zip_working_dir``
and a sha256 of each file. An audit hook records every socket connection (other than to a Unix
socket), datagram send and name lookup; if there is any, the script fails, because the
measurement must not touch the network. Binding a socket is not recorded: libraries bind one to
``::1`` to probe for IPv6 support, which sends nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import socket

NETWORK_EVENTS = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                  "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg")
network_attempts: list[str] = []


def _record_network(event: str, arguments: tuple) -> None:
    if event not in NETWORK_EVENTS:
        return
    if event == "socket.connect" and getattr(arguments[0], "family", None) == socket.AF_UNIX:
        return
    network_attempts.append(f"{event} {arguments!r}")


sys.addaudithook(_record_network)


def measure_package(args: argparse.Namespace) -> dict:
    import importlib.metadata

    from kinetic.backend.execution import _file_sha256
    from kinetic.utils import packager

    root = Path(args.root).resolve()
    sys.path.insert(0, str(root))
    import train  # the generated project's module

    work = Path(args.work)
    samples: list[float] = []
    for iteration in range(args.warmup + args.repeat):
        output = work / f"artifacts-{iteration}"
        output.mkdir(parents=True)
        payload = output / "payload.pkl"
        context = output / "context.zip"
        start = time.perf_counter()
        packager.save_payload(train.train, ("configs/config_00.json",), {"steps": 10}, {},
                              str(payload), working_dir=str(root))
        _file_sha256(str(payload))
        packager.zip_working_dir(str(root), str(context))
        _file_sha256(str(context))
        elapsed = time.perf_counter() - start
        if iteration >= args.warmup:
            samples.append(elapsed)
        sizes = payload.stat().st_size, context.stat().st_size
        shutil.rmtree(output)

    return {
        "samples": samples, "payload_bytes": sizes[0], "archive_bytes": sizes[1],
        "version": importlib.metadata.version("keras-kinetic"),
        "kinetic_module": sys.modules["kinetic"].__file__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", required=True, help="file to write the measurements to")
    parser.add_argument("--root", required=True, help="project to package")
    parser.add_argument("--work", required=True, help="scratch folder for the artifacts")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    measurements = measure_package(args)
    if network_attempts:
        raise SystemExit("keras-kinetic touched the network during the benchmark: "
                         + "; ".join(network_attempts[:5]))
    Path(args.json).write_text(json.dumps(measurements))


if __name__ == "__main__":
    main()
