"""Kubernetes objects of a kinetic job: workload spec, manifests and node pool description.

Pure data and functions on plain dicts (stdlib only); the GKE backend submits what they return.
"""

from kinetic.k8s.manifests import (
    CONTAINER_NAME,
    REDACTED,
    redact_secret,
    render_job,
    render_manifests,
    render_secret,
    render_service,
)
from kinetic.k8s.nodepool import NodePoolSpec, node_pool_for
from kinetic.k8s.workload import (
    JOB_ID_LABEL,
    MANAGED_BY_LABEL,
    WorkloadSpec,
    default_requests,
)

__all__ = [
    "CONTAINER_NAME",
    "JOB_ID_LABEL",
    "MANAGED_BY_LABEL",
    "REDACTED",
    "NodePoolSpec",
    "WorkloadSpec",
    "default_requests",
    "node_pool_for",
    "redact_secret",
    "render_job",
    "render_manifests",
    "render_secret",
    "render_service",
]
