"""The job: LoRA-fine-tune Gemma on PubMedQA, evaluate it and write the outputs.

``finetune(config)`` is the function that kinetic runs on the accelerator. It imports keras,
keras_hub and JAX only when it runs, so the client that submits it never loads them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import data, evaluate, model
from .config import FinetuneConfig
from .data import Example
from .prompt import EncodedBatch, PromptEncoder, answer_text, context_text, question_text

logger = logging.getLogger("gemma_pubmedqa")

METRICS_FILE = "metrics.json"
TINY_PRESET_DIR = "tiny_preset"
PROGRESS_LINES = 20  # how many training progress lines to log over a run


def output_directory() -> Path:
    """Return ``$KINETIC_OUTPUT_DIR`` (set inside a kinetic job), else ``./outputs``; create it."""
    directory = Path(os.environ.get("KINETIC_OUTPUT_DIR") or "outputs").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def finetune(config: FinetuneConfig) -> dict[str, Any]:
    """Fine-tune with LoRA, evaluate on the test split, save the LoRA weights and metrics.json.

    Returns the metrics written to ``metrics.json``: accuracy and macro-F1 on the test split,
    the majority-answer baseline, the mean training loss, sizes, timings and output paths.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    started = time.monotonic()
    output_dir = output_directory()
    train_examples, test_examples = select_examples(config)
    logger.info("PubMedQA: %d training and %d test questions", len(train_examples),
                len(test_examples))

    trainer, encoder, settings = prepare_model(config, train_examples, output_dir)

    train_started = time.monotonic()
    batch = encoder.encode(train_examples, [example.answer for example in train_examples])
    steps, train_loss = train(trainer, batch, config)
    eval_started = time.monotonic()
    results = evaluate.evaluate(trainer.backbone, encoder, test_examples, config.batch_size)
    eval_seconds = time.monotonic() - eval_started
    baseline = evaluate.majority_baseline(data.majority_answer(train_examples), test_examples)
    lora_path = model.save_lora(trainer.backbone, output_dir)

    metrics = {
        "preset": "tiny" if config.tiny else config.preset,
        "train_examples": len(train_examples),
        "test_examples": len(test_examples),
        "epochs": config.epochs,
        "train_steps": steps,
        "train_loss": train_loss,
        **results,
        "baseline": baseline,
        **settings,
        "train_seconds": round(eval_started - train_started, 2),
        "eval_seconds": round(eval_seconds, 2),
        "total_seconds": round(time.monotonic() - started, 2),
        "lora_weights": str(lora_path),
        "output_dir": str(output_dir),
    }
    (output_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    logger.info("wrote %s", output_dir / METRICS_FILE)
    return metrics


def prepare_model(config: FinetuneConfig, train_examples: Sequence[Example],
                  output_dir: Path) -> tuple[Any, PromptEncoder, dict[str, Any]]:
    """Load the model (or build the tiny one) and enable LoRA.

    Returns the compiled model, the prompt encoder for its tokenizer, and the resolved settings
    that metrics.json records.
    """
    model.import_keras(config.seed)
    devices = model.configure_devices(config.batch_size)
    dtype = model.resolve_dtype(config.dtype, devices)
    if config.tiny:
        preset = model.save_tiny_preset(tokenizer_texts(train_examples),
                                        output_dir / TINY_PRESET_DIR, config.sequence_length)
        task, tokenizer = model.load_causal_lm(str(preset), dtype, model.TINY_TASK_CLASS)
    else:
        task, tokenizer = model.load_causal_lm(config.preset, dtype)
    encoder = PromptEncoder.from_tokenizer(tokenizer, config.sequence_length)
    trainer = model.prepare_lora(task, config.lora_rank, config.resolved_learning_rate)
    settings = {
        "sequence_length": config.sequence_length,
        "batch_size": config.batch_size,
        "lora_rank": config.lora_rank,
        "learning_rate": config.resolved_learning_rate,
        "dtype": dtype,
        "devices": len(devices),
    }
    return trainer, encoder, settings


def select_examples(config: FinetuneConfig) -> tuple[list[Example], list[Example]]:
    """Return (train, test) examples: from the config, else from the hub; then apply the limits."""
    if config.train_examples is not None and config.test_examples is not None:
        train_examples, test_examples = config.train_examples, config.test_examples
    else:
        train_examples, test_examples = data.split(data.load_hub(), config.test_ids,
                                                   data.HUB_DATASET)
    return (data.take(train_examples, config.train_limit, config.seed),
            data.take(test_examples, config.eval_limit, config.seed))


def tokenizer_texts(examples: Sequence[Example]) -> list[str]:
    """Return the texts the tiny tokenizer learns from: each prompt part of the examples."""
    texts = [answer_text(answer) for answer in data.ANSWERS]
    for example in examples:
        texts += [question_text(example), context_text(example), example.long_answer]
    return [text for text in texts if text]


def training_order(examples: int, config: FinetuneConfig) -> np.ndarray:
    """Return the example index of each training row: a fresh shuffle per epoch, cut to steps.

    The order covers every epoch, wraps around to fill the last batch, and stops after
    ``max_steps`` batches when that is set, so every batch has ``batch_size`` rows.
    """
    rng = np.random.default_rng(config.seed)
    order = np.concatenate([rng.permutation(examples) for _ in range(config.epochs)])
    steps = math.ceil(len(order) / config.batch_size)
    if config.max_steps is not None:
        steps = min(steps, config.max_steps)
    return np.resize(order, steps * config.batch_size)


def train(trainer: Any, batch: EncodedBatch, config: FinetuneConfig) -> tuple[int, float]:
    """Run the optimizer over the batch in training order; return (steps, mean training loss)."""
    import keras

    order = training_order(len(batch.lengths), config)
    steps = len(order) // config.batch_size
    every = max(1, steps // PROGRESS_LINES)

    def log_progress(step: int, logs: dict | None) -> None:
        if (step + 1) % every != 0 and step + 1 != steps:
            return
        loss = float(logs["loss"]) if logs else float("nan")
        logger.info("step %d/%d: running mean loss %.4f", step + 1, steps, loss)

    inputs = {name: array[order] for name, array in batch.model_inputs().items()}
    logger.info("training: %d steps of %d examples (epochs: %d, training examples: %d)", steps,
                config.batch_size, config.epochs, len(batch.lengths))
    history = trainer.fit(
        inputs, batch.targets()[order], sample_weight=batch.target_weights()[order],
        batch_size=config.batch_size, epochs=1, shuffle=False, verbose=0,
        callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=log_progress)],
    )
    return steps, float(history.history["loss"][-1])
