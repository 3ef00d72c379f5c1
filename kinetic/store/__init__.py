"""Stores: where payloads, archives, results and job records live."""

from kinetic.store.base import Store, sha256_bytes, sha256_file
from kinetic.store.local import LocalStore, default_store_root, open_store

__all__ = ["LocalStore", "Store", "default_store_root", "open_store", "sha256_bytes", "sha256_file"]
