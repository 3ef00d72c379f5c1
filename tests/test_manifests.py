"""Kubernetes manifests and node pools, validated against the Kubernetes OpenAPI schema.

``kubernetes-validate`` ships the official JSON schemas offline; ``strict`` rejects unknown
fields, so a misspelled key fails here, not at submission.
"""

from __future__ import annotations

import copy
import json
import re

import kubernetes_validate
import pytest

from kinetic.accelerators import Accelerator, list_accelerators, parse_accelerator
from kinetic.errors import AcceleratorError, ConfigError
from kinetic.k8s import (
    JOB_ID_LABEL,
    MANAGED_BY_LABEL,
    REDACTED,
    NodePoolSpec,
    WorkloadSpec,
    default_requests,
    node_pool_for,
    redact_secret,
    render_job,
    render_manifests,
    render_secret,
)
from kinetic.results import EXIT_USER_ERROR

OLDEST_VERSION = "1.30"
LATEST_VERSION = kubernetes_validate.latest_version()
QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?")
SECRET_VALUE = "hf_very-secret-token-value"

TPU_TOLERATION = {"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
SPOT_TOLERATION = {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true",
                   "effect": "NoSchedule"}


def make_spec(accelerator: Accelerator | str, **overrides) -> WorkloadSpec:
    if isinstance(accelerator, str):
        accelerator = parse_accelerator(accelerator)
    values = dict(job_id="train-20260604-120000-abc123", job_uri="gs://bucket/jobs/abc123",
                  image="us-docker.pkg.dev/project/kinetic/job:0123abcd",
                  accelerator=accelerator, timeout_s=3600)
    values.update(overrides)
    return WorkloadSpec(**values)


def validate_all(manifests: list[dict], versions=(LATEST_VERSION,)) -> None:
    for manifest in manifests:
        for version in versions:
            kubernetes_validate.validate(manifest, version, strict=True)


def by_kind(manifests: list[dict]) -> dict[str, dict]:
    return {manifest["kind"]: manifest for manifest in manifests}


def pod_spec(job: dict) -> dict:
    return job["spec"]["template"]["spec"]


def container(job: dict) -> dict:
    (only,) = pod_spec(job)["containers"]
    return only


def expected_selector(accelerator: Accelerator, reservation: str | None = None) -> dict:
    """Node selector derived from the GKE label rules, independent of Accelerator.node_selector."""
    selector = {}
    if accelerator.kind == "tpu":
        selector["cloud.google.com/gke-tpu-accelerator"] = accelerator.gke_accelerator
        selector["cloud.google.com/gke-tpu-topology"] = accelerator.topology
        if accelerator.family in ("v5e", "v6e") and accelerator.topology == "2x4":
            selector["cloud.google.com/gce-machine-type"] = accelerator.machine_type
    elif accelerator.kind == "gpu":
        selector["cloud.google.com/gke-accelerator"] = accelerator.gke_accelerator
    if accelerator.spot:
        selector["cloud.google.com/gke-spot"] = "true"
    if reservation:
        selector["cloud.google.com/reservation-name"] = reservation
        selector["cloud.google.com/reservation-affinity"] = "specific"
    return selector


def expected_tolerations(accelerator: Accelerator) -> list[dict]:
    tolerations = {"tpu": [TPU_TOLERATION], "gpu": [GPU_TOLERATION], "cpu": []}[accelerator.kind]
    return tolerations + ([SPOT_TOLERATION] if accelerator.spot else [])


VARIANTS = ["on-demand", "spot", "reservation", "secret"]
ENTRIES = list_accelerators()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("base", ENTRIES, ids=[entry.name for entry in ENTRIES])
def test_registry_entry_manifests(base: Accelerator, variant: str) -> None:
    accelerator = parse_accelerator(base.name + (":spot" if variant == "spot" else ""))
    reservation = "team-reservation" if variant == "reservation" else None
    secret_values = {"HF_TOKEN": SECRET_VALUE} if variant == "secret" else {}
    spec = make_spec(accelerator, reservation=reservation, secret_values=secret_values,
                     env={"PLAIN": "visible"})
    manifests = render_manifests(spec)
    versions = (OLDEST_VERSION, LATEST_VERSION) if variant == "on-demand" else (LATEST_VERSION,)
    validate_all(manifests, versions)

    expected_kinds = (["Secret"] if variant == "secret" else []) \
        + (["Service"] if accelerator.hosts > 1 else []) + ["Job"]
    assert [manifest["kind"] for manifest in manifests] == expected_kinds

    job = manifests[-1]
    pod = pod_spec(job)
    assert pod.get("nodeSelector", {}) == expected_selector(accelerator, reservation)
    assert pod.get("tolerations", []) == expected_tolerations(accelerator)
    assert pod["restartPolicy"] == "Never"

    resources = container(job)["resources"]
    for quantity in resources["requests"].values():
        assert QUANTITY.fullmatch(quantity), quantity
    if accelerator.kind == "cpu":
        assert set(resources["requests"]) == {"cpu", "memory"}
        assert "limits" not in resources
    else:
        key = "google.com/tpu" if accelerator.kind == "tpu" else "nvidia.com/gpu"
        assert resources["requests"][key] == str(accelerator.chips_per_host)
        assert resources["limits"] == {key: str(accelerator.chips_per_host)}

    if accelerator.hosts > 1:
        assert job["spec"]["completionMode"] == "Indexed"
        assert job["spec"]["parallelism"] == accelerator.hosts
        assert job["spec"]["completions"] == accelerator.hosts
        assert pod["subdomain"] == manifests[-2]["metadata"]["name"]
    else:
        assert "completionMode" not in job["spec"]
        assert "subdomain" not in pod

    if variant == "secret":
        assert SECRET_VALUE not in json.dumps(manifests[1:])
        assert manifests[0]["stringData"] == {"HF_TOKEN": SECRET_VALUE}


def test_tpu_v6e_8_manifest_literal() -> None:
    job = render_job(make_spec("tpu-v6e-8"))
    assert pod_spec(job)["nodeSelector"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
        "cloud.google.com/gke-tpu-topology": "2x4",
        "cloud.google.com/gce-machine-type": "ct6e-standard-8t",
    }
    assert pod_spec(job)["tolerations"] == [TPU_TOLERATION]
    assert container(job)["resources"] == {
        "requests": {"cpu": "135", "memory": "1080Gi", "google.com/tpu": "8"},
        "limits": {"google.com/tpu": "8"},
    }


def test_tpu_v5e_4_has_no_machine_selector() -> None:
    job = render_job(make_spec("tpu-v5e-4"))
    assert pod_spec(job)["nodeSelector"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
        "cloud.google.com/gke-tpu-topology": "2x2",
    }


def test_gpu_manifest_literal() -> None:
    job = render_job(make_spec("h100:8:spot"))
    assert pod_spec(job)["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-h100-80gb",
        "cloud.google.com/gke-spot": "true",
    }
    assert pod_spec(job)["tolerations"] == [GPU_TOLERATION, SPOT_TOLERATION]
    assert container(job)["resources"]["limits"] == {"nvidia.com/gpu": "8"}
    env = {entry["name"]: entry.get("value") for entry in container(job)["env"]}
    assert env["LD_LIBRARY_PATH"] == "/usr/local/nvidia/lib64"


def test_gpu_keeps_user_library_path() -> None:
    job = render_job(make_spec("l4", env={"LD_LIBRARY_PATH": "/opt/lib"}))
    env = {entry["name"]: entry.get("value") for entry in container(job)["env"]}
    assert env["LD_LIBRARY_PATH"] == "/opt/lib:/usr/local/nvidia/lib64"


def test_tpu_has_no_library_path() -> None:
    job = render_job(make_spec("tpu-v5e-4"))
    names = [entry["name"] for entry in container(job)["env"]]
    assert "LD_LIBRARY_PATH" not in names


def test_container_runs_runner() -> None:
    spec = make_spec("cpu")
    job = render_job(spec)
    assert container(job)["name"] == "kinetic"
    assert container(job)["image"] == spec.image
    assert container(job)["command"] == ["python", "-m", "kinetic.runner", spec.job_uri]


def test_pod_failure_policy_rules() -> None:
    job = render_job(make_spec("tpu-v5e-8"))
    assert job["spec"]["podFailurePolicy"]["rules"] == [
        {"action": "Count",
         "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "FailJob",
         "onExitCodes": {"containerName": "kinetic", "operator": "In",
                         "values": [EXIT_USER_ERROR]}},
        {"action": "FailJob",
         "onExitCodes": {"containerName": "kinetic", "operator": "NotIn", "values": [0]}},
    ]


def test_single_host_backoff_is_retries() -> None:
    job = render_job(make_spec("tpu-v5e-8", max_preemption_retries=5))
    assert job["spec"]["backoffLimit"] == 5


def test_multi_host_backoff_is_zero() -> None:
    job = render_job(make_spec("tpu-v5e-16", max_preemption_retries=5))
    assert job["spec"]["backoffLimit"] == 0


def test_job_deadline_and_ttl() -> None:
    job = render_job(make_spec("cpu", timeout_s=90, ttl_seconds_after_finished=60))
    assert job["spec"]["activeDeadlineSeconds"] == 90
    assert job["spec"]["ttlSecondsAfterFinished"] == 60


def test_no_timeout_no_deadline() -> None:
    job = render_job(make_spec("cpu", timeout_s=None, ttl_seconds_after_finished=None))
    assert "activeDeadlineSeconds" not in job["spec"]
    assert "ttlSecondsAfterFinished" not in job["spec"]
    validate_all([job])


@pytest.mark.parametrize("timeout", [0, -5, 1.5, True, "60"])
def test_invalid_timeout_rejected(timeout: object) -> None:
    with pytest.raises(ConfigError) as caught:
        make_spec("cpu", timeout_s=timeout)
    assert f"invalid timeout {timeout!r}" in str(caught.value)
    assert "positive whole number of seconds" in str(caught.value)


def test_labels_on_every_object() -> None:
    spec = make_spec("tpu-v6e-16", labels={"team": "research"},
                     secret_values={"TOKEN": SECRET_VALUE})
    manifests = render_manifests(spec)
    expected = {"team": "research", MANAGED_BY_LABEL: "kinetic", JOB_ID_LABEL: spec.job_id}
    for manifest in manifests:
        assert manifest["metadata"]["labels"] == expected
        assert manifest["metadata"]["namespace"] == "default"
    job = manifests[-1]
    assert job["spec"]["template"]["metadata"]["labels"] == expected
    assert job["metadata"]["annotations"] == {"kinetic.dev/accelerator": "tpu-v6e-16"}


def test_multi_host_service() -> None:
    spec = make_spec("tpu-v5p-2x2x2", namespace="ml")
    service, job = render_manifests(spec)
    assert service["spec"] == {"clusterIP": "None",
                               "selector": {JOB_ID_LABEL: spec.job_id},
                               "publishNotReadyAddresses": True}
    assert service["metadata"]["name"] == spec.service_name == pod_spec(job)["subdomain"]
    assert service["metadata"]["namespace"] == job["metadata"]["namespace"] == "ml"
    assert job["spec"]["template"]["metadata"]["labels"][JOB_ID_LABEL] == spec.job_id


def test_secret_env_uses_secret_key_ref() -> None:
    spec = make_spec("l4", env={"PLAIN": "1"}, secret_values={"HF_TOKEN": SECRET_VALUE})
    secret, job = render_manifests(spec)
    assert secret["metadata"]["name"] == spec.secret_name
    assert secret["type"] == "Opaque"
    env = container(job)["env"]
    assert {"name": "PLAIN", "value": "1"} in env
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": spec.secret_name, "key": "HF_TOKEN"}}} in env
    assert SECRET_VALUE not in json.dumps(job)


def test_secret_from_env_value() -> None:
    spec = make_spec("cpu", env={"TOKEN": SECRET_VALUE}, secret_env=("TOKEN",))
    secret, job = render_manifests(spec)
    assert secret["stringData"] == {"TOKEN": SECRET_VALUE}
    assert SECRET_VALUE not in json.dumps(job)
    assert SECRET_VALUE not in repr(spec)


def test_redacted_secret_rendering() -> None:
    spec = make_spec("cpu", secret_values={"TOKEN": SECRET_VALUE, "KEY": "other"})
    manifests = render_manifests(spec, redact_secrets=True)
    validate_all(manifests)
    assert manifests[0]["stringData"] == {"TOKEN": REDACTED, "KEY": REDACTED}
    assert SECRET_VALUE not in json.dumps(manifests)


def test_redaction_without_values() -> None:
    spec = make_spec("cpu", secret_env=("TOKEN",))
    manifests = render_manifests(spec, redact_secrets=True)
    assert manifests[0]["stringData"] == {"TOKEN": REDACTED}
    with pytest.raises(ConfigError) as caught:
        render_secret(spec)
    assert "'TOKEN'" in str(caught.value)
    assert "secret_values" in str(caught.value)


def test_redact_secret_copies() -> None:
    secret = render_secret(make_spec("cpu", secret_values={"TOKEN": SECRET_VALUE}))
    redacted = redact_secret(secret)
    assert redacted["stringData"] == {"TOKEN": REDACTED}
    assert secret["stringData"] == {"TOKEN": SECRET_VALUE}
    assert redact_secret({"kind": "Secret", "data": {"A": "c2VjcmV0"}})["data"] == {"A": REDACTED}


def test_no_secret_without_secret_env() -> None:
    assert render_secret(make_spec("cpu")) is None


def test_service_account_and_namespace() -> None:
    job = render_job(make_spec("cpu", namespace="team-a", service_account="kinetic-runner"))
    assert job["metadata"]["namespace"] == "team-a"
    assert pod_spec(job)["serviceAccountName"] == "kinetic-runner"
    validate_all([job])


def test_rendering_is_pure() -> None:
    spec = make_spec("tpu-v6e-16", secret_values={"TOKEN": SECRET_VALUE})
    first = render_manifests(spec)
    snapshot = copy.deepcopy(first)
    first[-1]["spec"]["template"]["spec"]["nodeSelector"]["x"] = "y"
    assert render_manifests(spec) == snapshot


def test_spec_copies_caller_mappings() -> None:
    env = {"A": "1"}
    spec = make_spec("cpu", env=env)
    env["A"] = "2"
    assert spec.env["A"] == "1"


def test_spot_with_reservation_rejected() -> None:
    with pytest.raises(AcceleratorError) as caught:
        make_spec("tpu-v5e-8:spot", reservation="my-reservation")
    message = str(caught.value)
    assert "'tpu-v5e-8:spot'" in message
    assert "'my-reservation'" in message


def test_node_pool_spot_reservation_rejected() -> None:
    with pytest.raises(AcceleratorError) as caught:
        node_pool_for(parse_accelerator("l4:spot"), reservation="my-reservation")
    assert "'l4:spot'" in str(caught.value)
    assert "'my-reservation'" in str(caught.value)


@pytest.mark.parametrize(("overrides", "fragments"), [
    ({"job_id": "Bad_ID"}, ["'Bad_ID'", "lowercase"]),
    ({"job_id": "a" * 49}, ["at most 48"]),
    ({"job_id": ""}, ["''"]),
    ({"namespace": "Team A"}, ["'Team A'", "DNS label"]),
    ({"image": ""}, ["missing image"]),
    ({"job_uri": None}, ["missing job_uri"]),
    ({"max_preemption_retries": -1}, ["max_preemption_retries -1"]),
    ({"ttl_seconds_after_finished": -1}, ["ttl_seconds_after_finished -1"]),
    ({"cpu_request": "lots"}, ["cpu_request 'lots'", "'500m'"]),
    ({"memory_request": 16}, ["memory_request 16", "'16Gi'"]),
    ({"env": {"1BAD": "x"}}, ["'1BAD'"]),
    ({"env": {"STEPS": 100}}, ["'STEPS'", "int", "str()"]),
    ({"secret_env": "TOKEN"}, ["'TOKEN'", "tuple of variable names"]),
    ({"secret_values": {"bad-name": "x"}}, ["'bad-name'"]),
    ({"labels": {JOB_ID_LABEL: "x"}}, ["'kinetic.dev/job-id'", "set by kinetic"]),
    ({"labels": {"team": "a b"}}, ["'a b'", "'team'"]),
    ({"labels": {"bad key!": "x"}}, ["'bad key!'"]),
    ({"reservation": "Bad Name"}, ["'Bad Name'"]),
    ({"accelerator": "l4"}, ["'l4'", "parse_accelerator"]),
    ({"service_account": "Bad SA"}, ["'Bad SA'"]),
])
def test_invalid_workload_rejected(overrides: dict, fragments: list[str]) -> None:
    values = {"job_id": "job-1", "job_uri": "gs://bucket/jobs/job-1", "image": "image:tag",
              "accelerator": parse_accelerator("cpu"), **overrides}
    with pytest.raises(ConfigError) as caught:
        WorkloadSpec(**values)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_default_requests_rule() -> None:
    assert default_requests(parse_accelerator("h100:8")) == ("156", "1404Gi")
    assert default_requests(parse_accelerator("t4")) == ("3", "11Gi")
    assert default_requests(parse_accelerator("tpu-v5e-16")) == ("84", "144Gi")
    assert default_requests(parse_accelerator("cpu")) == ("1", "2Gi")


def test_requests_below_host_size() -> None:
    for entry in list_accelerators():
        if entry.kind == "cpu":
            continue
        cpu, memory = default_requests(entry)
        assert 1 <= int(cpu) < entry.host_vcpus, entry.name
        assert int(memory.removesuffix("Gi")) < entry.host_memory_gib, entry.name


def test_request_overrides() -> None:
    job = render_job(make_spec("l4", cpu_request="2", memory_request="8Gi"))
    requests = container(job)["resources"]["requests"]
    assert requests == {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}


def test_node_pool_multi_host_tpu() -> None:
    pool = node_pool_for(parse_accelerator("tpu-v6e-16"))
    assert pool == NodePoolSpec(name="kinetic-tpu-v6e-16", machine_type="ct6e-standard-4t",
                                node_count=4, placement_policy="COMPACT", tpu_topology="4x4")


def test_node_pool_single_host_tpu() -> None:
    pool = node_pool_for(parse_accelerator("tpu-v5e-8:spot"))
    assert pool.machine_type == "ct5lp-hightpu-8t"
    assert pool.node_count == 1
    assert pool.placement_policy is None
    assert pool.tpu_topology is None
    assert pool.gpu_type is None
    assert pool.spot
    assert pool.name == "kinetic-tpu-v5e-8-spot"


def test_node_pool_gpu() -> None:
    pool = node_pool_for(parse_accelerator("a100:16"), reservation="res-1")
    assert pool.machine_type == "a2-megagpu-16g"
    assert (pool.gpu_type, pool.gpu_count) == ("nvidia-tesla-a100", 16)
    assert pool.gpu_driver_version == "DEFAULT"
    assert pool.reservation == "res-1"
    assert not pool.spot


def test_node_pool_cpu() -> None:
    pool = node_pool_for(parse_accelerator("cpu"))
    assert pool.machine_type is None
    assert pool.describe() == "no dedicated node pool: any node of the cluster"


def test_node_pool_names_valid() -> None:
    for entry in list_accelerators():
        name = node_pool_for(parse_accelerator(entry.name + ":spot")).name
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name), name
        assert len(name) <= 40, name


def test_node_pool_dict_round_trip() -> None:
    pool = node_pool_for(parse_accelerator("tpu-v5p-2x2x4"))
    assert NodePoolSpec.from_dict(json.loads(json.dumps(pool.to_dict()))) == pool


def test_validator_rejects_broken_job() -> None:
    job = render_job(make_spec("cpu"))
    job["spec"]["backoffLimt"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, LATEST_VERSION, strict=True)
