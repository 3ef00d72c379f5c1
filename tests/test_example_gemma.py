"""Tests of the Gemma + LoRA PubMedQA example (examples/gemma_pubmedqa).

The data tests need only the standard library. The model tests need keras, keras-hub, JAX and
sentencepiece (``pip install -e .[examples]``) and skip without them. They use the tiny
random-weight Gemma, whose tokenizer is trained on the shipped sample, because the published
presets cannot be downloaded offline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SCRIPT = EXAMPLES / "gemma_pubmedqa" / "finetune.py"
sys.path.insert(0, str(EXAMPLES))

from gemma_pubmedqa import data  # noqa: E402
from gemma_pubmedqa.config import FinetuneConfig  # noqa: E402
from gemma_pubmedqa.data import Example, PubMedQAFormatError  # noqa: E402

MODEL_PACKAGES = ("keras", "keras_hub", "jax", "sentencepiece")
MISSING_PACKAGES = [name for name in MODEL_PACKAGES if importlib.util.find_spec(name) is None]
needs_keras = pytest.mark.skipif(
    bool(MISSING_PACKAGES),
    reason=f"the Gemma example needs {', '.join(MISSING_PACKAGES)}: pip install -e .[examples]",
)

SAMPLE = json.loads(data.SAMPLE_FILE.read_text())
TEST_IDS = data.load_test_ids()


def original_records(count: int = 3) -> dict[str, dict]:
    """The first ``count`` records of the shipped sample, in the original layout."""
    return dict(list(SAMPLE.items())[:count])


def hub_record(pubid: str, record: dict) -> dict:
    """The same record in the Hugging Face layout (``qiaojin/PubMedQA``, ``pqa_labeled``)."""
    return {
        "pubid": int(pubid),
        "question": record["QUESTION"],
        "context": {"contexts": record["CONTEXTS"], "labels": record["LABELS"],
                    "meshes": record["MESHES"]},
        "long_answer": record["LONG_ANSWER"],
        "final_decision": record["final_decision"],
    }


# --- data loading -------------------------------------------------------------------------


def test_loader_reads_original_layout(tmp_path):
    records = original_records()
    path = tmp_path / "ori_pqal.json"
    path.write_text(json.dumps(records))

    examples = data.load_file(path)

    assert [example.pubid for example in examples] == list(records)
    first_id, first = next(iter(records.items()))
    assert examples[0].question == first["QUESTION"]
    assert examples[0].contexts == tuple(first["CONTEXTS"])
    assert examples[0].context_labels == tuple(first["LABELS"])
    assert examples[0].answer == first["final_decision"]
    assert examples[0].long_answer == first["LONG_ANSWER"]


@pytest.mark.parametrize("form", ["list", "json-lines", "keyed"])
def test_loader_reads_hub_layout(tmp_path, form):
    records = original_records()
    hub = [hub_record(pubid, record) for pubid, record in records.items()]
    path = tmp_path / "pqa_labeled.json"
    if form == "list":
        path.write_text(json.dumps(hub))
    elif form == "json-lines":
        path.write_text("\n".join(json.dumps(record) for record in hub) + "\n")
    else:
        path.write_text(json.dumps({str(record["pubid"]): record for record in hub}))

    from_hub_layout = data.load_file(path)

    original_path = tmp_path / "ori_pqal.json"
    original_path.write_text(json.dumps(records))
    assert from_hub_layout == data.load_file(original_path)


@pytest.mark.parametrize(
    ("layout", "edit", "expected"),
    [
        ("original", lambda record: record.pop("CONTEXTS"), "'CONTEXTS'"),
        ("original", lambda record: record.pop("final_decision"), "'final_decision'"),
        ("hub", lambda record: record.pop("question"), "'question'"),
        ("hub", lambda record: record["context"].pop("contexts"), "'context.contexts'"),
        ("hub", lambda record: record.update(final_decision="perhaps"), "'perhaps'"),
    ],
)
def test_loader_rejects_missing_field(tmp_path, layout, edit, expected):
    pubid, record = next(iter(original_records(1).items()))
    record = json.loads(json.dumps(record))
    if layout == "hub":
        record = hub_record(pubid, record)
    edit(record)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({pubid: record}))

    with pytest.raises(PubMedQAFormatError) as caught:
        data.load_file(path)

    message = str(caught.value)
    assert repr(pubid) in message
    assert expected in message
    assert str(path) in message


def test_loader_rejects_list_record_without_id(tmp_path):
    record = hub_record(*next(iter(original_records(1).items())))
    del record["pubid"]
    path = tmp_path / "no_id.jsonl"
    path.write_text(json.dumps(record) + "\n")

    with pytest.raises(PubMedQAFormatError, match="missing the field 'pubid'"):
        data.load_file(path)


def test_loader_rejects_missing_file(tmp_path):
    with pytest.raises(PubMedQAFormatError, match="not found"):
        data.load_file(tmp_path / "absent.json")


def test_shipped_sample_is_stratified():
    train, test = data.split(data.load_file(data.SAMPLE_FILE), TEST_IDS, data.SAMPLE_FILE)

    assert len(TEST_IDS) == 500
    assert len(train) == 120
    assert len(test) == 80
    assert {answer: sum(e.answer == answer for e in train) for answer in data.ANSWERS} == \
        {"yes": 66, "no": 41, "maybe": 13}
    assert {answer: sum(e.answer == answer for e in test) for answer in data.ANSWERS} == \
        {"yes": 44, "no": 27, "maybe": 9}
    assert data.majority_answer(train) == "yes"
    assert (data.DATA_DIR / "LICENSE").read_text().startswith("MIT License")


def test_split_rejects_file_without_test_records(tmp_path):
    train_only = {pubid: record for pubid, record in SAMPLE.items() if pubid not in TEST_IDS}
    path = tmp_path / "train_only.json"
    path.write_text(json.dumps(train_only))

    with pytest.raises(PubMedQAFormatError, match="none of the 120 records"):
        data.split(data.load_file(path), TEST_IDS, path)


def test_take_is_deterministic():
    examples = data.load_file(data.SAMPLE_FILE)

    first = data.take(examples, 10, seed=0)

    assert first == data.take(list(reversed(examples)), 10, seed=0)
    assert first != data.take(examples, 10, seed=1)
    assert len(data.take(examples, None, seed=0)) == len(examples)


def test_bad_data_file_fails_on_client(tmp_path, capsys):
    from gemma_pubmedqa.finetune import main

    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"1": {"QUESTION": "Is it?", "final_decision": "yes"}}))

    with pytest.raises(SystemExit) as caught:
        main(["--tiny", "--backend", "inprocess", "--data", str(path)])

    assert "record '1' is missing the field 'CONTEXTS'" in str(caught.value.code)


def test_client_import_is_light():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import gemma_pubmedqa.finetune; "
        "heavy = sorted({'keras', 'keras_hub', 'jax', 'tensorflow'} & set(sys.modules)); "
        "print(heavy)"
    )
    completed = subprocess.run([sys.executable, "-c", code, str(EXAMPLES)], capture_output=True,
                               text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_job_requirements_leave_jax_to_accelerator_images():
    from gemma_pubmedqa.finetune import job_requirements

    local_data = FinetuneConfig(train_examples=(), test_examples=())

    on_tpu = job_requirements(local_data, "tpu-v5e-8")
    on_cpu = job_requirements(local_data, "cpu")

    assert "keras-hub>=0.32" in on_tpu
    assert not [line for line in on_tpu if line.startswith("jax")]
    assert "jax>=0.10" in on_cpu
    assert "datasets" not in on_cpu
    assert "datasets" in job_requirements(FinetuneConfig(), "cpu")


def test_invalid_accelerator_fails_on_client():
    from gemma_pubmedqa.finetune import main

    with pytest.raises(SystemExit) as caught:
        main(["--tiny", "--accelerator", "tpu-v9-8", "--eval-limit", "1"])

    assert "tpu-v9-8" in str(caught.value.code)


def test_training_order_caps_steps():
    from gemma_pubmedqa.train import training_order

    config = FinetuneConfig(epochs=2, batch_size=8)

    full = training_order(20, config)
    capped = training_order(20, replace(config, max_steps=3))
    small = training_order(5, config)

    assert len(full) == 40  # two epochs of 20, already a multiple of 8
    assert sorted(full[:20].tolist()) == list(range(20))
    assert len(capped) == 24
    assert len(small) == 16  # 10 rows wrapped around to fill two batches of 8


# --- tokens and model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_modules():
    """keras and keras_hub on the JAX backend, or a skip naming what is missing."""
    if MISSING_PACKAGES:
        pytest.skip(f"the Gemma example needs {', '.join(MISSING_PACKAGES)}: "
                    f"pip install -e .[examples]")
    from gemma_pubmedqa import model

    try:
        keras = model.import_keras(seed=0)
    except RuntimeError as error:
        pytest.skip(str(error))
    import keras_hub

    return keras, keras_hub


@pytest.fixture(scope="module")
def tiny_lm(keras_modules):
    from gemma_pubmedqa import model
    from gemma_pubmedqa.train import tokenizer_texts

    examples = data.load_file(data.SAMPLE_FILE)
    return model.build_tiny_causal_lm(tokenizer_texts(examples), sequence_length=64)


def long_example() -> Example:
    pubid, record = next(iter(SAMPLE.items()))
    return Example(pubid=pubid, question=record["QUESTION"],
                   contexts=tuple(record["CONTEXTS"]) * 4,
                   context_labels=tuple(record["LABELS"]) * 4, answer=record["final_decision"])


@needs_keras
@pytest.mark.parametrize("sequence_length", [24, 64, 200])
def test_truncation_keeps_answer(tiny_lm, sequence_length):
    from gemma_pubmedqa.prompt import ANSWER_SLOT, PromptEncoder, answer_text

    tokenizer = tiny_lm.preprocessor.tokenizer
    encoder = PromptEncoder.from_tokenizer(tokenizer, sequence_length)
    example = long_example()
    slot = [int(token) for token in tokenizer(ANSWER_SLOT)]

    batch = encoder.encode([example] * 3, list(data.ANSWERS))

    assert batch.token_ids.shape == (3, sequence_length + 1)
    for row, answer in enumerate(data.ANSWERS):
        ids = batch.token_ids[row].tolist()
        length = int(batch.lengths[row])
        expected_answer = [int(token) for token in tokenizer(answer_text(answer))]
        answer_start = length - len(expected_answer)
        assert ids[0] == tokenizer.start_token_id
        assert ids[answer_start:length] == expected_answer
        assert ids[answer_start - len(slot):answer_start] == slot
        assert set(ids[length:]) <= {tokenizer.pad_token_id}
        assert batch.answer_mask[row].nonzero()[0].tolist() == list(range(answer_start, length))
        # The context is longer than any of these lengths, so the row is full up to the room
        # kept for the longest answer.
        assert length == sequence_length + 1 - (encoder.max_answer_length - len(expected_answer))


@needs_keras
def test_truncation_cuts_long_question(tiny_lm):
    from gemma_pubmedqa.prompt import PromptEncoder, answer_text

    tokenizer = tiny_lm.preprocessor.tokenizer
    encoder = PromptEncoder.from_tokenizer(tokenizer, 32)
    example = replace(long_example(), question=" ".join(["Is this question long?"] * 50))

    batch = encoder.encode([example], ["maybe"])

    length = int(batch.lengths[0])
    expected_answer = [int(token) for token in tokenizer(answer_text("maybe"))]
    assert batch.token_ids[0, length - len(expected_answer):length].tolist() == expected_answer
    assert length <= 33


@needs_keras
def test_encoder_rejects_short_sequence(tiny_lm):
    from gemma_pubmedqa.prompt import PromptEncoder

    with pytest.raises(ValueError, match="sequence_length=3 leaves no room"):
        PromptEncoder.from_tokenizer(tiny_lm.preprocessor.tokenizer, 3)


@needs_keras
def test_from_preset_loads_saved_tiny(tiny_lm, keras_modules, tmp_path):
    import numpy as np

    _, keras_hub = keras_modules
    tiny_lm.save_to_preset(str(tmp_path / "preset"))

    loaded = keras_hub.models.GemmaCausalLM.from_preset(str(tmp_path / "preset"))

    text = "Do mitochondria play a role in remodelling lace plant leaves?"
    assert loaded.preprocessor.tokenizer(text).tolist() == \
        tiny_lm.preprocessor.tokenizer(text).tolist()
    inputs = {"token_ids": np.array([[2, 10, 20, 30, 0, 0]], dtype="int32"),
              "padding_mask": np.array([[1, 1, 1, 1, 0, 0]], dtype="int32")}
    np.testing.assert_allclose(loaded.backbone.predict_on_batch(inputs),
                               tiny_lm.backbone.predict_on_batch(inputs), rtol=1e-6, atol=1e-6)


# Gemma 2 features (logit soft caps, post norms, sliding windows) on top of the tiny model.
GEMMA2_OPTIONS = dict(query_head_dim_normalize=False, use_post_ffw_norm=True,
                      use_post_attention_norm=True, attention_logit_soft_cap=50.0,
                      final_logit_soft_cap=30.0, use_sliding_window_attention=True,
                      sliding_window_size=16)


@needs_keras
@pytest.mark.parametrize("options", [{}, GEMMA2_OPTIONS], ids=["gemma", "gemma2"])
def test_scorer_matches_full_logits(tiny_lm, keras_modules, options):
    import numpy as np

    from gemma_pubmedqa import model
    from gemma_pubmedqa.evaluate import answer_slots, build_scorer
    from gemma_pubmedqa.prompt import PromptEncoder

    keras, keras_hub = keras_modules
    tokenizer = tiny_lm.preprocessor.tokenizer
    backbone = keras_hub.models.GemmaBackbone(vocabulary_size=tokenizer.vocabulary_size(),
                                              **model.TINY_BACKBONE, **options)
    encoder = PromptEncoder.from_tokenizer(tokenizer, 64)
    examples = data.load_file(data.SAMPLE_FILE)[:2]
    batch = encoder.encode([examples[0]] * 3 + [examples[1]] * 3, list(data.ANSWERS) * 2)
    positions, targets, mask = answer_slots(batch, encoder.max_answer_length)
    scorer = build_scorer(backbone, 64, encoder.max_answer_length)

    scores = scorer.predict_on_batch({**batch.model_inputs(), "positions": positions,
                                      "targets": targets})

    lm = keras_hub.models.GemmaCausalLM(backbone=backbone, preprocessor=None)
    logits = np.asarray(lm.predict_on_batch(batch.model_inputs()), dtype="float64")
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    expected = (np.take_along_axis(log_probs, batch.targets()[..., None], axis=-1)[..., 0]
                * batch.target_weights()).sum(axis=1)
    np.testing.assert_allclose((np.asarray(scores) * mask).sum(axis=1), expected, rtol=1e-4)


@needs_keras
def test_classification_metrics_by_hand(keras_modules):
    from gemma_pubmedqa.evaluate import classification_metrics

    truth = ["yes", "yes", "yes", "no", "no", "maybe"]
    predicted = ["yes", "yes", "no", "no", "yes", "no"]

    metrics = classification_metrics(truth, predicted)

    # yes: precision 2/3, recall 2/3; no: precision 1/3, recall 1/2; maybe: never predicted.
    assert metrics["accuracy"] == pytest.approx(3 / 6)
    assert metrics["f1"]["yes"] == pytest.approx(2 / 3, abs=1e-5)
    assert metrics["f1"]["no"] == pytest.approx(0.4, abs=1e-5)
    assert metrics["f1"]["maybe"] == pytest.approx(0.0, abs=1e-5)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.4) / 3, abs=1e-5)


# --- end to end ---------------------------------------------------------------------------

TINY_ARGS = ["--tiny", "--steps", "4", "--train-limit", "32", "--eval-limit", "24"]


def check_metrics(metrics: dict, train_examples: int, test_examples: int, steps: int) -> None:
    assert metrics["preset"] == "tiny"
    assert metrics["train_examples"] == train_examples
    assert metrics["test_examples"] == test_examples
    assert metrics["train_steps"] == steps
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert 0.0 <= metrics["macro_f1"] <= 1.0
    assert metrics["baseline"]["answer"] in data.ANSWERS
    assert 0.0 <= metrics["baseline"]["accuracy"] <= 1.0
    assert sum(metrics["predicted_counts"].values()) == test_examples
    assert Path(metrics["lora_weights"]).is_file()
    written = json.loads((Path(metrics["output_dir"]) / "metrics.json").read_text())
    assert written == metrics


@needs_keras
@pytest.mark.slow
def test_tiny_run_on_local_backend(monkeypatch):
    from gemma_pubmedqa.finetune import main

    # Two host devices make the job shard its batches with Keras' DataParallel, as on 8 chips.
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

    metrics = main([*TINY_ARGS, "--backend", "local", "--accelerator", "cpu"])

    check_metrics(metrics, train_examples=32, test_examples=24, steps=4)
    assert metrics["devices"] == 2
    # The local backend runs the job in another process, with its own output folder.
    assert Path(metrics["output_dir"]).is_relative_to(os.environ["KINETIC_STORE"])


@needs_keras
@pytest.mark.slow
def test_script_runs_with_kinetic_launch(tmp_path):
    import kinetic

    completed = subprocess.run(
        [sys.executable, "-m", "kinetic.cli.main", "launch", str(SCRIPT), "--", "--tiny",
         "--steps", "2", "--train-limit", "16", "--eval-limit", "8"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    # Inside the job (KINETIC_INSIDE_JOB is set) the script must not submit a second job.
    assert len(kinetic.list_jobs()) == 1
    written = list(Path(os.environ["KINETIC_STORE"]).rglob("metrics.json"))
    assert len(written) == 1
    check_metrics(json.loads(written[0].read_text()), train_examples=16, test_examples=8,
                  steps=2)
