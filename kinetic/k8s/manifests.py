"""Kubernetes manifests of one job, as plain dicts: Secret, headless Service, Job.

Pure functions of a ``WorkloadSpec``; the backend submits the dicts with the Kubernetes client
and the plan prints them. Only ``render_secret`` (and ``render_manifests`` without
``redact_secrets``) returns secret values.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from kinetic.accelerators import Accelerator, catalog
from kinetic.errors import ConfigError
from kinetic.k8s.workload import ACCELERATOR_ANNOTATION, JOB_ID_LABEL, WorkloadSpec
from kinetic.results import EXIT_USER_ERROR

logger = logging.getLogger("kinetic.k8s")

CONTAINER_NAME = "kinetic"
REDACTED = "<redacted>"
NVIDIA_LIBRARY_PATH = "/usr/local/nvidia/lib64"
"""Directory of the driver libraries that the GKE NVIDIA device plugin mounts."""


def render_manifests(spec: WorkloadSpec, *, redact_secrets: bool = False) -> list[dict[str, Any]]:
    """Render every object of the job, in creation order: Secret (if any), Service (multi-host
    only), Job.

    With ``redact_secrets`` the Secret's values read ``<redacted>``, for plans and logs.
    """
    manifests: list[dict[str, Any]] = []
    secret = _redacted_secret(spec) if redact_secrets else render_secret(spec)
    if secret is not None:
        manifests.append(secret)
    if spec.accelerator.multi_host:
        manifests.append(render_service(spec))
    manifests.append(render_job(spec))
    kinds = ", ".join(manifest["kind"] for manifest in manifests)
    logger.debug("rendered %s for job %s on %s", kinds, spec.job_id, spec.accelerator.spec)
    return manifests


def render_secret(spec: WorkloadSpec) -> dict[str, Any] | None:
    """Render the Secret holding the values of ``spec.secret_env``, or ``None`` if there are none.

    The result carries the secret values in ``stringData``: submit it, never print or log it
    (print ``redact_secret(...)`` instead). Raises ConfigError when the spec lacks a value.
    """
    if not spec.secret_env:
        return None
    values = {}
    for name in spec.secret_env:
        value = spec.secret_value(name)
        if value is None:
            raise ConfigError(
                f"no value for secret environment variable {name!r} of job {spec.job_id!r}; "
                "pass it in secret_values (or env) of the WorkloadSpec")
        values[name] = value
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(spec, spec.secret_name),
        "type": "Opaque",
        "stringData": values,
    }


def _redacted_secret(spec: WorkloadSpec) -> dict[str, Any] | None:
    """Render the Secret with ``<redacted>`` values, which needs no values, for plans."""
    if not spec.secret_env:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(spec, spec.secret_name),
        "type": "Opaque",
        "stringData": {name: REDACTED for name in spec.secret_env},
    }


def redact_secret(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a Secret manifest with every value replaced by ``<redacted>``."""
    redacted = copy.deepcopy(manifest)
    for key in ("stringData", "data"):
        if key in redacted:
            redacted[key] = {name: REDACTED for name in redacted[key]}
    return redacted


def render_service(spec: WorkloadSpec) -> dict[str, Any]:
    """Render the headless Service that gives each pod of a multi-host slice a DNS name.

    Pods become ``<job name>-<index>.<service name>``; addresses are published before the pods
    are ready so that workers can reach the coordinator (worker 0) while starting.
    """
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec, spec.service_name),
        "spec": {
            "clusterIP": "None",
            "selector": {JOB_ID_LABEL: spec.job_id},
            "publishNotReadyAddresses": True,
        },
    }


