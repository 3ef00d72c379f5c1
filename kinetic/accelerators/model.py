"""The resolved accelerator: one frozen value carried from the parser to the plan and manifests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from kinetic.accelerators import catalog

Kind = Literal["cpu", "gpu", "tpu"]


@dataclass(frozen=True)
class Accelerator:
    """An accelerator shape resolved to what GKE schedules: chips, hosts, machine type, labels.

    ``chips`` is the total number of TPU chips or GPUs (0 for ``cpu``). ``hosts`` is the number
    of VMs (GKE nodes, one pod each), and each pod requests ``chips_per_host`` under
    ``resource_key``. Prices are for the whole slice or GPU set per hour, in US dollars, or
    ``None`` where the catalog has none. ``price_date`` names their source.
    """

    name: str
    """Canonical spelling without the spot suffix, such as ``tpu-v5e-8``, ``h100x8`` or ``cpu``."""
    kind: Kind
    family: str
    """Catalog family: ``cpu``, a GPU (``t4``, ``h100``, ...) or a TPU generation (``v5e``, ...)."""
    chips: int
    topology: str | None
    hosts: int
    chips_per_host: int
    machine_type: str | None
    """Compute Engine machine type of each host; ``None`` for ``cpu`` (any node)."""
    gke_accelerator: str | None
    """Value of the GKE accelerator node label (``tpu-v6e-slice``, ``nvidia-l4``)."""
    resource_key: str | None
    host_vcpus: int | None
    host_memory_gib: int | None
    price_per_hour_on_demand: float | None
    price_per_hour_spot: float | None
    price_date: str | None
    """``catalog.PRICE_DATE`` for catalog prices; names the override when a profile set one."""
    spot: bool = False
    select_machine_type: bool = False
    """Whether pods also select ``cloud.google.com/gce-machine-type`` because another machine
    type offers the same TPU topology."""

    @property
    def spec(self) -> str:
        """The string that parses back to this value: ``name`` plus ``:spot`` when spot."""
        return f"{self.name}:spot" if self.spot else self.name

    @property
    def multi_host(self) -> bool:
        return self.hosts > 1

    @property
    def image_family(self) -> Kind:
        """Which base image the job needs: ``cpu``, ``gpu`` or ``tpu``."""
        return self.kind

    @property
    def tensorcores(self) -> int | None:
        """TensorCores in a TPU slice, the unit of Cloud TPU API names for v4 and v5p."""
        if self.kind != "tpu":
            return None
        return self.chips * catalog.TPU_FAMILIES[self.family].tensorcores_per_chip

    @property
    def price_per_hour(self) -> float | None:
        """The hourly price that applies: the spot price for spot, else on-demand."""
        return self.price_per_hour_spot if self.spot else self.price_per_hour_on_demand

    @property
    def node_selector(self) -> dict[str, str]:
        """Node labels every pod of the job selects (a fresh dict on each access)."""
        selector: dict[str, str] = {}
        if self.kind == "tpu":
            selector[catalog.TPU_LABEL_ACCELERATOR] = self.gke_accelerator or ""
            selector[catalog.TPU_LABEL_TOPOLOGY] = self.topology or ""
        elif self.kind == "gpu":
            selector[catalog.GPU_LABEL_ACCELERATOR] = self.gke_accelerator or ""
        if self.select_machine_type and self.machine_type:
            selector[catalog.MACHINE_TYPE_LABEL] = self.machine_type
        if self.spot:
            selector[catalog.SPOT_LABEL] = "true"
        return selector

    @property
    def tolerations(self) -> list[dict[str, str]]:
        """Tolerations for the taints GKE puts on accelerator and spot nodes (fresh list)."""
        tolerations = []
        if self.resource_key is not None:
            tolerations.append({"key": self.resource_key, "operator": "Exists",
                                "effect": "NoSchedule"})
        if self.spot:
            tolerations.append({"key": catalog.SPOT_LABEL, "operator": "Equal",
                                "value": "true", "effect": "NoSchedule"})
        return tolerations

    def describe(self) -> str:
        """Summarize the shape in one line, for plans and logs."""
        spot = " (spot)" if self.spot else ""
        if self.kind == "cpu":
            return f"{self.spec}: CPU only, any node{spot}"
        if self.kind == "gpu":
            unit = "GPU" if self.chips == 1 else "GPUs"
            return f"{self.spec}: {self.chips} {unit} {self.family}, {self.machine_type}{spot}"
        host_unit = "host" if self.hosts == 1 else "hosts"
        return (f"{self.spec}: {self.chips} TPU {self.family} chips, topology {self.topology}, "
                f"{self.hosts} {host_unit} x {self.chips_per_host} chips, "
                f"{self.machine_type}{spot}")

    def to_dict(self) -> dict[str, Any]:
        """Serialize the fields plus the derived selector and tolerations, for JSON."""
        data = dataclasses.asdict(self)
        data["spec"] = self.spec
        data["multi_host"] = self.multi_host
        data["node_selector"] = self.node_selector
        data["tolerations"] = self.tolerations
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Accelerator:
        """Rebuild from ``to_dict`` output; derived keys are ignored."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})
