"""Price overrides: replace catalog prices with the ones a profile sets."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from kinetic.accelerators import catalog
from kinetic.accelerators.model import Accelerator
from kinetic.errors import AcceleratorError

PRICE_KEYS = ("on_demand", "spot")
OVERRIDE_DATE = "profile override"


def family_names() -> list[str]:
    """List every family a price override can name: cpu, the GPUs, the TPU generations."""
    return ["cpu", *catalog.GPU_FAMILIES, *catalog.TPU_FAMILIES]


def normalize_family(name: object) -> str:
    """Map a family spelling (``V5E``, ``tpu-v5litepod``, ``nvidia-l4``) to its catalog name.

    Raises AcceleratorError naming the value and the valid families.
    """
    if not isinstance(name, str):
        raise AcceleratorError(
            f"invalid price family {name!r}: expected a string; "
            f"valid families: {', '.join(family_names())}")
    text = name.strip().lower()
    if text == "cpu":
        return "cpu"
    if text in catalog.GPU_ALIASES:
        return catalog.GPU_ALIASES[text]
    tpu_text = text.removeprefix("tpu-")
    if tpu_text in catalog.TPU_ALIASES:
        return catalog.TPU_ALIASES[tpu_text]
    raise AcceleratorError(
        f"unknown accelerator family {name!r} in prices; "
        f"valid families: {', '.join(family_names())}")


def _validate_price(family: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AcceleratorError(
            f"invalid price {value!r} for prices.{family}.{key}: expected a number of US "
            f"dollars per chip or GPU per hour, such as 1.2")
    if value < 0:
        raise AcceleratorError(
            f"invalid price {value!r} for prices.{family}.{key}: a price cannot be negative")
    return float(value)


def validate_price_overrides(
        overrides: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Check a ``prices:`` mapping and return it keyed by catalog family.

    Shape: ``{family: {"on_demand": float, "spot": float}}`` in US dollars per chip or GPU per
    hour (per job-hour for ``cpu``); either key may be left out. Raises AcceleratorError on an
    unknown family or key, a non-number or a negative price.
    """
    if not isinstance(overrides, Mapping):
        raise AcceleratorError(
            f"invalid prices {overrides!r}: expected a mapping such as "
            "{'v5e': {'on_demand': 1.2, 'spot': 0.245}}")
    normalized: dict[str, dict[str, float]] = {}
    for name, entry in overrides.items():
        family = normalize_family(name)
        if not isinstance(entry, Mapping):
            raise AcceleratorError(
                f"invalid prices.{name} {entry!r}: expected a mapping with keys "
                f"{' and '.join(PRICE_KEYS)}")
        unknown = sorted(str(key) for key in entry if key not in PRICE_KEYS)
        if unknown:
            raise AcceleratorError(
                f"unknown key {unknown[0]!r} in prices.{name}; valid keys: {', '.join(PRICE_KEYS)}")
        normalized[family] = {key: _validate_price(family, key, value)
                              for key, value in entry.items()}
    return normalized


def with_prices(accelerator: Accelerator,
                overrides: Mapping[str, Mapping[str, float]] | None) -> Accelerator:
    """Return ``accelerator`` with the prices of its family taken from ``overrides``.

    Pure: validates every entry of ``overrides`` (see ``validate_price_overrides``), then scales
    the per-chip or per-GPU price by ``chips`` (by 1 for ``cpu``). A price the override leaves
    out keeps its catalog value, and ``price_date`` then names the overridden key.
    """
    if not overrides:
        return accelerator
    entry = validate_price_overrides(overrides).get(accelerator.family)
    if not entry:
        return accelerator

    units = accelerator.chips or 1
    changes: dict[str, object] = {}
    if "on_demand" in entry:
        changes["price_per_hour_on_demand"] = round(entry["on_demand"] * units, 4)
    if "spot" in entry:
        changes["price_per_hour_spot"] = round(entry["spot"] * units, 4)
    if len(entry) == len(PRICE_KEYS):
        changes["price_date"] = OVERRIDE_DATE
    else:
        (key,) = entry
        base = accelerator.price_date or "no catalog price"
        changes["price_date"] = f"{base}, {key} from {OVERRIDE_DATE}"
    return dataclasses.replace(accelerator, **changes)