def render_job(spec: WorkloadSpec) -> dict[str, Any]:
    """Render the ``batch/v1`` Job.

    Failures: ``podFailurePolicy`` counts a pod that failed with the ``DisruptionTarget``
    condition (Spot preemption, node drain) against ``backoffLimit`` and fails the Job at once
    on any non-zero exit code, with a separate rule for ``EXIT_USER_ERROR``, so Kubernetes
    retries only disruptions.

    Single host: ``backoffLimit`` = ``max_preemption_retries``.

    Multi-host TPU: an Indexed Job with one pod per host (parallelism = completions = hosts)
    and ``subdomain`` = the headless Service, which makes GKE inject ``TPU_WORKER_ID`` and
    ``TPU_WORKER_HOSTNAMES`` for ``jax.distributed.initialize()``. ``backoffLimit`` is 0: a
    restarted pod cannot rejoin a slice whose other workers already failed or wait on it, so a
    preemption fails the Job with reason ``BackoffLimitExceeded`` and the whole slice must be
    resubmitted. Contract with the runner: every pod runs the same command; the runner reads
    ``TPU_WORKER_ID`` (default 0) and only worker 0 writes the result record.
    """
    accelerator = spec.accelerator
    job_spec: dict[str, Any] = {
        "backoffLimit": 0 if accelerator.multi_host else spec.max_preemption_retries,
        "podFailurePolicy": {"rules": _pod_failure_rules()},
        "template": {
            "metadata": {"labels": spec.object_labels},
            "spec": _pod_spec(spec),
        },
    }
    if accelerator.multi_host:
        job_spec["completionMode"] = "Indexed"
        job_spec["completions"] = accelerator.hosts
        job_spec["parallelism"] = accelerator.hosts
    if spec.timeout_s is not None:
        job_spec["activeDeadlineSeconds"] = spec.timeout_s
    if spec.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished

    metadata = _metadata(spec, spec.job_name)
    metadata["annotations"] = {ACCELERATOR_ANNOTATION: accelerator.spec}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}


def _metadata(spec: WorkloadSpec, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": spec.namespace, "labels": spec.object_labels}


def _pod_failure_rules() -> list[dict[str, Any]]:
    """Rules in match order: the first rule that matches a failed pod decides."""
    return [
        {"action": "Count",
         "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "FailJob",
         "onExitCodes": {"containerName": CONTAINER_NAME, "operator": "In",
                         "values": [EXIT_USER_ERROR]}},
        {"action": "FailJob",
         "onExitCodes": {"containerName": CONTAINER_NAME, "operator": "NotIn", "values": [0]}},
    ]


def _pod_spec(spec: WorkloadSpec) -> dict[str, Any]:
    accelerator = spec.accelerator
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [_container(spec)],
    }
    node_selector = accelerator.node_selector
    if spec.reservation is not None:
        node_selector[catalog.RESERVATION_NAME_LABEL] = spec.reservation
        node_selector[catalog.RESERVATION_AFFINITY_LABEL] = "specific"
    if node_selector:
        pod["nodeSelector"] = node_selector
    if accelerator.tolerations:
        pod["tolerations"] = accelerator.tolerations
    if accelerator.multi_host:
        pod["subdomain"] = spec.service_name
    if spec.service_account is not None:
        pod["serviceAccountName"] = spec.service_account
    return pod


def _container(spec: WorkloadSpec) -> dict[str, Any]:
    return {
        "name": CONTAINER_NAME,
        "image": spec.image,
        "command": ["python", "-m", "kinetic.runner", spec.job_uri],
        "env": _env(spec),
        "resources": _resources(spec),
    }


def _env(spec: WorkloadSpec) -> list[dict[str, Any]]:
    """Container env: kinetic's variables, then the spec's; secrets as ``secretKeyRef``."""
    plain: dict[str, str] = {"KINETIC_JOB_ID": spec.job_id}
    plain.update({name: value for name, value in spec.env.items()
                  if name not in spec.secret_env})
    if spec.accelerator.kind == "gpu":
        plain["LD_LIBRARY_PATH"] = _with_nvidia_path(plain.get("LD_LIBRARY_PATH"))

    entries: list[dict[str, Any]] = [{"name": name, "value": value}
                                     for name, value in plain.items()]
    entries.extend(
        {"name": name,
         "valueFrom": {"secretKeyRef": {"name": spec.secret_name, "key": name}}}
        for name in spec.secret_env)
    return entries


def _with_nvidia_path(user_path: str | None) -> str:
    if not user_path:
        return NVIDIA_LIBRARY_PATH
    if NVIDIA_LIBRARY_PATH in user_path.split(":"):
        return user_path
    return f"{user_path}:{NVIDIA_LIBRARY_PATH}"


def _resources(spec: WorkloadSpec) -> dict[str, Any]:
    cpu, memory = spec.resource_requests()
    resources: dict[str, Any] = {"requests": {"cpu": cpu, "memory": memory}}
    accelerator: Accelerator = spec.accelerator
    if accelerator.resource_key is not None:
        chips = str(accelerator.chips_per_host)
        resources["requests"][accelerator.resource_key] = chips
        resources["limits"] = {accelerator.resource_key: chips}
    return resources
