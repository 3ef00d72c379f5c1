"""Gemma from keras-hub with LoRA, and the tiny random-weight Gemma used for offline runs.

keras, keras_hub and sentencepiece are imported inside the functions, so importing this module
(on the client that submits the job) stays light.
"""

from __future__ import annotations

import io
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterable

logger = logging.getLogger("gemma_pubmedqa")

# keras-hub task class of each supported preset. Any other preset name or a local preset folder
# goes through keras_hub.models.CausalLM.from_preset, which reads the class from the preset.
PRESET_CLASSES = {
    "gemma2_2b_en": "GemmaCausalLM",
    "gemma_2b_en": "GemmaCausalLM",
    "gemma3_1b": "Gemma3CausalLM",
}
TINY_VOCABULARY_SIZE = 1024
# The architecture of the tiny model: a two-layer Gemma with random weights.
TINY_BACKBONE = dict(num_layers=2, num_query_heads=2, num_key_value_heads=1, hidden_dim=64,
                     intermediate_dim=128, head_dim=32)
TINY_TASK_CLASS = "GemmaCausalLM"
LORA_FILE = "gemma_pubmedqa.lora.h5"


def import_keras(seed: int):
    """Import keras on the JAX backend, seed its random generators and return the module.

    Raises RuntimeError when keras was already imported on another backend in this process.
    """
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keras-hub's tokenizers load TensorFlow
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(
            f"keras runs on the {keras.backend.backend()!r} backend in this process; this "
            f"example needs JAX. Set KERAS_BACKEND=jax before anything imports keras"
        )
    keras.utils.set_random_seed(seed)
    return keras


def configure_devices(batch_size: int) -> list[str]:
    """Shard batches over every local accelerator (data parallelism); return the devices.

    With one device nothing is set. Raises ValueError when ``batch_size`` does not split evenly
    over the devices.
    """
    import keras

    devices = keras.distribution.list_devices()
    if len(devices) > 1:
        if batch_size % len(devices):
            raise ValueError(
                f"batch_size={batch_size} does not divide over the {len(devices)} devices of "
                f"this machine; pass a --batch-size that is a multiple of {len(devices)}"
            )
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    logger.info("devices: %s", ", ".join(map(str, devices)))
    return devices


def resolve_dtype(requested: str | None, devices: list[str]) -> str:
    """Return ``requested``, else bfloat16 on TPUs and GPUs and float32 on CPUs."""
    if requested:
        return requested
    on_cpu = all(str(device).lower().startswith("cpu") for device in devices)
    return "float32" if on_cpu else "bfloat16"


def load_causal_lm(preset: str, dtype: str, class_name: str | None = None) -> tuple[Any, Any]:
    """Load a keras-hub causal LM from a preset name or folder; return (task, tokenizer).

    ``class_name`` (a class of ``keras_hub.models``) defaults to the class of a known preset,
    else to ``CausalLM``, which reads the class from the preset's config.
    """
    import keras_hub

    class_name = class_name or PRESET_CLASSES.get(preset, "CausalLM")
    task_class = getattr(keras_hub.models, class_name)
    logger.info("loading %s with %s.from_preset (dtype %s)", preset, class_name, dtype)
    task = task_class.from_preset(preset, dtype=dtype)
    return task, task.preprocessor.tokenizer


def train_tiny_tokenizer(texts: Iterable[str],
                         vocabulary_size: int = TINY_VOCABULARY_SIZE) -> bytes:
    """Train a SentencePiece BPE model on ``texts`` with Gemma's special tokens; return its proto.

    Ids follow Gemma's vocabulary: ``<pad>``=0, ``<eos>``=1, ``<bos>``=2, ``<unk>``=3.
    GemmaTokenizer (keras-hub 0.32) requires ``<pad>``, ``<bos>`` and ``<eos>``. The pieces
    ``<start_of_turn>`` and ``<end_of_turn>`` are added as well, because Gemma 3's ``generate``
    looks up ``<end_of_turn>``. Byte fallback keeps every input encodable, and no space is
    prepended to the input.
    """
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)),
        model_writer=model,
        vocab_size=vocabulary_size,
        hard_vocab_limit=False,
        model_type="bpe",
        pad_id=0, eos_id=1, bos_id=2, unk_id=3,
        pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
        user_defined_symbols=["<start_of_turn>", "<end_of_turn>"],
        byte_fallback=True,
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        split_digits=True,
        max_sentence_length=1 << 16,
        minloglevel=2,
    )
    return model.getvalue()


def build_tiny_causal_lm(texts: Iterable[str], sequence_length: int) -> Any:
    """Return the tiny GemmaCausalLM: random weights, a tokenizer trained on ``texts``."""
    import keras_hub

    tokenizer = keras_hub.models.GemmaTokenizer(proto=train_tiny_tokenizer(texts))
    backbone = keras_hub.models.GemmaBackbone(vocabulary_size=tokenizer.vocabulary_size(),
                                              **TINY_BACKBONE)
    preprocessor = keras_hub.models.GemmaCausalLMPreprocessor(tokenizer,
                                                              sequence_length=sequence_length)
    return keras_hub.models.GemmaCausalLM(backbone=backbone, preprocessor=preprocessor)


def save_tiny_preset(texts: Iterable[str], directory: Path, sequence_length: int) -> Path:
    """Build the tiny Gemma and save it as a preset folder; return the folder.

    The folder loads with ``GemmaCausalLM.from_preset(directory)`` like a published preset.
    """
    task = build_tiny_causal_lm(texts, sequence_length)
    task.save_to_preset(str(directory))
    logger.info("saved the tiny Gemma preset (vocabulary %d, %d parameters) to %s",
                task.backbone.vocabulary_size, task.backbone.count_params(), directory)
    return directory


def prepare_lora(task: Any, rank: int, learning_rate: float) -> Any:
    """Enable LoRA on the task's backbone; return a compiled copy of the task, no preprocessor.

    The returned model takes token ids and a padding mask, and its loss is the sparse
    cross-entropy averaged over the tokens whose sample weight is non-zero, so that the answer
    tokens alone drive training.
    """
    import keras

    task.backbone.enable_lora(rank=rank)
    model = type(task)(backbone=task.backbone, preprocessor=None)
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=0.01)
    optimizer.exclude_from_weight_decay(var_names=["bias", "scale"])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                        reduction="mean_with_sample_weight"),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="answer_accuracy")],
    )
    trainable = sum(math.prod(weight.shape) for weight in model.trainable_weights)
    logger.info("LoRA rank %d: %d trainable parameters of %d", rank, trainable,
                model.count_params())
    return model


def save_lora(backbone: Any, directory: Path) -> Path:
    """Write the LoRA weights to ``directory``; return the file written.

    keras-hub's ``save_lora_weights`` is used where the installed version has it; older
    versions get the trainable weights as a NumPy ``.npz`` file keyed by variable path.
    """
    if hasattr(backbone, "save_lora_weights"):
        path = directory / LORA_FILE
        backbone.save_lora_weights(str(path))
    else:
        import numpy as np

        path = directory / "gemma_pubmedqa.lora.npz"
        np.savez(path, **{weight.path: np.asarray(weight) for weight in backbone.trainable_weights})
    logger.info("saved the LoRA weights to %s", path)
    return path
