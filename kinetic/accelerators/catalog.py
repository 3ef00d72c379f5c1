"""Facts about the accelerators GKE offers: TPU slice shapes, GPU machine types, host sizes, prices.

Sources: the GKE and Cloud TPU documentation, the xpk project's
``core/system_characteristics.py`` (larger v4 and v5p topologies), and the Compute Engine
machine-type pages (vCPUs and memory). This module contains data only, and ``registry`` builds
``Accelerator`` values from it.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICE_DATE = "2026-06"
"""Date of the public US price snapshot below; shown next to every cost estimate."""

TPU_LABEL_ACCELERATOR = "cloud.google.com/gke-tpu-accelerator"
TPU_LABEL_TOPOLOGY = "cloud.google.com/gke-tpu-topology"
GPU_LABEL_ACCELERATOR = "cloud.google.com/gke-accelerator"
MACHINE_TYPE_LABEL = "cloud.google.com/gce-machine-type"
SPOT_LABEL = "cloud.google.com/gke-spot"
RESERVATION_NAME_LABEL = "cloud.google.com/reservation-name"
RESERVATION_AFFINITY_LABEL = "cloud.google.com/reservation-affinity"

TPU_RESOURCE = "google.com/tpu"
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class TpuShape:
    """One TPU slice shape: its topology and the VMs (GKE nodes) that host it."""

    topology: str
    machine_type: str
    hosts: int
    chips_per_host: int

    @property
    def chips(self) -> int:
        return self.hosts * self.chips_per_host


@dataclass(frozen=True)
class TpuFamily:
    """A TPU generation as GKE schedules it."""

    family: str
    gke_accelerator: str
    tensorcores_per_chip: int
    """2 for v4 and v5p, whose Cloud TPU API names (``v5p-8``) count TensorCores; 1 otherwise."""
    shapes: tuple[TpuShape, ...]
    shared_topologies: frozenset[str] = frozenset()
    """Topologies that two machine types offer, so pods must also select the machine type."""


@dataclass(frozen=True)
class GpuFamily:
    """A GPU model and the machine types that carry 1, 2, 4, 8 or 16 of it."""

    family: str
    display_name: str
    gke_accelerator: str
    machine_types: tuple[tuple[int, str], ...]
    """(GPU count, machine type) pairs, ascending by count."""

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(count for count, _ in self.machine_types)


def _tpu_2d_shapes(single_1: str, single_4: str, single_8: str) -> tuple[TpuShape, ...]:
    """Shapes of v5e and v6e: 1x1, 2x2 and 2x4 on one VM, larger slices on 4-chip VMs."""
    multi_host = [("4x4", 4), ("4x8", 8), ("8x8", 16), ("8x16", 32), ("16x16", 64)]
    return (
        TpuShape("1x1", single_1, 1, 1),
        TpuShape("2x2", single_4, 1, 4),
        TpuShape("2x4", single_8, 1, 8),
        *(TpuShape(topology, single_4, hosts, 4) for topology, hosts in multi_host),
    )


def _tpu_3d_shapes(machine_type: str, topologies: tuple[str, ...]) -> tuple[TpuShape, ...]:
    """Shapes of v4 and v5p: always 4 chips per VM."""
    shapes = []
    for topology in topologies:
        x, y, z = (int(dim) for dim in topology.split("x"))
        shapes.append(TpuShape(topology, machine_type, x * y * z // 4, 4))
    return tuple(shapes)


# The GKE TPU documentation lists v4 and v5p topologies up to 4x4x4; the larger ones come from
# xpk's table of supported topologies.
_3D_TOPOLOGIES = (
    "2x2x1", "2x2x2", "2x2x4", "2x4x4", "4x4x4",
    "4x4x8", "4x8x8", "8x8x8", "8x8x16", "8x16x16",
)

TPU_FAMILIES: dict[str, TpuFamily] = {
    "v4": TpuFamily(
        family="v4",
        gke_accelerator="tpu-v4-podslice",
        tensorcores_per_chip=2,
        shapes=_tpu_3d_shapes("ct4p-hightpu-4t", _3D_TOPOLOGIES),
    ),
    "v5e": TpuFamily(
        family="v5e",
        gke_accelerator="tpu-v5-lite-podslice",
        tensorcores_per_chip=1,
        shapes=_tpu_2d_shapes("ct5lp-hightpu-1t", "ct5lp-hightpu-4t", "ct5lp-hightpu-8t"),
        shared_topologies=frozenset({"2x4"}),
    ),
    "v5p": TpuFamily(
        family="v5p",
        gke_accelerator="tpu-v5p-slice",
        tensorcores_per_chip=2,
        shapes=_tpu_3d_shapes("ct5p-hightpu-4t", _3D_TOPOLOGIES + ("16x16x16",)),
    ),
    "v6e": TpuFamily(
        family="v6e",
        gke_accelerator="tpu-v6e-slice",
        tensorcores_per_chip=1,
        shapes=_tpu_2d_shapes("ct6e-standard-1t", "ct6e-standard-4t", "ct6e-standard-8t"),
        shared_topologies=frozenset({"2x4"}),
    ),
}

# Spellings of each TPU generation, after the optional "tpu-" prefix: kinetic's own, the Cloud
# TPU API's (v5litepod) and the GKE node label's (tpu-v5-lite-podslice).
TPU_ALIASES: dict[str, str] = {
    "v4": "v4",
    "v4-podslice": "v4",
    "v5e": "v5e",
    "v5litepod": "v5e",
    "v5lite": "v5e",
    "v5-lite-podslice": "v5e",
    "v5p": "v5p",
    "v5p-slice": "v5p",
    "v6e": "v6e",
    "v6e-slice": "v6e",
}

GPU_FAMILIES: dict[str, GpuFamily] = {
    "t4": GpuFamily("t4", "NVIDIA T4", "nvidia-tesla-t4",
                    ((1, "n1-standard-4"), (2, "n1-standard-8"), (4, "n1-standard-16"))),
    "l4": GpuFamily("l4", "NVIDIA L4", "nvidia-l4",
                    ((1, "g2-standard-4"), (2, "g2-standard-24"), (4, "g2-standard-48"),
                     (8, "g2-standard-96"))),
    "a100": GpuFamily("a100", "NVIDIA A100 40GB", "nvidia-tesla-a100",
                      ((1, "a2-highgpu-1g"), (2, "a2-highgpu-2g"), (4, "a2-highgpu-4g"),
                       (8, "a2-highgpu-8g"), (16, "a2-megagpu-16g"))),
    "a100-80gb": GpuFamily("a100-80gb", "NVIDIA A100 80GB", "nvidia-a100-80gb",
                           ((1, "a2-ultragpu-1g"), (2, "a2-ultragpu-2g"), (4, "a2-ultragpu-4g"),
                            (8, "a2-ultragpu-8g"))),
    # NOTE: a3-highgpu-1g, -2g and -4g may be offered only as Spot or flex-start VMs; that
    # restriction is unverified.
    "h100": GpuFamily("h100", "NVIDIA H100 80GB", "nvidia-h100-80gb",
                      ((1, "a3-highgpu-1g"), (2, "a3-highgpu-2g"), (4, "a3-highgpu-4g"),
                       (8, "a3-highgpu-8g"))),
    "h100-mega": GpuFamily("h100-mega", "NVIDIA H100 Mega 80GB", "nvidia-h100-mega-80gb",
                           ((8, "a3-megagpu-8g"),)),
    "h200": GpuFamily("h200", "NVIDIA H200 141GB", "nvidia-h200-141gb",
                      ((8, "a3-ultragpu-8g"),)),
}

GPU_ALIASES: dict[str, str] = {
    "t4": "t4",
    "nvidia-tesla-t4": "t4",
    "l4": "l4",
    "nvidia-l4": "l4",
    "a100": "a100",
    "a100-40gb": "a100",
    "nvidia-tesla-a100": "a100",
    "a100-80gb": "a100-80gb",
    "nvidia-a100-80gb": "a100-80gb",
    "h100": "h100",
    "h100-80gb": "h100",
    "nvidia-h100-80gb": "h100",
    "h100-mega": "h100-mega",
    "h100-mega-80gb": "h100-mega",
    "nvidia-h100-mega-80gb": "h100-mega",
    "h200": "h200",
    "h200-141gb": "h200",
    "nvidia-h200-141gb": "h200",
}

# (vCPUs, memory in GiB) per VM. Compute Engine states memory in "GB" meaning 2**30 bytes.
# NOTE: only the n1, a2-highgpu, a2-ultragpu-1g and a3-highgpu-8g rows were checked against a
# published table. The others, the ct* TPU VMs included, are unverified, and a row that is too
# large makes the default requests (three quarters of it) unschedulable.
MACHINE_RESOURCES: dict[str, tuple[int, int]] = {
    "n1-standard-4": (4, 15),
    "n1-standard-8": (8, 30),
    "n1-standard-16": (16, 60),
    "g2-standard-4": (4, 16),
    "g2-standard-24": (24, 96),
    "g2-standard-48": (48, 192),
    "g2-standard-96": (96, 384),
    "a2-highgpu-1g": (12, 85),
    "a2-highgpu-2g": (24, 170),
    "a2-highgpu-4g": (48, 340),
    "a2-highgpu-8g": (96, 680),
    "a2-megagpu-16g": (96, 1360),
    "a2-ultragpu-1g": (12, 170),
    "a2-ultragpu-2g": (24, 340),
    "a2-ultragpu-4g": (48, 680),
    "a2-ultragpu-8g": (96, 1360),
    "a3-highgpu-1g": (26, 234),
    "a3-highgpu-2g": (52, 468),
    "a3-highgpu-4g": (104, 936),
    "a3-highgpu-8g": (208, 1872),
    "a3-megagpu-8g": (208, 1872),
    "a3-ultragpu-8g": (224, 2952),
    "ct4p-hightpu-4t": (240, 407),
    "ct5lp-hightpu-1t": (24, 48),
    "ct5lp-hightpu-4t": (112, 192),
    "ct5lp-hightpu-8t": (224, 384),
    "ct5p-hightpu-4t": (208, 448),
    "ct6e-standard-1t": (44, 176),
    "ct6e-standard-4t": (180, 720),
    "ct6e-standard-8t": (180, 1440),
}

# US prices in dollars per chip or per GPU per hour, (on-demand, spot), as of PRICE_DATE.
# GPU prices cover the GPU only; the host VM is billed on top. Families missing here
# (a100-80gb, h100-mega, cpu) have no catalog price; a profile can supply one.
PRICES: dict[str, tuple[float, float]] = {
    "v5e": (1.20, 0.245),  # spot price from us-central1
    "v5p": (4.20, 0.836),
    "v6e": (2.70, 0.544),
    "v4": (3.22, 0.92),
    "t4": (0.35, 0.175),
    "l4": (0.56, 0.223),
    "a100": (2.934, 1.434),
    "h100": (4.201, 2.99),  # on-demand price from us-central1
    "h200": (9.31, 4.66),  # on-demand price from us-central1
}
