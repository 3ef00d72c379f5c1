"""``WorkloadSpec``: everything the Kubernetes manifests of one job are rendered from."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kinetic.accelerators import Accelerator
from kinetic.errors import AcceleratorError, ConfigError

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "kinetic"
JOB_ID_LABEL = "kinetic.dev/job-id"
ACCELERATOR_ANNOTATION = "kinetic.dev/accelerator"

MAX_JOB_ID_LENGTH = 48
"""Maximum job id length, so that ``kinetic-<id>-env`` and the pod hostnames
``kinetic-<id>-<index>`` of a 1024-host slice stay within the 63-character DNS label limit."""

REQUEST_FRACTION = 0.75
"""Share of a host's vCPUs and memory that the job's pod requests by default."""
DEFAULT_CPU_REQUEST = "1"
DEFAULT_MEMORY_REQUEST = "2Gi"

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?")


@dataclass(frozen=True)
class WorkloadSpec:
    """One job to run on Kubernetes, validated on construction.

    ``env`` maps variable names to plain values. ``secret_env`` names the variables whose values
    go into a Secret, which the container reads with ``secretKeyRef``, instead of into the Job.
    A secret's value comes from ``secret_values``, else from ``env``, and names in
    ``secret_values`` count as listed in ``secret_env``. Values may be left out when only a
    redacted rendering is needed (a plan), but then ``render_secret`` raises ConfigError.
    Neither ``env`` nor ``secret_values`` appears in the repr.

    ``timeout_s`` becomes the Job's ``activeDeadlineSeconds`` (``None`` for no limit).
    ``cpu_request`` and ``memory_request`` are Kubernetes quantities, and ``None`` picks
    ``default_requests``. ``labels`` are added to every object and pod.

    ``max_preemption_retries`` is how often a single-host job is restarted after a preemption.
    Kubernetes does not restart a multi-host slice (see ``render_job``).

    Raises ConfigError (AcceleratorError for spot with a reservation) naming the invalid value.
    """

    job_id: str
    job_uri: str
    image: str
    accelerator: Accelerator
    namespace: str = "default"
    timeout_s: int | None = None
    max_preemption_retries: int = 3
    ttl_seconds_after_finished: int | None = 3600
    cpu_request: str | None = None
    memory_request: str | None = None
    env: Mapping[str, str] = field(default_factory=dict, hash=False, repr=False)
    secret_env: tuple[str, ...] = ()
    secret_values: Mapping[str, str] = field(default_factory=dict, hash=False, repr=False)
    reservation: str | None = None
    service_account: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # Freeze the mappings so a caller's later edits cannot change a rendered spec.
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        object.__setattr__(self, "secret_values", MappingProxyType(dict(self.secret_values)))
        if isinstance(self.secret_env, str):
            raise ConfigError(
                f"invalid secret_env {self.secret_env!r}: expected a tuple of variable names, "
                "not one string")
        names = dict.fromkeys([*self.secret_env, *self.secret_values])
        object.__setattr__(self, "secret_env", tuple(names))
        self._validate_names()
        self._validate_limits()
        self._validate_env()
        self._validate_labels()
        self._validate_scheduling()

    @property
    def job_name(self) -> str:
        return f"kinetic-{self.job_id}"

    @property
    def service_name(self) -> str:
        """Name of the headless Service of a multi-host job; also the pods' ``subdomain``."""
        return self.job_name

    @property
    def secret_name(self) -> str:
        return f"kinetic-{self.job_id}-env"

    @property
    def object_labels(self) -> dict[str, str]:
        """Labels on every object and pod: the user's, then kinetic's own."""
        return {**self.labels, MANAGED_BY_LABEL: MANAGED_BY_VALUE, JOB_ID_LABEL: self.job_id}

    def resource_requests(self) -> tuple[str, str]:
        """Return the (cpu, memory) requests of each pod: the spec's, or ``default_requests``."""
        default_cpu, default_memory = default_requests(self.accelerator)
        return self.cpu_request or default_cpu, self.memory_request or default_memory

    # Validation ------------------------------------------------------------------------------

    def _validate_names(self) -> None:
        if not isinstance(self.accelerator, Accelerator):
            raise ConfigError(
                f"invalid accelerator {self.accelerator!r} for job {self.job_id!r}: expected an "
                "Accelerator; resolve names with kinetic.accelerators.parse_accelerator")
        if not isinstance(self.job_id, str) or not _DNS_LABEL.fullmatch(self.job_id) \
                or len(self.job_id) > MAX_JOB_ID_LENGTH:
            raise ConfigError(
                f"invalid job id {self.job_id!r}: expected at most {MAX_JOB_ID_LENGTH} "
                "lowercase letters, digits and '-', starting and ending with a letter or digit")
        for name, value in (("job_uri", self.job_uri), ("image", self.image)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"missing {name} for job {self.job_id!r}: got {value!r}")
        if not isinstance(self.namespace, str) or not _DNS_LABEL.fullmatch(self.namespace):
            raise ConfigError(
                f"invalid namespace {self.namespace!r}: expected a DNS label (lowercase "
                "letters, digits and '-', at most 63 characters)")
        if self.service_account is not None and (
                not isinstance(self.service_account, str)
                or not _DNS_SUBDOMAIN.fullmatch(self.service_account)):
            raise ConfigError(
                f"invalid service account {self.service_account!r}: expected a Kubernetes "
                "service account name (lowercase letters, digits, '-' and '.')")

    def _validate_limits(self) -> None:
        timeout = self.timeout_s
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)
                                    or timeout <= 0):
            raise ConfigError(
                f"invalid timeout {timeout!r}: expected a positive whole number of seconds, "
                "or None for no limit")
        _require_count("max_preemption_retries", self.max_preemption_retries)
        if self.ttl_seconds_after_finished is not None:
            _require_count("ttl_seconds_after_finished", self.ttl_seconds_after_finished)
        for name in ("cpu_request", "memory_request"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str)
                                      or not _QUANTITY.fullmatch(value)):
                raise ConfigError(
                    f"invalid {name} {value!r}: expected a Kubernetes quantity such as "
                    "'4', '500m', '16Gi'")

    def secret_value(self, name: str) -> str | None:
        """Return the value of secret variable ``name``, or ``None`` when the spec lacks it."""
        if name in self.secret_values:
            return self.secret_values[name]
        return self.env.get(name)

    def _validate_env(self) -> None:
        for mapping in (self.env, self.secret_values):
            for name, value in mapping.items():
                _check_env_name(name)
                if not isinstance(value, str):
                    raise ConfigError(
                        f"invalid value for environment variable {name!r}: expected a string, "
                        f"got {type(value).__name__}; convert it with str()")
        for name in self.secret_env:
            _check_env_name(name)

    def _validate_labels(self) -> None:
        for key, value in self.labels.items():
            if key in (MANAGED_BY_LABEL, JOB_ID_LABEL):
                raise ConfigError(f"label {key!r} is set by kinetic; choose another label key")
            if not isinstance(key, str) or not _valid_label_key(key):
                raise ConfigError(
                    f"invalid label key {key!r}: expected an optional DNS prefix and '/', then "
                    "at most 63 letters, digits, '-', '_' or '.'")
            if not isinstance(value, str) or len(value) > 63 \
                    or not _LABEL_VALUE.fullmatch(value):
                raise ConfigError(
                    f"invalid value {value!r} for label {key!r}: expected at most 63 letters, "
                    "digits, '-', '_' or '.', starting and ending with a letter or digit")

    def _validate_scheduling(self) -> None:
        if self.reservation is None:
            return
        if self.accelerator.spot:
            raise AcceleratorError(
                f"spot accelerator {self.accelerator.spec!r} cannot use reservation "
                f"{self.reservation!r}: GKE does not combine Spot VMs with reservations; "
                "drop ':spot' or the reservation")
        if not isinstance(self.reservation, str) or len(self.reservation) > 63 \
                or not _DNS_LABEL.fullmatch(self.reservation):
            raise ConfigError(
                f"invalid reservation name {self.reservation!r}: expected a Compute Engine "
                "reservation name (lowercase letters, digits and '-')")


