"""``Plan``: what a job will run on, what it ships and what it may cost, before it is submitted.

``build_plan`` assembles one from a ``WorkloadSpec`` and the packaging figures. A plan is
printed by ``RemoteFunction.plan()`` and stored with each job as ``plan.json``, which
``Plan.from_dict`` reads back for ``kinetic jobs plan ID``. Plans never hold secret values:
Secret manifests are redacted on construction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kinetic.accelerators import Accelerator
from kinetic.errors import StoreError
from kinetic.k8s.manifests import redact_secret, render_manifests
from kinetic.k8s.nodepool import NodePoolSpec, node_pool_for
from kinetic.k8s.workload import WorkloadSpec

PLAN_SCHEMA = 1


@dataclass(frozen=True)
class Plan:
    """A resolved job before submission.

    ``price_per_hour`` is the spot or on-demand price of the whole slice or GPU set (per
    ``accelerator.spot``), and ``timeout_cost`` is that price times ``timeout_s``. Both are
    ``None`` where no price is known. Sizes are in bytes, and ``largest_items`` lists (path,
    bytes) pairs of the biggest entries. ``image_needs_build`` is ``None`` when not checked.
    """

    job_id: str
    accelerator: Accelerator
    backend: str
    image: str
    image_needs_build: bool | None
    node_pool: NodePoolSpec
    manifests: tuple[dict[str, Any], ...] = field(hash=False)
    payload_bytes: int
    archive_bytes: int
    largest_items: tuple[tuple[str, int], ...]
    excluded_paths: tuple[str, ...]
    price_per_hour: float | None
    timeout_s: int | None
    timeout_cost: float | None
    price_date: str | None

    def __post_init__(self) -> None:
        manifests = tuple(redact_secret(m) if m.get("kind") == "Secret" else m
                          for m in self.manifests)
        object.__setattr__(self, "manifests", manifests)
        object.__setattr__(self, "largest_items",
                           tuple((str(name), int(size)) for name, size in self.largest_items))
        object.__setattr__(self, "excluded_paths", tuple(self.excluded_paths))

    # Serialization ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Serialize to JSON-compatible types; ``from_dict`` reverses it."""
        return {
            "schema": PLAN_SCHEMA,
            "job_id": self.job_id,
            "accelerator": self.accelerator.to_dict(),
            "backend": self.backend,
            "image": self.image,
            "image_needs_build": self.image_needs_build,
            "node_pool": self.node_pool.to_dict(),
            "manifests": list(self.manifests),
            "payload_bytes": self.payload_bytes,
            "archive_bytes": self.archive_bytes,
            "largest_items": [[name, size] for name, size in self.largest_items],
            "excluded_paths": list(self.excluded_paths),
            "price_per_hour": self.price_per_hour,
            "timeout_s": self.timeout_s,
            "timeout_cost": self.timeout_cost,
            "price_date": self.price_date,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """Rebuild a plan from ``to_dict`` output, such as a stored ``plan.json``.

        Raises StoreError when the record is not a plan of a known schema or misses a key.
        """
        if not isinstance(data, dict) or data.get("schema") != PLAN_SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise StoreError(
                f"invalid plan record: expected schema {PLAN_SCHEMA}, found {found!r}; "
                "the job was planned by another kinetic version, rerun the plan")
        try:
            return cls(
                job_id=data["job_id"],
                accelerator=Accelerator.from_dict(data["accelerator"]),
                backend=data["backend"],
                image=data["image"],
                image_needs_build=data["image_needs_build"],
                node_pool=NodePoolSpec.from_dict(data["node_pool"]),
                manifests=tuple(data["manifests"]),
                payload_bytes=data["payload_bytes"],
                archive_bytes=data["archive_bytes"],
                largest_items=tuple(tuple(item) for item in data["largest_items"]),
                excluded_paths=tuple(data["excluded_paths"]),
                price_per_hour=data["price_per_hour"],
                timeout_s=data["timeout_s"],
                timeout_cost=data["timeout_cost"],
                price_date=data["price_date"],
            )
        except (KeyError, TypeError) as error:
            raise StoreError(f"invalid plan record for job {data.get('job_id')!r}: "
                             f"missing or malformed field {error}") from error

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.from_dict(json.loads(text))

    # Display ---------------------------------------------------------------------------------

    def to_text(self) -> str:
        """Render for the terminal: a summary, then the manifests as YAML (plain text)."""
        lines = [
            f"Job          {self.job_id} on backend {self.backend}",
            f"Accelerator  {self.accelerator.describe()}",
            f"Node pool    {self.node_pool.describe()}",
            f"Image        {self.image} ({_image_state(self.image_needs_build)})",
            f"Payload      {format_bytes(self.payload_bytes)} pickled function and arguments",
            f"Archive      {format_bytes(self.archive_bytes)} project code",
        ]
        if self.largest_items:
            items = ", ".join(f"{name} {format_bytes(size)}" for name, size in self.largest_items)
            lines.append(f"Largest      {items}")
        if self.excluded_paths:
            shown = ", ".join(self.excluded_paths[:12])
            more = len(self.excluded_paths) - 12
            lines.append(f"Excluded     {shown}" + (f", and {more} more" if more > 0 else ""))
        lines.append(f"Price        {self._price_text()}")
        lines.append(f"Timeout      {self._timeout_text()}")
        lines.append("")
        lines.append("Manifests:")
        lines.append(yaml.safe_dump_all(list(self.manifests), sort_keys=False).rstrip())
        return "\n".join(lines) + "\n"

    def _price_text(self) -> str:
        if self.price_per_hour is None:
            return (f"unknown: the catalog has no price for {self.accelerator.family}; "
                    f"set one under [prices.{self.accelerator.family}] in your profile file")
        kind = "spot" if self.accelerator.spot else "on-demand"
        date = self.price_date or ""
        source = f"prices as of {date}" if date[:1].isdigit() and "," not in date \
            else f"price source: {date}"
        text = f"${self.price_per_hour:,.2f}/hour {kind} ({source})"
        if self.accelerator.kind == "gpu":
            text += ", GPUs only: the host VM is billed on top"
        return text

    def _timeout_text(self) -> str:
        if self.timeout_s is None:
            return "none (the job runs until it ends)"
        text = format_duration(self.timeout_s)
        if self.timeout_cost is not None:
            text += f", at most ${self.timeout_cost:,.2f} if it runs that long"
        return text


def build_plan(workload: WorkloadSpec, *, backend: str, image_needs_build: bool | None,
               payload_bytes: int, archive_bytes: int,
               largest_items: Iterable[tuple[str, int]] = (),
               excluded_paths: Sequence[str] = ()) -> Plan:
    """Assemble the plan of ``workload``: node pool, redacted manifests, price and sizes."""
    accelerator = workload.accelerator
    price = accelerator.price_per_hour
    timeout_cost = None
    if price is not None and workload.timeout_s is not None:
        timeout_cost = round(price * workload.timeout_s / 3600, 2)
    return Plan(
        job_id=workload.job_id,
        accelerator=accelerator,
        backend=backend,
        image=workload.image,
        image_needs_build=image_needs_build,
        node_pool=node_pool_for(accelerator, workload.reservation),
        manifests=tuple(render_manifests(workload, redact_secrets=True)),
        payload_bytes=payload_bytes,
        archive_bytes=archive_bytes,
        largest_items=tuple(largest_items),
        excluded_paths=tuple(excluded_paths),
        price_per_hour=price,
        timeout_s=workload.timeout_s,
        timeout_cost=timeout_cost,
        price_date=accelerator.price_date,
    )


def format_bytes(size: int) -> str:
    """Format a byte count with a binary unit: ``512 B``, ``1.5 KiB``, ``3.2 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: int) -> str:
    """Format seconds as ``1h 30m``, ``45m 10s`` or ``20s``."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _image_state(needs_build: bool | None) -> str:
    if needs_build is None:
        return "not checked"
    return "will be built" if needs_build else "already built"
