"""The result record: written by the runner, read and decoded by the client.

This module is the one definition of the format both sides share. The record, in the job's
``result.pkl``, is a pickled dict:

``{"schema": 1, "ok": True, "value_file": "result.value"}`` on success, where the value itself
is streamed into ``result.value`` first (so a large array is never copied whole in memory), or
``{"schema": 1, "ok": False, "phase": ..., "error": {...}}`` on failure, where ``error`` holds
``type`` (qualified name), ``message``, ``repr``, ``traceback`` (formatted text) and, when the
exception could be pickled, ``pickled`` (the exception with its traceback, through tblib).

The client returns a value only from a record with ``ok`` true.
"""

from __future__ import annotations

import io
import mmap
import pickle
import traceback
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO

from kinetic.errors import RemoteError, SerializationError

SCHEMA_VERSION = 1

EXIT_OK = 0
"""The runner's exit code when it wrote a success record."""

EXIT_USER_ERROR = 3
"""The runner's exit code when the user's code raised (or exited non-zero)."""

EXIT_RUNNER_ERROR = 4
"""The runner's exit code when kinetic itself failed (fetch, verify, extract, serialize)."""

RESULT_FILE = "result.pkl"
VALUE_MAGIC = b"kinetic-value-1\n"
BUFFER_ALIGNMENT = 64
VALUE_FILE = "result.value"

PHASES = ("fetch", "verify", "extract", "unpickle", "execute", "serialize-result")


@dataclass(frozen=True)
class ResultRecord:
    """A decoded result record: on success ``value_file`` names the value's job file, on
    failure ``phase`` and ``error`` describe what went wrong."""

    ok: bool
    value_file: str | None = None
    phase: str | None = None
    error: dict[str, Any] | None = None


def write_success(store: Any, job_id: str, value: Any) -> None:
    """Stream ``value`` into the job's value file, then write the success record.

    Raises SerializationError naming the value's type when it cannot be pickled; then no
    record is written.
    """
    try:
        store.write_job_file_from(job_id, VALUE_FILE, lambda file: dump_value(value, file))
    except Exception as exc:
        raise SerializationError(
            f"the return value of type {type(value).__module__}.{type(value).__qualname__} "
            f"cannot be pickled: {exc}. Return plain data (numbers, lists, dicts, numpy arrays) "
            f"or save the object to KINETIC_OUTPUT_DIR and return its path."
        ) from exc
    record = {"schema": SCHEMA_VERSION, "ok": True, "value_file": VALUE_FILE}
    store.write_job_file(job_id, RESULT_FILE, pickle.dumps(record))


def dump_value(value: Any, file: BinaryIO) -> None:
    """Write ``value`` in the value-file format.

    The format is pickle protocol 5 with out-of-band buffers, so large arrays are written
    straight from their memory and read back without a copy. The file contains
    ``VALUE_MAGIC``, the pickle's length (8 bytes, little-endian) and the pickle, and the
    buffer count. Then each buffer follows as its length and its bytes, which start at a
    multiple of 64 bytes.
    """
    import cloudpickle

    buffers: list[pickle.PickleBuffer] = []
    header = io.BytesIO()
    cloudpickle.Pickler(header, protocol=5, buffer_callback=buffers.append).dump(value)
    file.write(VALUE_MAGIC)
    file.write(len(header.getbuffer()).to_bytes(8, "little"))
    file.write(header.getbuffer())
    file.write(len(buffers).to_bytes(8, "little"))
    position = len(VALUE_MAGIC) + 16 + len(header.getbuffer())
    for buffer in buffers:
        raw = buffer.raw()
        position += 8
        padding = -position % BUFFER_ALIGNMENT
        file.write(raw.nbytes.to_bytes(8, "little") + b"\0" * padding)
        file.write(raw)
        position += padding + raw.nbytes


