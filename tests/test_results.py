"""The value file: protocol 5 with out-of-band buffers, memory-mapped on read."""

from __future__ import annotations

import io

import numpy as np
import pytest

from kinetic.errors import SerializationError
from kinetic.results import dump_value, load_value_file


def test_arrays_round_trip_through_file(tmp_path):
    value = {"weights": np.arange(1_000_003, dtype=np.float64), "names": ["a", "b"],
             "odd": np.arange(7, dtype=np.int8)[::2]}
    path = tmp_path / "result.value"
    with open(path, "wb") as file:
        dump_value(value, file)
    with open(path, "rb") as file:
        loaded = load_value_file(file)
    np.testing.assert_array_equal(loaded["weights"], value["weights"])
    np.testing.assert_array_equal(loaded["odd"], value["odd"])
    assert loaded["names"] == ["a", "b"]
    assert loaded["weights"].flags.writeable
    assert loaded["weights"].ctypes.data % 64 == 0
    loaded["weights"][0] = -1.0  # copy-on-write: the file is unchanged
    with open(path, "rb") as file:
        assert load_value_file(file)["weights"][0] == 0.0


def test_stream_without_file_descriptor():
    buffer = io.BytesIO()
    dump_value(np.ones(10), buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(load_value_file(io.BufferedReader(buffer)), np.ones(10))


def test_foreign_file_rejected():
    with pytest.raises(SerializationError, match="unknown format"):
        load_value_file(io.BytesIO(b"not a value file at all"))
