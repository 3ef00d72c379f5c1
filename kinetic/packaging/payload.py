"""The payload: the function (or script), its arguments and forwarded environment, pickled.

Modules that live under the project root are pickled by value, so the job runs exactly the code
the client has, even where the project is not installed. The kinetic package is always pickled
by reference, because the runner imports it.
"""

from __future__ import annotations

import functools
import logging
import pickle
import sys
import types
from collections import ChainMap
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from kinetic.errors import SerializationError

logger = logging.getLogger("kinetic.packaging")

WARN_PAYLOAD_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_PAYLOAD_BYTES = 2 * 1024 * 1024 * 1024
_SKIPPED_FOLDERS = ("site-packages", "dist-packages", ".venv", "venv", ".tox")


@dataclass(frozen=True)
class FunctionCall:
    """A call for the runner to make: ``function(*args, **kwargs)``."""

    function: Callable[..., Any]
    args: tuple
    kwargs: dict


@dataclass(frozen=True)
class ScriptRun:
    """A script for the runner to run as ``__main__``: its path relative to the root, and its
    argv."""

    script: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Payload:
    """The pickled bytes, with what the preflight measured."""

    data: bytes
    largest: list[tuple[str, int]]


def build_payload(target: FunctionCall | ScriptRun, env: dict[str, str], root: Path,
                  *, label: str, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Payload:
    """Pickle ``target`` and ``env``; raise SerializationError that names what cannot be pickled.

    ``label`` names the function in messages (``train``). A payload over 100 MB warns with its
    three largest captured objects; one over ``max_bytes`` is rejected.
    """
    import cloudpickle

    body = {"target": target, "env": env}
    with _pickled_by_value(root):
        try:
            data = dumps(body)
        except Exception as exc:
            raise _describe_failure(target, label, exc) from exc
        largest = _largest_items(target, label) if len(data) > min(WARN_PAYLOAD_BYTES, max_bytes) \
            else []

    if len(data) > max_bytes:
        raise SerializationError(
            f"the payload of {label}() is {_megabytes(len(data))}, over the limit of "
            f"{_megabytes(max_bytes)}; largest captured objects: {_format_items(largest)}. "
            f"Load large data inside the function (from files in the project or cloud storage) "
            f"instead of passing or capturing it, or raise max_payload_bytes"
        )
    if largest:
        logger.warning("the payload of %s() is %s; largest captured objects: %s. Load large "
                       "data inside the function instead of capturing it", label,
                       _megabytes(len(data)), _format_items(largest))
    return Payload(data, largest)


def dumps(obj: Any) -> bytes:
    """cloudpickle ``obj``, keeping each code object's file name.

    cloudpickle replaces the file name of code it pickles by value with ``<dynamic-code>``.
    Keeping the client's path lets remote tracebacks name the user's file and line.
    """
    import io

    import cloudpickle

    class _Pickler(cloudpickle.Pickler):
        dispatch_table = ChainMap({types.CodeType: _reduce_code}, cloudpickle.Pickler.dispatch_table)

    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def _reduce_code(code: types.CodeType) -> tuple:
    from cloudpickle import cloudpickle as implementation

    constructor, arguments = implementation._code_reduce(code)
    return _rebuild_code, (constructor, arguments, code.co_filename)


def _rebuild_code(constructor: Callable[..., types.CodeType], arguments: tuple,
                  filename: str) -> types.CodeType:
    return constructor(*arguments).replace(co_filename=filename)


def load_payload(data: bytes) -> tuple[FunctionCall | ScriptRun, dict[str, str]]:
    body = pickle.loads(data)
    return body["target"], body["env"]


@contextmanager
def _pickled_by_value(root: Path) -> Iterator[None]:
    import cloudpickle

    registered = []
    for module in list(sys.modules.values()):
        if _is_project_module(module, root):
            try:
                cloudpickle.register_pickle_by_value(module)
            except ValueError:
                continue
            registered.append(module)
    try:
        yield
    finally:
        for module in registered:
            try:
                cloudpickle.unregister_pickle_by_value(module)
            except ValueError:
                pass


def _is_project_module(module: object, root: Path) -> bool:
    name = getattr(module, "__name__", "")
    if not isinstance(module, types.ModuleType) or name == "__main__":
        return False
    if name == "kinetic" or name.startswith("kinetic.") or name.startswith("_pytest"):
        return False
    file = getattr(module, "__file__", None)
    if not file:
        return False
    relative = _relative_module_path(file, str(root))
    return relative is not None and not any(part in _SKIPPED_FOLDERS for part in relative.parts)


@functools.lru_cache(maxsize=16384)
def _relative_module_path(file: str, root: str) -> Path | None:
    """``file`` relative to ``root``, or None outside it. Cached, because every payload checks
    every module in ``sys.modules`` (thousands once jax and keras are imported)."""
    try:
        return Path(file).resolve().relative_to(root)
    except (ValueError, OSError):
        return None


def _describe_failure(target: FunctionCall | ScriptRun, label: str,
                      exc: Exception) -> SerializationError:
    found = None
    if isinstance(target, FunctionCall):
        found = _find_unpicklable(target.function, label, depth=0)
        for index, arg in enumerate(target.args):
            found = found or _find_unpicklable(arg, f"{label}() argument {index}", depth=0)
        for name, value in target.kwargs.items():
            found = found or _find_unpicklable(value, f"{label}() argument {name}=", depth=0)
    if found is None:
        return SerializationError(f"cannot pickle {label}() and its arguments: "
                                  f"{type(exc).__name__}: {exc}")
    path, obj = found
    kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
    return SerializationError(
        f"cannot pickle {label}(): {path} is a {kind}, which cannot be sent to another process. "
        f"Create it inside the function instead of capturing it ({type(exc).__name__}: {exc})"
    )


def _find_unpicklable(obj: Any, path: str, depth: int) -> tuple[str, Any] | None:
    """Return the deepest (path, object) that fails to pickle, or None when ``obj`` pickles."""
    import cloudpickle

    try:
        cloudpickle.dumps(obj)
        return None
    except Exception:
        pass
    if depth > 6:
        return path, obj
    for child_path, child in _children(obj, path):
        found = _find_unpicklable(child, child_path, depth + 1)
        if found is not None:
            return found
    return path, obj


def _children(obj: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, types.MethodType):
        yield f"{path}.__self__", obj.__self__
        obj = obj.__func__
    if isinstance(obj, types.FunctionType):
        yield from _function_children(obj, path)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield f"{path}[{key!r}]", value
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for index, value in enumerate(obj):
            yield f"{path}[{index}]", value
    elif hasattr(obj, "__dict__") and not isinstance(obj, (type, types.ModuleType)):
        for name, value in vars(obj).items():
            yield f"{path}.{name}", value


def _function_children(function: types.FunctionType, path: str) -> Iterator[tuple[str, Any]]:
    for name in _global_names(function.__code__):
        if name in function.__globals__:
            yield f"{path}.__globals__[{name!r}]", function.__globals__[name]
    for name, cell in zip(function.__code__.co_freevars, function.__closure__ or ()):
        try:
            yield f"{path} closure variable {name!r}", cell.cell_contents
        except ValueError:
            continue
    for index, default in enumerate(function.__defaults__ or ()):
        yield f"{path}.__defaults__[{index}]", default
    for name, default in (function.__kwdefaults__ or {}).items():
        yield f"{path}.__kwdefaults__[{name!r}]", default


def _global_names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _global_names(constant)


def _largest_items(target: FunctionCall | ScriptRun, label: str) -> list[tuple[str, int]]:
    import cloudpickle

    if not isinstance(target, FunctionCall):
        return []
    items = list(_children(target.function, label))
    items += [(f"{label}() argument {index}", arg) for index, arg in enumerate(target.args)]
    items += [(f"{label}() argument {name}=", value) for name, value in target.kwargs.items()]
    sizes = []
    for path, value in items:
        try:
            sizes.append((path, len(cloudpickle.dumps(value))))
        except Exception:
            continue
    sizes.sort(key=lambda item: -item[1])
    return sizes[:3]


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _format_items(items: list[tuple[str, int]]) -> str:
    return ", ".join(f"{path} ({_megabytes(size)})" for path, size in items) or "none measured"
