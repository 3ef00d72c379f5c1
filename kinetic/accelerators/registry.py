"""Every accelerator shape kinetic can schedule, built from the catalog."""

from __future__ import annotations

import functools

from kinetic.accelerators import catalog
from kinetic.accelerators.model import Accelerator


def _catalog_prices(family: str, units: int) -> tuple[float | None, float | None, str | None]:
    """Price the whole slice or GPU set from the per-chip catalog price."""
    if family not in catalog.PRICES:
        return None, None, None
    on_demand, spot = catalog.PRICES[family]
    return round(on_demand * units, 4), round(spot * units, 4), catalog.PRICE_DATE


def _host_size(machine_type: str) -> tuple[int | None, int | None]:
    return catalog.MACHINE_RESOURCES.get(machine_type, (None, None))


def cpu_accelerator() -> Accelerator:
    return Accelerator(
        name="cpu", kind="cpu", family="cpu", chips=0, topology=None, hosts=1,
        chips_per_host=0, machine_type=None, gke_accelerator=None, resource_key=None,
        host_vcpus=None, host_memory_gib=None, price_per_hour_on_demand=None,
        price_per_hour_spot=None, price_date=None,
    )


def gpu_name(family: catalog.GpuFamily, count: int) -> str:
    """Canonical GPU spelling: the bare family for its default count (``l4`` is one GPU,
    ``h200`` the only offered 8), else ``FAMILYxCOUNT`` (``h100x8``)."""
    return family.family if count == family.counts[0] else f"{family.family}x{count}"


def gpu_accelerator(family: catalog.GpuFamily, count: int) -> Accelerator:
    machine_type = dict(family.machine_types)[count]
    vcpus, memory = _host_size(machine_type)
    on_demand, spot, date = _catalog_prices(family.family, count)
    return Accelerator(
        name=gpu_name(family, count), kind="gpu", family=family.family, chips=count,
        topology=None, hosts=1, chips_per_host=count, machine_type=machine_type,
        gke_accelerator=family.gke_accelerator, resource_key=catalog.GPU_RESOURCE,
        host_vcpus=vcpus, host_memory_gib=memory, price_per_hour_on_demand=on_demand,
        price_per_hour_spot=spot, price_date=date,
    )


def tpu_name(family: catalog.TpuFamily, shape: catalog.TpuShape) -> str:
    """Canonical TPU spelling: chips for v5e and v6e (``tpu-v5e-8``), topology for v4 and v5p
    (``tpu-v5p-2x2x1``), whose counts are ambiguous between chips and TensorCores."""
    if family.tensorcores_per_chip == 1:
        return f"tpu-{family.family}-{shape.chips}"
    return f"tpu-{family.family}-{shape.topology}"


def tpu_accelerator(family: catalog.TpuFamily, shape: catalog.TpuShape) -> Accelerator:
    vcpus, memory = _host_size(shape.machine_type)
    on_demand, spot, date = _catalog_prices(family.family, shape.chips)
    return Accelerator(
        name=tpu_name(family, shape), kind="tpu", family=family.family, chips=shape.chips,
        topology=shape.topology, hosts=shape.hosts, chips_per_host=shape.chips_per_host,
        machine_type=shape.machine_type, gke_accelerator=family.gke_accelerator,
        resource_key=catalog.TPU_RESOURCE, host_vcpus=vcpus, host_memory_gib=memory,
        price_per_hour_on_demand=on_demand, price_per_hour_spot=spot, price_date=date,
        select_machine_type=shape.topology in family.shared_topologies,
    )


@functools.cache
def _all_accelerators() -> tuple[Accelerator, ...]:
    entries = [cpu_accelerator()]
    for gpu in catalog.GPU_FAMILIES.values():
        entries.extend(gpu_accelerator(gpu, count) for count in gpu.counts)
    for tpu in catalog.TPU_FAMILIES.values():
        entries.extend(tpu_accelerator(tpu, shape) for shape in tpu.shapes)
    return tuple(entries)


def list_accelerators() -> list[Accelerator]:
    """Return every registry entry (each valid shape, on-demand, catalog prices).

    Order: ``cpu``, then GPUs by family and count, then TPUs by generation and size.
    """
    return list(_all_accelerators())


def valid_types() -> list[str]:
    """Accelerator type names for error messages: cpu, the GPUs, then ``tpu-<generation>``."""
    return ["cpu", *catalog.GPU_FAMILIES, *(f"tpu-{family}" for family in catalog.TPU_FAMILIES)]
