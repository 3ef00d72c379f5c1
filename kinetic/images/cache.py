"""A local record of the images this machine built or found, for ``kinetic images list``.

One JSON object per line in ``$KINETIC_CACHE_DIR/images.jsonl`` (default
``~/.cache/kinetic/images.jsonl``). The registry stays the source of truth for whether an image
exists; this file is only a listing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger("kinetic.images")


@dataclass(frozen=True)
class CachedImage:
    """One image kinetic built (``built``) or found in the registry, and when."""

    reference: str
    digest: str | None
    family: str
    base_image: str
    built: bool
    builder: str | None
    project_root: str | None
    time: float


def cache_file() -> Path:
    root = os.environ.get("KINETIC_CACHE_DIR") or str(Path.home() / ".cache" / "kinetic")
    return Path(root) / "images.jsonl"


def record_image(entry: CachedImage) -> None:
    """Append ``entry``; a failure to write is logged, never raised, as the file is a listing."""
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps(asdict(entry), sort_keys=True) + "\n")
    except OSError as exc:
        logger.warning("could not record image %s in %s: %s", entry.reference, path, exc)


def list_images() -> list[CachedImage]:
    """Return the recorded images, newest first, one per reference."""
    path = cache_file()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    latest: dict[str, CachedImage] = {}
    for number, line in enumerate(lines, start=1):
        try:
            entry = CachedImage(**json.loads(line))
        except (ValueError, TypeError) as exc:
            logger.warning("skipping line %d of %s: %s", number, path, exc)
            continue
        previous = latest.get(entry.reference)
        if previous is None or entry.time >= previous.time:
            # Keep the build flag of the record that built the image.
            built = entry.built or (previous.built if previous else False)
            latest[entry.reference] = CachedImage(**{**asdict(entry), "built": built})
    return sorted(latest.values(), key=lambda entry: entry.time, reverse=True)


def now() -> float:
    return time.time()
