"""Accelerator registry, parser, price overrides, CLI table and the generated docs page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kinetic.accelerators import (
    PRICE_DATE,
    Accelerator,
    list_accelerators,
    parse_accelerator,
    validate_price_overrides,
    with_prices,
)
from kinetic.accelerators.markdown import render_markdown
from kinetic.cli.accelerators import accelerators as accelerators_command
from kinetic.errors import AcceleratorError, ConfigError

REPO = Path(__file__).resolve().parents[1]
ALL_TYPES = ("cpu, t4, l4, a100, a100-80gb, h100, h100-mega, h200, "
             "tpu-v4, tpu-v5e, tpu-v5p, tpu-v6e")

# spec -> (name, kind, chips, topology, hosts, chips_per_host, machine_type, spot)
VALID_CASES = [
    ("cpu", ("cpu", "cpu", 0, None, 1, 0, None, False)),
    ("  CPU  ", ("cpu", "cpu", 0, None, 1, 0, None, False)),
    ("cpu:spot", ("cpu", "cpu", 0, None, 1, 0, None, True)),
    ("t4", ("t4", "gpu", 1, None, 1, 1, "n1-standard-4", False)),
    ("t4x4", ("t4x4", "gpu", 4, None, 1, 4, "n1-standard-16", False)),
    ("nvidia-tesla-t4:2", ("t4x2", "gpu", 2, None, 1, 2, "n1-standard-8", False)),
    ("l4", ("l4", "gpu", 1, None, 1, 1, "g2-standard-4", False)),
    ("l4x2", ("l4x2", "gpu", 2, None, 1, 2, "g2-standard-24", False)),
    ("L4X8", ("l4x8", "gpu", 8, None, 1, 8, "g2-standard-96", False)),
    ("nvidia-l4", ("l4", "gpu", 1, None, 1, 1, "g2-standard-4", False)),
    ("a100", ("a100", "gpu", 1, None, 1, 1, "a2-highgpu-1g", False)),
    ("a100:16", ("a100x16", "gpu", 16, None, 1, 16, "a2-megagpu-16g", False)),
    ("a100-40gb:8", ("a100x8", "gpu", 8, None, 1, 8, "a2-highgpu-8g", False)),
    ("a100-80gb:8", ("a100-80gbx8", "gpu", 8, None, 1, 8, "a2-ultragpu-8g", False)),
    ("a100-80gbx2", ("a100-80gbx2", "gpu", 2, None, 1, 2, "a2-ultragpu-2g", False)),
    ("h100", ("h100", "gpu", 1, None, 1, 1, "a3-highgpu-1g", False)),
    ("h100:8", ("h100x8", "gpu", 8, None, 1, 8, "a3-highgpu-8g", False)),
    ("h100x8", ("h100x8", "gpu", 8, None, 1, 8, "a3-highgpu-8g", False)),
    ("h100:8:spot", ("h100x8", "gpu", 8, None, 1, 8, "a3-highgpu-8g", True)),
    ("h100x8:spot", ("h100x8", "gpu", 8, None, 1, 8, "a3-highgpu-8g", True)),
    ("h100 : 8 : SPOT", ("h100x8", "gpu", 8, None, 1, 8, "a3-highgpu-8g", True)),
    ("h100-mega", ("h100-mega", "gpu", 8, None, 1, 8, "a3-megagpu-8g", False)),
    ("h100-mega:8", ("h100-mega", "gpu", 8, None, 1, 8, "a3-megagpu-8g", False)),
    ("h200", ("h200", "gpu", 8, None, 1, 8, "a3-ultragpu-8g", False)),
    ("h200x8", ("h200", "gpu", 8, None, 1, 8, "a3-ultragpu-8g", False)),
    ("tpu-v5e-1", ("tpu-v5e-1", "tpu", 1, "1x1", 1, 1, "ct5lp-hightpu-1t", False)),
    ("tpu-v5e-4", ("tpu-v5e-4", "tpu", 4, "2x2", 1, 4, "ct5lp-hightpu-4t", False)),
    ("tpu-v5e-8", ("tpu-v5e-8", "tpu", 8, "2x4", 1, 8, "ct5lp-hightpu-8t", False)),
    ("v5e-8", ("tpu-v5e-8", "tpu", 8, "2x4", 1, 8, "ct5lp-hightpu-8t", False)),
    ("v5litepod-8", ("tpu-v5e-8", "tpu", 8, "2x4", 1, 8, "ct5lp-hightpu-8t", False)),
    ("tpu-v5e-2x2", ("tpu-v5e-4", "tpu", 4, "2x2", 1, 4, "ct5lp-hightpu-4t", False)),
    ("tpu-v5e-8-2x4", ("tpu-v5e-8", "tpu", 8, "2x4", 1, 8, "ct5lp-hightpu-8t", False)),
    ("tpu-v5e-16", ("tpu-v5e-16", "tpu", 16, "4x4", 4, 4, "ct5lp-hightpu-4t", False)),
    ("tpu-v5-lite-podslice-256",
     ("tpu-v5e-256", "tpu", 256, "16x16", 64, 4, "ct5lp-hightpu-4t", False)),
    ("tpu-v5e-8:spot", ("tpu-v5e-8", "tpu", 8, "2x4", 1, 8, "ct5lp-hightpu-8t", True)),
    ("tpu-v6e-1", ("tpu-v6e-1", "tpu", 1, "1x1", 1, 1, "ct6e-standard-1t", False)),
    ("tpu-v6e-8", ("tpu-v6e-8", "tpu", 8, "2x4", 1, 8, "ct6e-standard-8t", False)),
    ("tpu-v6e-2x4", ("tpu-v6e-8", "tpu", 8, "2x4", 1, 8, "ct6e-standard-8t", False)),
    ("tpu-v6e-16", ("tpu-v6e-16", "tpu", 16, "4x4", 4, 4, "ct6e-standard-4t", False)),
    ("v6e-slice-64", ("tpu-v6e-64", "tpu", 64, "8x8", 16, 4, "ct6e-standard-4t", False)),
    ("tpu-v5p-2x2x1", ("tpu-v5p-2x2x1", "tpu", 4, "2x2x1", 1, 4, "ct5p-hightpu-4t", False)),
    ("tpu-v5p-2x2x2", ("tpu-v5p-2x2x2", "tpu", 8, "2x2x2", 2, 4, "ct5p-hightpu-4t", False)),
    ("tpu-v5p-4", ("tpu-v5p-2x2x1", "tpu", 4, "2x2x1", 1, 4, "ct5p-hightpu-4t", False)),
    ("tpu-v5p-8-2x2x1", ("tpu-v5p-2x2x1", "tpu", 4, "2x2x1", 1, 4, "ct5p-hightpu-4t", False)),
    ("tpu-v5p-8-2x2x2", ("tpu-v5p-2x2x2", "tpu", 8, "2x2x2", 2, 4, "ct5p-hightpu-4t", False)),
    ("v5p-8192",
     ("tpu-v5p-16x16x16", "tpu", 4096, "16x16x16", 1024, 4, "ct5p-hightpu-4t", False)),
    ("tpu-v4-2x2x4", ("tpu-v4-2x2x4", "tpu", 16, "2x2x4", 4, 4, "ct4p-hightpu-4t", False)),
    ("v4-podslice-4", ("tpu-v4-2x2x1", "tpu", 4, "2x2x1", 1, 4, "ct4p-hightpu-4t", False)),
]


@pytest.mark.parametrize(("spec", "expected"), VALID_CASES, ids=[case[0] for case in VALID_CASES])
def test_parse_valid_spec(spec: str, expected: tuple) -> None:
    name, kind, chips, topology, hosts, chips_per_host, machine_type, spot = expected
    accelerator = parse_accelerator(spec)
    assert accelerator.name == name
    assert accelerator.kind == kind
    assert accelerator.chips == chips
    assert accelerator.topology == topology
    assert accelerator.hosts == hosts
    assert accelerator.chips_per_host == chips_per_host
    assert accelerator.machine_type == machine_type
    assert accelerator.spot is spot
    assert accelerator.hosts * accelerator.chips_per_host == accelerator.chips


# spec -> substrings the message must contain: the offending value and the valid choices.
INVALID_CASES = [
    ("tpu-v9-4", ["'v9'", "'tpu-v9-4'", f"valid types: {ALL_TYPES}"]),
    ("foo", ["'foo'", f"valid types: {ALL_TYPES}"]),
    ("gpu", ["'gpu'", "did you mean 'cpu'", f"valid types: {ALL_TYPES}"]),
    ("h10O", ["'h10o'", "did you mean 'h100'", ALL_TYPES]),
    ("v5-8", ["'v5'", "'v5-8'", ALL_TYPES]),
    ("h200x2", ["count 2", "'h200x2'", "valid counts: 8", "a3-ultragpu-8g"]),
    ("h100-mega:4", ["count 4", "'h100-mega:4'", "valid counts: 8"]),
    ("a100-80gb:16", ["count 16", "'a100-80gb:16'", "valid counts: 1, 2, 4, 8",
                      "a2-ultragpu-8g"]),
    ("l4x3", ["count 3", "'l4x3'", "valid counts: 1, 2, 4, 8"]),
    ("t4:8", ["count 8", "'t4:8'", "valid counts: 1, 2, 4"]),
    ("h100:-1", ["count -1", "'h100:-1'", "positive integer", "valid counts: 1, 2, 4, 8"]),
    ("h100x0", ["count 0", "'h100x0'", "positive integer", "valid counts: 1, 2, 4, 8"]),
    ("h100:abc", ["'abc'", "'h100:abc'", "valid counts: 1, 2, 4, 8"]),
    ("tpu-v5e--4", ["count -4", "'tpu-v5e--4'", "1, 4, 8, 16, 32, 64, 128, 256"]),
    ("v5e-0", ["count 0", "'v5e-0'", "1, 4, 8, 16"]),
    ("tpu-v5e-6", ["count 6", "'tpu-v5e-6'", "1 (1x1), 4 (2x2), 8 (2x4), 16 (4x4)"]),
    ("tpu-v5e-8-2x2", ["count 8", "topology 2x2", "'tpu-v5e-8-2x2'", "4 chips",
                       "'tpu-v5e-4-2x2'"]),
    ("tpu-v6e-4-2x4", ["count 4", "topology 2x4", "'tpu-v6e-8-2x4'"]),
    ("tpu-v5p-16-2x2x1", ["count 16", "topology 2x2x1", "4 chips = 8 TensorCores"]),
    ("tpu-v5e-3x3", ["'3x3'", "'tpu-v5e-3x3'",
                     "valid topologies: 1x1, 2x2, 2x4, 4x4, 4x8, 8x8, 8x16, 16x16"]),
    ("tpu-v5p-2x2", ["'2x2'", "'tpu-v5p-2x2'", "valid topologies: 2x2x1, 2x2x2, 2x2x4"]),
    ("tpu-v6e-4x2", ["'4x2'", "valid topologies: 1x1, 2x2, 2x4"]),
    ("v5p-8", ["ambiguous", "count 8", "'v5p-8'", "8 TensorCores = 4 chips",
               "'tpu-v5p-2x2x1'", "8 chips", "'tpu-v5p-2x2x2'"]),
    ("tpu-v5p-16", ["ambiguous", "16 TensorCores = 8 chips", "'tpu-v5p-2x2x2'",
                    "16 chips", "'tpu-v5p-2x2x4'"]),
    ("tpu-v4-32", ["ambiguous", "32 TensorCores = 16 chips", "32 chips", "'tpu-v4-2x4x4'"]),
    ("tpu-v5p-12", ["count 12", "'tpu-v5p-12'", "2x2x1 (4 chips, 8 TensorCores)"]),
    ("tpu-v5e", ["missing TPU size", "'tpu-v5e'", "1 (1x1), 4 (2x2)"]),
    ("tpu", ["missing TPU generation", "'tpu'", ALL_TYPES]),
    ("tpu-v5e-8x", ["'8x'", "'tpu-v5e-8x'", "1 (1x1)"]),
    ("h100:8:foo", ["':foo'", "'h100:8:foo'", "':spot'"]),
    ("tpu-v5e-8:4", ["':4'", "'tpu-v5e-8:4'", "':spot'"]),
    ("cpu:2", ["':2'", "'cpu:2'", "':spot'"]),
    (":spot", ["missing accelerator type", "':spot'", ALL_TYPES]),
    ("", ["empty", "''", ALL_TYPES]),
    ("   ", ["empty", "'   '", ALL_TYPES]),
    (None, ["None", ALL_TYPES]),
    (8, ["8", "expected a string", "int"]),
    (["l4"], ["['l4']", "expected a string", "list"]),
]


@pytest.mark.parametrize(("spec", "fragments"), INVALID_CASES,
                         ids=[repr(case[0]) for case in INVALID_CASES])
def test_parse_invalid_spec(spec: object, fragments: list[str]) -> None:
    with pytest.raises(AcceleratorError) as caught:
        parse_accelerator(spec)  # type: ignore[arg-type]
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message


def test_accelerator_error_is_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_accelerator("tpu-v9-4")


def test_parse_v5e_spellings_equal() -> None:
    assert parse_accelerator("v5e-4") == parse_accelerator("tpu-v5litepod-4")
    assert parse_accelerator("v5e-4") == parse_accelerator("TPU-V5E-4")
    assert parse_accelerator("v5e-4") == parse_accelerator(" tpu-v5e-2x2 ")


def test_tpu_v6e_8_single_host() -> None:
    accelerator = parse_accelerator("tpu-v6e-8")
    assert (accelerator.hosts, accelerator.chips_per_host) == (1, 8)
    assert accelerator.topology == "2x4"
    assert accelerator.machine_type == "ct6e-standard-8t"
    assert not accelerator.multi_host


def test_tpu_v6e_16_multi_host() -> None:
    accelerator = parse_accelerator("tpu-v6e-16")
    assert (accelerator.hosts, accelerator.chips_per_host) == (4, 4)
    assert accelerator.topology == "4x4"
    assert accelerator.machine_type == "ct6e-standard-4t"
    assert accelerator.multi_host


def test_tensorcores_of_v5p_and_v5e() -> None:
    assert parse_accelerator("tpu-v5p-2x2x1").tensorcores == 8
    assert parse_accelerator("tpu-v5e-8").tensorcores == 8
    assert parse_accelerator("l4").tensorcores is None


def test_registry_entries_parse_back() -> None:
    entries = list_accelerators()
    for entry in entries:
        assert parse_accelerator(entry.name) == entry
        spot = parse_accelerator(entry.name + ":spot")
        assert spot.spot
        assert parse_accelerator(spot.spec) == spot


def test_registry_names_unique() -> None:
    names = [entry.name for entry in list_accelerators()]
    assert len(names) == len(set(names))


def test_registry_covers_families() -> None:
    families = {entry.family for entry in list_accelerators()}
    assert families == {"cpu", "t4", "l4", "a100", "a100-80gb", "h100", "h100-mega", "h200",
                        "v4", "v5e", "v5p", "v6e"}


def test_registry_entries_consistent() -> None:
    for entry in list_accelerators():
        assert entry.hosts * entry.chips_per_host == entry.chips, entry.name
        assert entry.image_family == entry.kind, entry.name
        if entry.kind == "cpu":
            continue
        assert entry.machine_type, entry.name
        assert entry.host_vcpus is not None, entry.name
        assert entry.host_memory_gib is not None, entry.name
        if entry.kind == "tpu":
            assert entry.resource_key == "google.com/tpu", entry.name
            dims = [int(dim) for dim in entry.topology.split("x")]
            product = 1
            for dim in dims:
                product *= dim
            assert product == entry.chips, entry.name
        else:
            assert entry.resource_key == "nvidia.com/gpu", entry.name
            assert entry.topology is None, entry.name


def test_registry_is_a_fresh_list() -> None:
    first = list_accelerators()
    first.clear()
    assert list_accelerators()


def test_catalog_prices_scale_with_chips() -> None:
    accelerator = parse_accelerator("tpu-v5e-8")
    assert accelerator.price_per_hour_on_demand == pytest.approx(8 * 1.20)
    assert accelerator.price_per_hour_spot == pytest.approx(8 * 0.245)
    assert accelerator.price_date == PRICE_DATE == "2026-06"
    assert accelerator.price_per_hour == accelerator.price_per_hour_on_demand


def test_spot_price_applies_to_spot() -> None:
    accelerator = parse_accelerator("h100:8:spot")
    assert accelerator.price_per_hour == pytest.approx(8 * 2.99)


def test_families_without_catalog_price() -> None:
    for spec in ("cpu", "a100-80gb", "h100-mega"):
        accelerator = parse_accelerator(spec)
        assert accelerator.price_per_hour_on_demand is None
        assert accelerator.price_per_hour_spot is None
        assert accelerator.price_date is None


def test_with_prices_overrides_family() -> None:
    base = parse_accelerator("tpu-v5e-8")
    priced = with_prices(base, {"V5E": {"on_demand": 1.0, "spot": 0.5}})
    assert priced.price_per_hour_on_demand == pytest.approx(8.0)
    assert priced.price_per_hour_spot == pytest.approx(4.0)
    assert priced.price_date == "profile override"
    assert base.price_per_hour_on_demand == pytest.approx(9.6)


def test_with_prices_partial_override() -> None:
    priced = with_prices(parse_accelerator("h100-mega"), {"h100-mega": {"on_demand": 10.0}})
    assert priced.price_per_hour_on_demand == pytest.approx(80.0)
    assert priced.price_per_hour_spot is None
    assert priced.price_date == "no catalog price, on_demand from profile override"


def test_with_prices_other_family_untouched() -> None:
    base = parse_accelerator("l4")
    assert with_prices(base, {"tpu-v5litepod": {"spot": 0.1}}) == base


def test_parse_accelerator_applies_prices() -> None:
    accelerator = parse_accelerator("nvidia-l4:2", prices={"nvidia-l4": {"on_demand": 1.0}})
    assert accelerator.price_per_hour_on_demand == pytest.approx(2.0)
    assert accelerator.price_per_hour_spot == pytest.approx(2 * 0.223)


@pytest.mark.parametrize(("overrides", "fragments"), [
    ({"v9": {"spot": 1.0}}, ["'v9'", "valid families: cpu, t4, l4"]),
    ({"v5e": {"ondemand": 1.0}}, ["'ondemand'", "valid keys: on_demand, spot"]),
    ({"v5e": {"spot": -1}}, ["-1", "prices.v5e.spot", "negative"]),
    ({"v5e": {"spot": "cheap"}}, ["'cheap'", "prices.v5e.spot", "expected a number"]),
    ({"v5e": {"spot": True}}, ["True", "expected a number"]),
    ({"v5e": 1.2}, ["1.2", "prices.v5e", "on_demand and spot"]),
    ([("v5e", 1.2)], ["expected a mapping"]),
])
def test_price_override_rejected(overrides: object, fragments: list[str]) -> None:
    with pytest.raises(AcceleratorError) as caught:
        validate_price_overrides(overrides)  # type: ignore[arg-type]
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_accelerator_dict_round_trip() -> None:
    for spec in ("tpu-v5e-8:spot", "h100:8", "cpu", "tpu-v6e-16"):
        accelerator = parse_accelerator(spec)
        data = json.loads(json.dumps(accelerator.to_dict()))
        assert Accelerator.from_dict(data) == accelerator
        assert data["node_selector"] == accelerator.node_selector


def test_describe_names_shape() -> None:
    text = parse_accelerator("tpu-v6e-16").describe()
    assert text == ("tpu-v6e-16: 16 TPU v6e chips, topology 4x4, 4 hosts x 4 chips, "
                    "ct6e-standard-4t")
    assert parse_accelerator("h100:8:spot").describe() == (
        "h100x8:spot: 8 GPUs h100, a3-highgpu-8g (spot)")


def test_accelerator_is_hashable() -> None:
    assert len({parse_accelerator("l4"), parse_accelerator("nvidia-l4")}) == 1


def test_cli_table_lists_every_entry() -> None:
    result = CliRunner().invoke(accelerators_command, [])
    assert result.exit_code == 0, result.output
    for entry in list_accelerators():
        assert entry.name in result.output
    assert "ct6e-standard-8t" in result.output
    assert PRICE_DATE in result.output


def test_cli_json_rows() -> None:
    result = CliRunner().invoke(accelerators_command, ["--json", "--kind", "tpu"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {row["kind"] for row in rows} == {"tpu"}
    row = next(row for row in rows if row["name"] == "tpu-v6e-16")
    assert row["hosts"] == 4
    assert row["topology"] == "4x4"
    assert row["machine_type"] == "ct6e-standard-4t"
    assert row["price_per_hour_on_demand"] == pytest.approx(16 * 2.70)
    assert row["price_date"] == PRICE_DATE


def test_cli_registered_in_main() -> None:
    from kinetic.cli.main import cli

    result = CliRunner().invoke(cli, ["accelerators", "--json", "--kind", "cpu"])
    assert result.exit_code == 0, result.output
    assert [row["name"] for row in json.loads(result.output)] == ["cpu"]


def test_docs_page_is_current() -> None:
    committed = (REPO / "docs" / "accelerators.md").read_text(encoding="utf-8")
    assert committed == render_markdown(), (
        "docs/accelerators.md is stale; regenerate it with "
        "`python -m kinetic.accelerators --markdown > docs/accelerators.md`")


def test_docs_page_lists_every_entry() -> None:
    page = render_markdown()
    for entry in list_accelerators():
        assert f"| `{entry.name}` |" in page


def test_import_stays_light() -> None:
    code = ("import sys, kinetic.accelerators, kinetic.k8s; "
            "heavy = [m for m in ('kubernetes', 'google.cloud', 'docker', 'jax', 'keras') "
            "if m in sys.modules]; print(heavy)")
    output = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    assert output.strip() == "[]"
