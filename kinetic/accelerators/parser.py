"""``parse_accelerator``: one pure function from a user's spelling to an ``Accelerator``."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping

from kinetic.accelerators import catalog, registry
from kinetic.accelerators.model import Accelerator
from kinetic.accelerators.prices import with_prices
from kinetic.errors import AcceleratorError

SPOT_SUFFIX = "spot"

_TPU_BODY = re.compile(r"(?P<type>.+?)(?:-(?P<size>-?\d.*))?")
_TPU_SIZE = re.compile(r"(?:(?P<count>-?\d+)-)?(?P<topology>\d+(?:x\d+)+)|(?P<only_count>-?\d+)")
_GPU_X_COUNT = re.compile(r"(?P<name>.+?)x(?P<count>-?\d+)")
_COUNT = re.compile(r"-?\d+")


def parse_accelerator(spec: str, prices: Mapping[str, Mapping[str, float]] | None = None,
                      ) -> Accelerator:
    """Resolve an accelerator spelling to a registry entry.

    Grammar (case-insensitive, surrounding whitespace ignored):

    - ``cpu``.
    - GPUs: ``NAME``, ``NAMExCOUNT`` or ``NAME:COUNT``, e.g. ``l4``, ``l4x2``, ``h100:8``.
      NAME is ``t4``, ``l4``, ``a100``, ``a100-80gb``, ``h100``, ``h100-mega``, ``h200`` or
      the GKE label value (``nvidia-tesla-t4``). Without a count: 1 GPU, or 8 for ``h100-mega``
      and ``h200``, which come only with 8. The count must match a machine type
      (``a100:16`` is a2-megagpu-16g; ``a100-80gb:16`` and ``h200x2`` are rejected).
    - TPUs: ``[tpu-]GEN-SIZE`` where GEN is ``v4``, ``v5e``, ``v5p``, ``v6e`` or the Cloud TPU
      API or GKE label spelling (``v5litepod``, ``v5-lite-podslice``, ``v6e-slice``), and SIZE
      is a count (``tpu-v5e-8``), a topology (``tpu-v6e-2x4``) or both (``tpu-v5e-8-2x4``).
      A topology alone fixes the chips (``tpu-v5e-2x2`` is 4 chips); with both, they must
      agree, so ``tpu-v5e-8-2x2`` is rejected.
    - A ``:spot`` suffix after any of these, including a GPU count: ``h100:8:spot``,
      ``tpu-v5e-8:spot``, ``cpu:spot``.

    TPU counts: for v5e and v6e a count is chips (one TensorCore per chip). For v4 and v5p the
    Cloud TPU API counts TensorCores (2 per chip), so ``v5p-8`` is 4 chips (2x2x1), while other
    tools read the same number as chips. A v4 or v5p count is therefore read both ways and
    accepted only when exactly one reading is a valid slice. So ``v5p-4`` (4 chips, because 2
    chips is no slice) and ``v5p-8192`` (4096 chips) resolve. ``v5p-8`` is rejected, and the
    error shows both readings. Canonical v4 and v5p names spell the topology (``tpu-v5p-2x2x1``).
    With a topology (``tpu-v5p-8-2x2x1``) the count may be in either unit.

    ``prices``, when given, overrides catalog prices (see ``with_prices``).

    Raises AcceleratorError, naming the value and the valid choices, for a non-string, empty,
    unknown, ambiguous, zero or negative spec.
    """
    text = _normalize(spec)
    parts = [part.strip() for part in text.split(":")]
    spot = len(parts) > 1 and parts[-1] == SPOT_SUFFIX
    if spot:
        parts = parts[:-1]

    base = parts[0]
    if not base:
        raise AcceleratorError(
            f"missing accelerator type in {spec!r}; valid types: {_types_text()}")
    if base == "cpu" or _looks_like_tpu(base):
        _reject_suffixes(parts[1:], spec, gpu=False)
        accelerator = registry.cpu_accelerator() if base == "cpu" else _parse_tpu(base, spec)
    else:
        _reject_suffixes(parts[2:], spec, gpu=True)
        count_text = parts[1] if len(parts) > 1 else None
        accelerator = _parse_gpu(base, count_text, spec)

    if spot:
        accelerator = dataclasses.replace(accelerator, spot=True)
    return with_prices(accelerator, prices)


def _normalize(spec: object) -> str:
    if spec is None:
        raise AcceleratorError(
            f"missing accelerator: got None; pass a name such as 'cpu', 'l4' or 'tpu-v5e-8' "
            f"(valid types: {_types_text()})")
    if not isinstance(spec, str):
        raise AcceleratorError(
            f"invalid accelerator {spec!r}: expected a string such as 'cpu', 'l4' or "
            f"'tpu-v5e-8', got {type(spec).__name__}")
    text = spec.strip().lower()
    if not text:
        raise AcceleratorError(
            f"empty accelerator {spec!r}; pass a name such as 'cpu', 'l4' or 'tpu-v5e-8' "
            f"(valid types: {_types_text()})")
    return text


def _types_text() -> str:
    return ", ".join(registry.valid_types())


def _looks_like_tpu(text: str) -> bool:
    return text.startswith("tpu") or re.match(r"v\d", text) is not None


def _reject_suffixes(extra: list[str], spec: str, *, gpu: bool) -> None:
    if not extra:
        return
    allowed = "':COUNT' (GPUs only) and ':spot'" if gpu else "':spot'"
    raise AcceleratorError(
        f"invalid suffix ':{extra[0]}' in {spec!r}; the suffixes accepted are {allowed}")


def _parse_count(text: str, spec: str, valid: str) -> int:
    if _COUNT.fullmatch(text) is None:
        raise AcceleratorError(
            f"invalid count {text!r} in {spec!r}: expected a positive integer; "
            f"valid counts: {valid}")
    count = int(text)
    if count <= 0:
        raise AcceleratorError(
            f"invalid count {count} in {spec!r}: the count must be a positive integer; "
            f"valid counts: {valid}")
    return count


def _unknown_type(name: str, spec: str) -> AcceleratorError:
    candidates = [*registry.valid_types(), *catalog.GPU_ALIASES,
                  *(f"tpu-{alias}" for alias in catalog.TPU_ALIASES)]
    close = difflib.get_close_matches(name, candidates, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return AcceleratorError(
        f"unknown accelerator type {name!r} in {spec!r}{hint}; valid types: {_types_text()}")


# GPUs ----------------------------------------------------------------------------------------

def _parse_gpu(base: str, count_text: str | None, spec: str) -> Accelerator:
    name = base
    if count_text is None:
        match = _GPU_X_COUNT.fullmatch(base)
        if match is not None and match["name"] in catalog.GPU_ALIASES:
            name, count_text = match["name"], match["count"]
    if name not in catalog.GPU_ALIASES:
        raise _unknown_type(name, spec)

    family = catalog.GPU_FAMILIES[catalog.GPU_ALIASES[name]]
    valid = ", ".join(str(count) for count in family.counts)
    if count_text is None:
        count = family.counts[0]  # 1, or the only count a family comes with
    else:
        count = _parse_count(count_text, spec, valid)
    if count not in family.counts:
        machines = ", ".join(f"{n} on {machine}" for n, machine in family.machine_types)
        raise AcceleratorError(
            f"invalid GPU count {count} for {family.family} in {spec!r}: no machine type "
            f"carries {count} {family.display_name} GPUs; valid counts: {valid} ({machines})")
    return registry.gpu_accelerator(family, count)


# TPUs ----------------------------------------------------------------------------------------

def _parse_tpu(base: str, spec: str) -> Accelerator:
    body = base.removeprefix("tpu-")
    match = _TPU_BODY.fullmatch(body)
    if body in ("", "tpu") or match is None:
        raise AcceleratorError(
            f"missing TPU generation and size in {spec!r}; write e.g. 'tpu-v5e-8'; "
            f"valid types: {_types_text()}")
    type_name, size = match["type"], match["size"]
    if type_name not in catalog.TPU_ALIASES:
        raise _unknown_type(type_name, spec)

    family = catalog.TPU_FAMILIES[catalog.TPU_ALIASES[type_name]]
    if size is None:
        raise AcceleratorError(
            f"missing TPU size in {spec!r}: add a chip count or a topology, such as "
            f"'tpu-{family.family}-{family.shapes[1].chips}' or "
            f"'tpu-{family.family}-{family.shapes[1].topology}'; {_valid_sizes(family)}")
    shape = _resolve_tpu_size(family, size, spec)
    return registry.tpu_accelerator(family, shape)


def _resolve_tpu_size(family: catalog.TpuFamily, size: str, spec: str) -> catalog.TpuShape:
    match = _TPU_SIZE.fullmatch(size)
    if match is None:
        raise AcceleratorError(
            f"invalid TPU size {size!r} in {spec!r}: write a count (tpu-{family.family}-8), a "
            f"topology (tpu-{family.family}-{family.shapes[2].topology}) or both "
            f"(tpu-{family.family}-{family.shapes[2].chips}-{family.shapes[2].topology}); "
            f"{_valid_sizes(family)}")

    count_text = match["count"] or match["only_count"]
    count = None
    if count_text is not None:
        count = _parse_count(count_text, spec, _count_choices(family))
    topology = match["topology"]
    if topology is None:
        assert count is not None
        return _shape_for_count(family, count, spec)

    shape = _shape_for_topology(family, topology, spec)
    readings = {shape.chips, shape.chips * family.tensorcores_per_chip}
    if count is not None and count not in readings:
        raise AcceleratorError(
            f"TPU count {count} does not match topology {topology} in {spec!r}: topology "
            f"{topology} is {_describe_units(family, shape)}; "
            f"write 'tpu-{family.family}-{shape.chips}-{topology}' or drop the count")
    return shape


def _shape_for_topology(family: catalog.TpuFamily, topology: str,
                        spec: str) -> catalog.TpuShape:
    for shape in family.shapes:
        if shape.topology == topology:
            return shape
    valid = ", ".join(shape.topology for shape in family.shapes)
    raise AcceleratorError(
        f"unknown topology {topology!r} for TPU {family.family} in {spec!r}; "
        f"valid topologies: {valid}")


def _shape_for_count(family: catalog.TpuFamily, count: int, spec: str) -> catalog.TpuShape:
    as_chips = [shape for shape in family.shapes if shape.chips == count]
    as_cores = []
    if family.tensorcores_per_chip > 1:
        as_cores = [shape for shape in family.shapes
                    if shape.chips * family.tensorcores_per_chip == count]

    if as_chips and as_cores:
        chips_shape, cores_shape = as_chips[0], as_cores[0]
        raise AcceleratorError(
            f"ambiguous TPU count {count} in {spec!r}: the Cloud TPU API counts "
            f"TensorCores for {family.family}, so it could mean {count} TensorCores = "
            f"{cores_shape.chips} chips ({cores_shape.topology}, write "
            f"'tpu-{family.family}-{cores_shape.topology}') or {count} chips "
            f"({chips_shape.topology}, write 'tpu-{family.family}-{chips_shape.topology}')")
    if as_chips or as_cores:
        return (as_chips or as_cores)[0]
    raise AcceleratorError(
        f"invalid TPU count {count} for {family.family} in {spec!r}; {_valid_sizes(family)}")


def _count_choices(family: catalog.TpuFamily) -> str:
    chips = ", ".join(str(shape.chips) for shape in family.shapes)
    if family.tensorcores_per_chip == 1:
        return f"{chips} (chips)"
    cores = ", ".join(str(shape.chips * family.tensorcores_per_chip) for shape in family.shapes)
    return f"{chips} (chips) or {cores} (TensorCores)"


def _describe_units(family: catalog.TpuFamily, shape: catalog.TpuShape) -> str:
    if family.tensorcores_per_chip == 1:
        return f"{shape.chips} chips"
    return f"{shape.chips} chips = {shape.chips * family.tensorcores_per_chip} TensorCores"


def _valid_sizes(family: catalog.TpuFamily) -> str:
    if family.tensorcores_per_chip == 1:
        sizes = ", ".join(f"{shape.chips} ({shape.topology})" for shape in family.shapes)
        return f"valid chip counts (topologies) for {family.family}: {sizes}"
    sizes = ", ".join(
        f"{shape.topology} ({shape.chips} chips, {shape.chips * family.tensorcores_per_chip} "
        f"TensorCores)" for shape in family.shapes)
    return f"valid topologies for {family.family}: {sizes}"
