"""Plan: building, text and YAML rendering, and the plan.json round trip."""

from __future__ import annotations

import json

import pytest
import yaml

from kinetic.accelerators import PRICE_DATE, Accelerator, parse_accelerator, with_prices
from kinetic.errors import AcceleratorError, StoreError
from kinetic.k8s import REDACTED, WorkloadSpec, render_manifests
from kinetic.plan import Plan, build_plan, format_bytes, format_duration

SECRET_VALUE = "hf_plan-secret-token"


def make_workload(accelerator: str | Accelerator = "tpu-v6e-16", **overrides) -> WorkloadSpec:
    if isinstance(accelerator, str):
        accelerator = parse_accelerator(accelerator)
    values = dict(job_id="train-20260604-120000-abc123", job_uri="gs://bucket/jobs/abc123",
                  image="us-docker.pkg.dev/project/kinetic/job:0123abcd",
                  accelerator=accelerator, timeout_s=7200,
                  env={"STEPS": "100"}, secret_values={"HF_TOKEN": SECRET_VALUE})
    values.update(overrides)
    return WorkloadSpec(**values)


def make_plan(workload: WorkloadSpec | None = None, **overrides) -> Plan:
    values = dict(backend="gke", image_needs_build=True, payload_bytes=2048,
                  archive_bytes=3 * 1024 * 1024,
                  largest_items=[("data/weights.bin", 2 * 1024 * 1024), ("train.py", 1200)],
                  excluded_paths=[".git", "outputs/"])
    values.update(overrides)
    return build_plan(workload or make_workload(), **values)


def test_plan_fields() -> None:
    plan = make_plan()
    assert plan.accelerator.name == "tpu-v6e-16"
    assert plan.backend == "gke"
    assert plan.image == "us-docker.pkg.dev/project/kinetic/job:0123abcd"
    assert plan.image_needs_build is True
    assert plan.node_pool.node_count == 4
    assert plan.node_pool.tpu_topology == "4x4"
    assert [m["kind"] for m in plan.manifests] == ["Secret", "Service", "Job"]
    assert plan.payload_bytes == 2048
    assert plan.archive_bytes == 3 * 1024 * 1024
    assert plan.largest_items == (("data/weights.bin", 2 * 1024 * 1024), ("train.py", 1200))
    assert plan.excluded_paths == (".git", "outputs/")
    assert plan.price_date == PRICE_DATE


def test_plan_cost_on_demand() -> None:
    plan = make_plan()
    assert plan.price_per_hour == pytest.approx(16 * 2.70)
    assert plan.timeout_s == 7200
    assert plan.timeout_cost == pytest.approx(2 * 16 * 2.70)


def test_plan_cost_spot() -> None:
    plan = make_plan(make_workload("tpu-v5e-8:spot", timeout_s=1800))
    assert plan.price_per_hour == pytest.approx(8 * 0.245)
    assert plan.timeout_cost == pytest.approx(round(0.5 * 8 * 0.245, 2))


def test_plan_cost_without_timeout() -> None:
    plan = make_plan(make_workload(timeout_s=None))
    assert plan.timeout_cost is None
    assert "Timeout      none" in plan.to_text()


def test_plan_without_price() -> None:
    plan = make_plan(make_workload("h100-mega"))
    assert plan.price_per_hour is None
    assert plan.timeout_cost is None
    text = plan.to_text()
    assert "unknown: the catalog has no price for h100-mega" in text
    assert "[prices.h100-mega] in your profile file" in text


def test_plan_with_price_override() -> None:
    accelerator = with_prices(parse_accelerator("h100-mega"),
                              {"h100-mega": {"on_demand": 10.0, "spot": 5.0}})
    plan = make_plan(make_workload(accelerator))
    assert plan.price_per_hour == pytest.approx(80.0)
    assert plan.price_date == "profile override"
    assert "(price source: profile override)" in plan.to_text()


