"""From a call (or a script) to a submitted job: settings, packaging, plan, backend.

``submit_call`` and ``submit_script`` share one path: resolve the settings, archive the
project, pickle the payload, write the job record and plan into the store, and hand the job to
the backend.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import os
import re
import secrets as secrets_module
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from kinetic import config
from kinetic.errors import ConfigError, JobFailed
from kinetic.jobs import (
    PAYLOAD_FILE,
    PLAN_FILE,
    JobHandle,
    JobRecord,
    JobStatus,
    now_iso,
    save_record,
)
from kinetic.packaging.archive import ProjectArchive, build_archive
from kinetic.packaging.payload import FunctionCall, Payload, ScriptRun, build_payload
from kinetic.packaging.project import find_project_root, relative_to_root
from kinetic.runner.core import is_protected
from kinetic.store.base import sha256_bytes
from kinetic.store.local import LocalStore, open_store

logger = logging.getLogger("kinetic")

_local_notice_shown = False


@dataclass(frozen=True)
class Prepared:
    """Everything about a job that is known before it is submitted."""

    job_id: str
    label: str
    kind: str
    settings: config.Settings
    accelerator: Any
    backend: str
    store: LocalStore
    root: Path
    archive: ProjectArchive
    payload: Payload
    env: dict[str, str]
    secrets: dict[str, str]
    requirements: list[str] | None


def validate_accelerator(spec: str | None, label: str) -> str:
    """Parse the accelerator named on the decorator (or in settings); return its canonical name."""
    from kinetic.accelerators import parse_accelerator

    if spec is None:
        spec = config.resolve({}).accelerator
    return parse_accelerator(spec).spec


def validate_timeout(timeout: float | None, source: str = "argument") -> None:
    """Reject a timeout that is not a positive number of seconds."""
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError(f"timeout={timeout!r} (from {source}) is invalid: give the job's "
                          f"deadline as a positive number of seconds, or None for no deadline")


def validate_backend(backend: str | None, source: str = "argument") -> None:
    """Reject a backend name kinetic does not know."""
    if backend is not None and backend not in config.BACKENDS:
        raise ConfigError(f"unknown backend {backend!r} (from {source}); valid backends: "
                          f"{', '.join(config.BACKENDS)}")


def submit_call(function: Callable[..., Any], args: tuple, kwargs: dict,
                options: dict[str, Any]) -> JobHandle:
    """Package ``function(*args, **kwargs)`` and submit it as a job."""
    label = function_label(function)
    start = _defining_folder(function)
    prepared = prepare(FunctionCall(function, args, kwargs), label, "function", start, options)
    return launch(prepared)


def submit_script(script: Path, argv: list[str], options: dict[str, Any]) -> JobHandle:
    """Package the project around ``script`` and submit a job that runs it as ``__main__``."""
    script = script.resolve()
    if not script.is_file():
        raise ConfigError(f"script {script} does not exist; pass the path of a Python file")
    root = find_project_root(script.parent)
    relative = relative_to_root(script, root)
    if relative is None:
        raise ConfigError(f"script {script} is outside the project root {root}; set "
                          f"KINETIC_PROJECT_ROOT to a folder that contains it")
    prepared = prepare(ScriptRun(relative, tuple(argv)), script.name, "script", script.parent,
                       options)
    return launch(prepared)


def plan_call(function: Callable[..., Any], args: tuple, kwargs: dict, options: dict[str, Any]):
    """Return the plan for ``function(*args, **kwargs)`` without submitting anything."""
    label = function_label(function)
    prepared = prepare(FunctionCall(function, args, kwargs), label, "function",
                       _defining_folder(function), options, announce=False)
    return make_plan(prepared, check_image=True)


def prepare(target: FunctionCall | ScriptRun, label: str, kind: str, start: Path | None,
            options: dict[str, Any], *, announce: bool = True) -> Prepared:
    """Resolve settings and package the project and payload; nothing is submitted yet.

    ``announce`` prints the once-per-process notice when the local backend is chosen by default.
    """
    from kinetic.accelerators import parse_accelerator

    settings = config.resolve({key: value for key, value in options.items()
                               if key in config.SETTINGS}, profile=options.get("profile"))
    accelerator = parse_accelerator(settings.accelerator, prices=settings.prices or None)
    validate_timeout(settings.timeout, settings.sources["timeout"])
    backend = _choose_backend(settings, label, accelerator.name, announce)
    store = open_store(settings.store)
    root = find_project_root(start)
    archive = build_archive(root, store)
    env = forwarded_env(settings.env)
    secret_values = secret_env(settings.secrets)
    payload = build_payload(target, env, root, label=label,
                            max_bytes=settings.max_payload_bytes)
    return Prepared(new_job_id(label), label, kind, settings, accelerator, backend, store, root,
                    archive, payload, env, secret_values, options.get("requirements"))


def launch(prepared: Prepared) -> JobHandle:
    """Write the job into the store and start it on its backend."""
    from kinetic.backends import get_backend

    backend = get_backend(prepared.backend)
    store = prepared.store
    record = JobRecord(
        id=prepared.job_id, name=prepared.label, kind=prepared.kind, backend=prepared.backend,
        accelerator=prepared.accelerator.spec, created=now_iso(),
        payload_sha256=sha256_bytes(prepared.payload.data),
        payload_size=len(prepared.payload.data), archive_sha256=prepared.archive.sha256,
        archive_size=prepared.archive.size, root=str(prepared.root),
        cwd=relative_to_root(Path.cwd(), prepared.root) or "",
        sys_path=_portable_sys_path(prepared.root), timeout=prepared.settings.timeout,
    )
    record.backend_state = {"keep": bool(prepared.settings.keep)}
    store.write_job_file(record.id, PAYLOAD_FILE, prepared.payload.data)
    save_record(store, record)
    try:
        if prepared.backend == "docker":
            backend.check_accelerator(record, prepared.accelerator)
            record.image = _docker_image(prepared)
            save_record(store, record)
        _write_plan(prepared, record.image)
        backend.submit(record, store, dict(prepared.secrets))
    except BaseException as exc:
        record.status = JobStatus.FAILED.value
        record.ended = now_iso()
        record.backend_state["submit_error"] = f"{type(exc).__name__}: {exc}"
        save_record(store, record)
        raise
    logger.info("submitted job %s (%s) to the %s backend", record.id, prepared.label,
                prepared.backend)
    return JobHandle(record.id, store)


def _docker_image(prepared: Prepared) -> str:
    """Find or build the image of a docker-backend job, from the call's settings."""
    from kinetic.backends.docker import resolve_image
    from kinetic.errors import BackendError, BuildError

    try:
        return resolve_image(prepared.settings, prepared.accelerator.image_family, prepared.root,
                             requirements=prepared.requirements)
    except BuildError as exc:
        raise BackendError(f"the image for {prepared.label} could not be built: {exc}") from exc


