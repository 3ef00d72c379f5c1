"""Accelerator registry and parser: which TPUs and GPUs kinetic can schedule, and how to name them.

``parse_accelerator("tpu-v5e-8")`` resolves a user's spelling to an ``Accelerator`` carrying
everything the plan, the node pool and the Kubernetes manifests need. ``list_accelerators()``
returns every registry entry. Stdlib only, so ``import kinetic`` stays light.
"""

from kinetic.accelerators.catalog import PRICE_DATE
from kinetic.accelerators.model import Accelerator
from kinetic.accelerators.parser import parse_accelerator
from kinetic.accelerators.prices import validate_price_overrides, with_prices
from kinetic.accelerators.registry import list_accelerators

__all__ = [
    "PRICE_DATE",
    "Accelerator",
    "list_accelerators",
    "parse_accelerator",
    "validate_price_overrides",
    "with_prices",
]