def test_plan_never_holds_secret() -> None:
    plan = make_plan()
    for rendered in (plan.to_text(), plan.to_json(), plan.to_yaml(), repr(plan)):
        assert SECRET_VALUE not in rendered
    assert plan.manifests[0]["stringData"] == {"HF_TOKEN": REDACTED}


def test_plan_redacts_given_secret() -> None:
    workload = make_workload()
    plan = make_plan()
    raw = Plan(**{**plan.__dict__, "manifests": tuple(render_manifests(workload))})
    assert raw.manifests[0]["stringData"] == {"HF_TOKEN": REDACTED}


def test_plan_json_file_round_trip(tmp_path) -> None:
    plan = make_plan()
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan.to_dict(), indent=2))
    loaded = Plan.from_dict(json.loads(path.read_text()))
    assert loaded == plan
    assert loaded.to_text() == plan.to_text()


def test_plan_yaml_parses_back() -> None:
    plan = make_plan(make_workload("l4:spot"))
    data = yaml.safe_load(plan.to_yaml())
    assert Plan.from_dict(data) == plan


def test_plan_text_summary() -> None:
    text = make_plan().to_text()
    assert ("Accelerator  tpu-v6e-16: 16 TPU v6e chips, topology 4x4, 4 hosts x 4 chips, "
            "ct6e-standard-4t") in text
    assert ("Node pool    kinetic-tpu-v6e-16: 4 x ct6e-standard-4t, "
            "placement COMPACT topology 4x4") in text
    assert "Image        us-docker.pkg.dev/project/kinetic/job:0123abcd (will be built)" in text
    assert "Payload      2.0 KiB" in text
    assert "Archive      3.0 MiB" in text
    assert "Largest      data/weights.bin 2.0 MiB, train.py 1.2 KiB" in text
    assert "Excluded     .git, outputs/" in text
    assert "Price        $43.20/hour on-demand (prices as of 2026-06)" in text
    assert "Timeout      2h 0m, at most $86.40 if it runs that long" in text


def test_plan_text_manifests_yaml() -> None:
    text = make_plan().to_text()
    manifests_text = text.split("Manifests:\n", 1)[1]
    documents = list(yaml.safe_load_all(manifests_text))
    assert [document["kind"] for document in documents] == ["Secret", "Service", "Job"]
    assert documents[2]["spec"]["completionMode"] == "Indexed"


def test_plan_text_gpu_host_note() -> None:
    text = make_plan(make_workload("h100:8")).to_text()
    assert "GPUs only: the host VM is billed on top" in text


def test_plan_image_states() -> None:
    assert "(already built)" in make_plan(image_needs_build=False).to_text()
    assert "(not checked)" in make_plan(image_needs_build=None).to_text()


def test_plan_spot_reservation_rejected() -> None:
    with pytest.raises(AcceleratorError) as caught:
        make_workload("l4:spot", reservation="res")
    assert "'l4:spot'" in str(caught.value)


@pytest.mark.parametrize(("data", "fragment"), [
    ({"schema": 99}, "found 99"),
    ([1, 2], "found 'list'"),
    ({"schema": 1, "job_id": "abc"}, "invalid plan record for job 'abc'"),
])
def test_plan_from_invalid_record(data: object, fragment: str) -> None:
    with pytest.raises(StoreError) as caught:
        Plan.from_dict(data)  # type: ignore[arg-type]
    assert fragment in str(caught.value)


@pytest.mark.parametrize(("size", "text"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (5 * 1024 ** 2, "5.0 MiB"),
    (3 * 1024 ** 3, "3.0 GiB"), (2048 * 1024 ** 3, "2048.0 GiB"),
])
def test_format_bytes(size: int, text: str) -> None:
    assert format_bytes(size) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (20, "20s"), (70, "1m 10s"), (3600, "1h 0m"), (5400, "1h 30m"),
])
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text