def follow_and_return(job: JobHandle) -> Any:
    """Print the job's output as it arrives, then return its value or raise its exception.

    Ctrl-C cancels the job before re-raising KeyboardInterrupt.
    """
    output = getattr(sys.stdout, "buffer", None)
    sys.stdout.flush()
    try:
        for chunk in job.follow_output():
            if output is not None:
                output.write(chunk)
                output.flush()
            else:  # a text-only stream, such as a notebook's or pytest's capture
                sys.stdout.write(chunk.decode(errors="replace"))
        sys.stdout.flush()
    except KeyboardInterrupt:
        logger.warning("interrupted: cancelling job %s", job.id)
        job.cancel()
        raise
    return job.result()


def make_plan(prepared: Prepared, image: str | None = None, *, check_image: bool = False):
    """Build the Plan for a prepared job.

    ``image`` is the job's image when it is already known (docker backend). Otherwise, with
    ``check_image`` and a registry configured, the image reference is computed from the build
    inputs and the registry is asked whether it must be built.
    """
    from kinetic.k8s import WorkloadSpec
    from kinetic.plan import build_plan

    settings = prepared.settings
    workload = WorkloadSpec(
        job_id=prepared.job_id,
        job_uri=f"gs://<bucket>/jobs/{prepared.job_id}",
        image=image or "<image built from the project's requirements>",
        accelerator=prepared.accelerator,
        namespace=settings.namespace,
        timeout_s=math.ceil(settings.timeout) if settings.timeout else None,
        max_preemption_retries=settings.max_preemption_retries,
        env={"KINETIC_EXTRACT_AT_CLIENT_PATH": "1", **prepared.env},
        secret_env=tuple(sorted(prepared.secrets)),
        reservation=settings.reservation,
    )
    needs_build = False if image else None
    if image is None and check_image and settings.registry:
        workload, needs_build = _with_registry_image(prepared, workload)
    return build_plan(
        workload, backend=prepared.backend, image_needs_build=needs_build,
        payload_bytes=len(prepared.payload.data), archive_bytes=prepared.archive.size,
        largest_items=list(prepared.payload.largest or prepared.archive.largest),
        excluded_paths=list(prepared.archive.excluded)
        + [f"{path} (credential file)" for path in prepared.archive.credentials_skipped],
    )