def default_requests(accelerator: Accelerator) -> tuple[str, str]:
    """Return the default (cpu, memory) requests of one pod on ``accelerator``'s hosts.

    Rule: three quarters of the host's vCPUs and GiB of memory, rounded down. GKE reserves part
    of each node for the kubelet and system daemons, and its DaemonSets request a little more.
    A pod asking for all of the node therefore never schedules. The quarter left is meant as
    room for both on the smallest host in the registry (n1-standard-4). That margin is an
    estimate, not measured on a cluster. No CPU or memory limit is set, so the
    process may still use what the node has free. ``cpu`` and hosts of unknown size get
    ``DEFAULT_CPU_REQUEST`` and ``DEFAULT_MEMORY_REQUEST``.
    """
    vcpus, memory_gib = accelerator.host_vcpus, accelerator.host_memory_gib
    if vcpus is None or memory_gib is None:
        return DEFAULT_CPU_REQUEST, DEFAULT_MEMORY_REQUEST
    cpu = max(1, math.floor(vcpus * REQUEST_FRACTION))
    memory = max(1, math.floor(memory_gib * REQUEST_FRACTION))
    return str(cpu), f"{memory}Gi"


def _check_env_name(name: object) -> None:
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
        raise ConfigError(
            f"invalid environment variable name {name!r}: expected letters, digits and '_', "
            "not starting with a digit")


def _require_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"invalid {name} {value!r}: expected a whole number, 0 or more")


def _valid_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None
