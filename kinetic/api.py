"""The public decorator ``kinetic.run`` and the ``RemoteFunction`` it returns."""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Generic, Sequence, TypeVar, overload

from kinetic import submission
from kinetic.jobs import JobHandle

logger = logging.getLogger("kinetic")

R = TypeVar("R")


class RemoteFunction(Generic[R]):
    """A function that runs as a kinetic job when called.

    - ``fn(...)`` submits, streams the job's output and returns its value (or re-raises its
      exception).
    - ``fn.submit(...)`` returns a ``JobHandle`` at once.
    - ``fn.local(...)`` calls the plain function in this process.
    - ``fn.plan(...)`` returns the plan of what would be submitted.
    """

    def __init__(self, function: Callable[..., R], options: dict[str, Any],
                 bound_to: Any = None) -> None:
        self.function = function
        self.options = options
        self._bound_to = bound_to
        self.accelerator = submission.validate_accelerator(options.get("accelerator"),
                                                           _label(function))
        submission.validate_timeout(options.get("timeout"))
        submission.validate_backend(options.get("backend"))
        functools.update_wrapper(self, function)

    def __repr__(self) -> str:
        return f"<kinetic.RemoteFunction {_label(self.function)} accelerator={self.accelerator}>"

    def __get__(self, instance: Any, owner: type | None = None) -> "RemoteFunction[R]":
        if instance is None:
            return self
        bound = RemoteFunction.__new__(RemoteFunction)
        bound.__dict__.update(self.__dict__)
        bound._bound_to = instance
        return bound

    def _arguments(self, args: tuple) -> tuple:
        return (self._bound_to, *args) if self._bound_to is not None else args

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        job = self.submit(*args, **kwargs)
        return submission.follow_and_return(job)

    def submit(self, *args: Any, **kwargs: Any) -> JobHandle:
        """Submit the call as a job and return its handle without waiting."""
        return submission.submit_call(self.function, self._arguments(args), kwargs, self.options)

    def local(self, *args: Any, **kwargs: Any) -> R:
        """Call the function in this process, with no packaging."""
        return self.function(*self._arguments(args), **kwargs)

    def plan(self, *args: Any, **kwargs: Any):
        """Return the ``Plan``: what would be built and submitted for this call."""
        return submission.plan_call(self.function, self._arguments(args), kwargs, self.options)


@overload
def run(function: Callable[..., R]) -> RemoteFunction[R]: ...


@overload
def run(function: None = None, **options: Any) -> Callable[[Callable[..., R]], RemoteFunction[R]]: ...


def run(function: Callable[..., R] | None = None, *, accelerator: str | None = None,
        backend: str | None = None, env: Sequence[str] | None = None,
        secrets: Sequence[str] | None = None, timeout: float | None = None,
        requirements: Sequence[str] | None = None, base_image: str | None = None,
        store: str | None = None, profile: str | None = None, keep: bool | None = None,
        spot: bool | None = None, reservation: str | None = None,
        max_payload_bytes: int | None = None, **settings: Any):
    """Decorate a function so that calling it runs it as a job on an accelerator.

    Every argument left as None falls back to its ``KINETIC_*`` environment variable, then
    the profile file, then the default. The accelerator is checked here, at decoration time;
    an invalid one raises ``AcceleratorError`` listing the valid names.

    - ``accelerator``: e.g. ``"tpu-v5e-8"``, ``"l4"``, ``"h100:8"``, ``"cpu"``.
    - ``backend``: ``"local"``, ``"docker"`` or ``"gke"``; without one, ``gke`` when a cluster
      is configured, else ``local``.
    - ``env``: names or globs of environment variables to forward (``["WANDB_*"]``).
    - ``secrets``: names of environment variables to forward as secrets (never written to the
      store, a manifest or a plan).
    - ``timeout``: the job's deadline in seconds.
    - ``requirements``: pip requirement lines for the image (else ``requirements.txt``, else
      ``pyproject.toml``).
    """
    options = {
        "accelerator": accelerator, "backend": backend,
        "env": list(env) if env is not None else None,
        "secrets": list(secrets) if secrets is not None else None,
        "timeout": timeout, "requirements": list(requirements) if requirements else None,
        "base_image": base_image, "store": store, "profile": profile, "keep": keep,
        "spot": spot, "reservation": reservation, "max_payload_bytes": max_payload_bytes,
        **settings,
    }

    def decorate(target: Callable[..., R]) -> RemoteFunction[R]:
        _check_decoratable(target)
        return RemoteFunction(target, options)

    if function is not None:
        return decorate(function)
    return decorate


def _check_decoratable(target: Any) -> None:
    if isinstance(target, (staticmethod, classmethod)):
        kind = type(target).__name__
        raise TypeError(
            f"@kinetic.run cannot wrap a {kind} object ({target.__func__.__qualname__}); put "
            f"@{kind} above @kinetic.run instead:\n\n    @{kind}\n    @kinetic.run(...)\n"
            f"    def {target.__func__.__name__}(...): ..."
        )
    if isinstance(target, RemoteFunction):
        raise TypeError(f"{_label(target.function)} is already decorated with @kinetic.run; "
                        f"apply the decorator once")
    if not callable(target):
        raise TypeError(f"@kinetic.run decorates a function, got {type(target).__name__} "
                        f"{target!r}")
    if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
        raise TypeError(f"@kinetic.run cannot run async function {target.__qualname__}; "
                        f"wrap it in a plain function that calls asyncio.run()")


def _label(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or getattr(function, "__name__", "function")


def source_file(function: Callable[..., Any]) -> Path | None:
    """Return the file defining ``function``, or None for interactive code."""
    try:
        return Path(inspect.getfile(inspect.unwrap(function))).resolve()
    except (TypeError, OSError):
        module = sys.modules.get(getattr(function, "__module__", ""), None)
        file = getattr(module, "__file__", None)
        return Path(file).resolve() if file else None