def load_value_file(file: BinaryIO) -> Any:
    """Read a value written by dump_value. Buffers of a real file are memory-mapped
    copy-on-write, so a returned array costs no copy and stays writable."""
    try:
        data: Any = memoryview(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY))
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        data = memoryview(file.read())
    if bytes(data[:len(VALUE_MAGIC)]) != VALUE_MAGIC:
        raise SerializationError("the value file has an unknown format; the job ran a "
                                 "different kinetic version than this client")
    position = len(VALUE_MAGIC)
    header_length = int.from_bytes(data[position:position + 8], "little")
    position += 8
    header = data[position:position + header_length]
    position += header_length
    count = int.from_bytes(data[position:position + 8], "little")
    position += 8
    buffers = []
    for _ in range(count):
        length = int.from_bytes(data[position:position + 8], "little")
        position += 8
        position += -position % BUFFER_ALIGNMENT
        buffers.append(data[position:position + length])
        position += length
    return pickle.loads(header, buffers=buffers)


def write_failure(store: Any, job_id: str, exc: BaseException, phase: str) -> None:
    """Write a failure record for ``exc`` raised in ``phase``."""
    store.write_job_file(job_id, RESULT_FILE, encode_failure(exc, phase))


def read_record(store: Any, job_id: str) -> ResultRecord:
    """Read and decode the job's result record."""
    return decode(store.read_job_file(job_id, RESULT_FILE))


def encode_failure(exc: BaseException, phase: str) -> bytes:
    """Pickle a failure record for ``exc``, keeping its text even when ``exc`` cannot be pickled."""
    import cloudpickle
    from tblib import pickling_support

    pickling_support.install(exc)
    error = {
        "type": _qualified_name(type(exc)),
        "message": _safe_str(exc),
        "repr": _safe_repr(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }
    try:
        pickled = cloudpickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(pickled)  # an exception whose __reduce__ cannot round-trip is useless
        error["pickled"] = pickled
    except Exception as pickling_error:
        error["pickle_error"] = _safe_str(pickling_error)
    record = {"schema": SCHEMA_VERSION, "ok": False, "phase": phase, "error": error}
    return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)


def decode(data: bytes) -> ResultRecord:
    """Parse a record's bytes; raise SerializationError for a corrupt or foreign record."""
    try:
        record = pickle.loads(data)
    except Exception as exc:
        raise SerializationError(f"the result record is corrupt and cannot be read: {exc}") from exc
    if not isinstance(record, dict) or record.get("schema") != SCHEMA_VERSION:
        raise SerializationError(
            f"the result record has an unknown format (schema {record.get('schema')!r} if a dict); "
            f"the job ran a different kinetic version than this client"
        )
    if record["ok"]:
        return ResultRecord(ok=True, value_file=record["value_file"])
    return ResultRecord(ok=False, phase=record["phase"], error=record["error"])


def load_value(store: Any, job_id: str, record: ResultRecord) -> Any:
    """Unpickle the value of a success record, streaming it from the store."""
    assert record.ok
    assert record.value_file is not None
    try:
        with store.open_job_file(job_id, record.value_file) as file:
            return load_value_file(file)
    except Exception as exc:
        raise SerializationError(
            f"the job succeeded but its return value cannot be unpickled here: "
            f"{type(exc).__name__}: {exc}. Install in this environment the packages that define "
            f"the returned types."
        ) from exc


def rebuild_exception(record: ResultRecord) -> BaseException:
    """Return the remote exception, with remote frames in its traceback, or a RemoteError.

    Frames of kinetic's own runner are dropped so the traceback starts at the user's code.
    """
    assert not record.ok
    assert record.error is not None
    error = record.error
    pickled = error.get("pickled")
    if pickled is not None:
        try:
            import tblib.pickling_support  # noqa: F401  (registers the traceback reducer)

            exc = pickle.loads(pickled)
        except Exception:
            exc = None
        if isinstance(exc, BaseException):
            return exc.with_traceback(_user_frames(exc.__traceback__))
    return RemoteError(error["type"], error["message"], error.get("traceback", ""))


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """Skip leading frames that belong to the kinetic package (the runner)."""
    first = tb
    while first is not None and _is_kinetic_frame(first):
        first = first.tb_next
    return first if first is not None else tb


def _is_kinetic_frame(tb: TracebackType) -> bool:
    module = tb.tb_frame.f_globals.get("__name__", "")
    return module == "kinetic" or module.startswith("kinetic.")


def _qualified_name(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    if module in (None, "builtins"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<str() of {type(exc).__name__} failed>"


def _safe_repr(obj: object) -> str:
    try:
        return repr(obj)
    except Exception:
        return f"<repr() of {type(obj).__name__} failed>"
