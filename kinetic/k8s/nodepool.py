"""``NodePoolSpec``: the GKE node pool a job's accelerator needs, for plans and the GKE backend."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from kinetic.accelerators import Accelerator
from kinetic.errors import AcceleratorError

GPU_DRIVER_VERSION = "DEFAULT"
"""``gpu_driver_installation_config.gpu_driver_version`` of GPU pools; GKE installs the driver."""


@dataclass(frozen=True)
class NodePoolSpec:
    """A GKE node pool in the terms of the ``google.cloud.container_v1`` ``NodePool`` type.

    ``machine_type`` is ``None`` for ``cpu``: the job runs on any existing node. Multi-host TPU
    pools set ``placement_policy`` to ``COMPACT`` with ``tpu_topology``; single-host pools
    leave both unset. GPU pools set ``gpu_type``, ``gpu_count`` and ``gpu_driver_version``;
    TPU pools have no accelerator entry because the ct* machine type implies the chips.
    ``reservation`` maps to ``reservation_affinity`` SPECIFIC_RESERVATION with that name.
    """

    name: str
    machine_type: str | None
    node_count: int
    spot: bool = False
    placement_policy: str | None = None
    tpu_topology: str | None = None
    gpu_type: str | None = None
    gpu_count: int | None = None
    gpu_driver_version: str | None = None
    reservation: str | None = None

    def describe(self) -> str:
        """Summarize the pool in one line, for plans."""
        if self.machine_type is None:
            return "no dedicated node pool: any node of the cluster"
        parts = [f"{self.node_count} x {self.machine_type}"]
        if self.gpu_type is not None:
            parts.append(f"{self.gpu_count} x {self.gpu_type} per node, "
                         f"driver {self.gpu_driver_version}")
        if self.placement_policy is not None:
            parts.append(f"placement {self.placement_policy} topology {self.tpu_topology}")
        if self.spot:
            parts.append("spot")
        if self.reservation is not None:
            parts.append(f"reservation {self.reservation}")
        return f"{self.name}: " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodePoolSpec:
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def node_pool_for(accelerator: Accelerator, reservation: str | None = None) -> NodePoolSpec:
    """Describe the node pool that runs one job on ``accelerator``.

    ``node_count`` is the slice's host count. A multi-host slice is atomic, so a pool contains a
    multiple of it. The suggested ``name`` is ``kinetic-<accelerator name>`` plus ``-spot``.
    Raises AcceleratorError for a spot accelerator with a reservation.
    """
    if accelerator.spot and reservation is not None:
        raise AcceleratorError(
            f"spot accelerator {accelerator.spec!r} cannot use reservation {reservation!r}: "
            "GKE does not combine Spot VMs with reservations; drop ':spot' or the reservation")
    name = f"kinetic-{accelerator.name}" + ("-spot" if accelerator.spot else "")
    pool = NodePoolSpec(name=name, machine_type=accelerator.machine_type,
                        node_count=accelerator.hosts, spot=accelerator.spot,
                        reservation=reservation)
    if accelerator.kind == "gpu":
        return dataclasses.replace(pool, gpu_type=accelerator.gke_accelerator,
                                   gpu_count=accelerator.chips,
                                   gpu_driver_version=GPU_DRIVER_VERSION)
    if accelerator.kind == "tpu" and accelerator.multi_host:
        return dataclasses.replace(pool, placement_policy="COMPACT",
                                   tpu_topology=accelerator.topology)
    return pool