def _with_registry_image(prepared: Prepared, workload):
    """The workload with its registry image reference, and whether that image must be built."""
    import dataclasses

    from kinetic.errors import BuildError
    from kinetic.images import plan_image
    from kinetic.images.registry import RegistryClient

    settings = prepared.settings
    image_plan = plan_image(prepared.root, repository=settings.registry,
                            family=prepared.accelerator.image_family,
                            base_image=settings.base_image, requirements=prepared.requirements)
    try:
        needs_build = RegistryClient().manifest_digest(image_plan.target) is None
    except BuildError as exc:
        logger.info("could not ask the registry for %s: %s", image_plan.reference, exc)
        needs_build = None
    return dataclasses.replace(workload, image=image_plan.reference), needs_build


def _write_plan(prepared: Prepared, image: str | None) -> None:
    try:
        plan = make_plan(prepared, image)
    except ImportError as exc:  # the plan modules are optional while they are being built
        logger.debug("no plan written: %s", exc)
        return
    prepared.store.write_job_file(prepared.job_id, PLAN_FILE,
                                  json.dumps(plan.to_dict(), indent=2).encode())


def function_label(function: Callable[..., Any]) -> str:
    """Return the function's name for messages: its qualified name without ``<locals>``."""
    qualified = getattr(function, "__qualname__", None) or getattr(function, "__name__", "function")
    return qualified.rsplit("<locals>.", 1)[-1]


def forwarded_env(patterns: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Values of the client's environment variables matching ``patterns`` (names or globs).

    Variables that describe the machine (PATH, HOME, credentials paths, ...) are never
    forwarded; naming one explicitly raises ConfigError.
    """
    forwarded: dict[str, str] = {}
    for pattern in patterns:
        if not any(char in pattern for char in "*?[") and is_protected(pattern):
            raise ConfigError(f"env={pattern!r} cannot be forwarded: it describes the machine "
                              f"the job runs on, and the job sets its own. Remove it from env")
        for name, value in os.environ.items():
            if fnmatch.fnmatchcase(name, pattern) and not is_protected(name):
                forwarded[name] = value
    return forwarded


def secret_env(names: list[str] | tuple[str, ...]) -> dict[str, str]:
    missing = [name for name in names if name not in os.environ]
    if missing:
        raise ConfigError(f"secret environment variable(s) {', '.join(missing)} are not set in "
                          f"this process; export them before submitting, or remove them from "
                          f"secrets")
    return {name: os.environ[name] for name in names}


def new_job_id(label: str) -> str:
    """A job id: the function or script name, a UTC timestamp and a random suffix.

    It is a valid Kubernetes object name (lower case, digits and dashes, at most 63 chars).
    """
    name = label.removesuffix(".py").split(".")[-1]
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "job"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{slug}-{stamp}-{secrets_module.token_hex(3)}"


def _choose_backend(settings: config.Settings, label: str, accelerator: str,
                    announce: bool) -> str:
    global _local_notice_shown

    if settings.backend:
        validate_backend(settings.backend, settings.sources["backend"])
        return settings.backend
    if settings.cluster:
        return "gke"
    if announce and not _local_notice_shown:
        _local_notice_shown = True
        where = "on CPU" if accelerator != "cpu" else ""
        requested = f" (requested {accelerator})" if accelerator != "cpu" else ""
        shown = label if label.endswith(".py") else f"{label}()"
        message = f"no cluster configured; running {shown} locally {where}{requested}"
        print(f"kinetic: {' '.join(message.split())}", file=sys.stderr)
    return "local"


def _defining_folder(function: Callable[..., Any]) -> Path | None:
    from kinetic.api import source_file

    file = source_file(function)
    return file.parent if file is not None else None


def _portable_sys_path(root: Path) -> list[str]:
    """``sys.path`` entries under the project root, as ``root:<relative path>``."""
    entries = []
    for entry in sys.path:
        relative = relative_to_root(entry or os.getcwd(), root)
        if relative is not None:
            entries.append("root:" + ("" if relative == "." else relative))
    return list(dict.fromkeys(entries))
