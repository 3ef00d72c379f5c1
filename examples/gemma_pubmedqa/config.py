"""The settings of one fine-tuning run, built on the client and sent to the job."""

from __future__ import annotations

from dataclasses import dataclass, field

from .data import Example

DEFAULT_PRESET = "gemma2_2b_en"
PRESETS = ("gemma2_2b_en", "gemma_2b_en", "gemma3_1b")
# 5e-5 is the learning rate of the Keras Gemma LoRA guide for pretrained presets. The tiny model
# starts from random weights, so it needs larger steps to move within a few dozen updates.
PRESET_LEARNING_RATE = 5e-5
TINY_LEARNING_RATE = 1e-2


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything the job needs: model, training settings and the data (or where to load it).

    ``train_examples`` and ``test_examples`` contain the records read on the client from a local
    file. Both are None when the job loads ``pqa_labeled`` from the Hugging Face hub itself, and
    then ``test_ids`` decides the split. ``max_steps`` caps the number of optimizer steps
    over all epochs. ``dtype`` None picks bfloat16 on TPUs and GPUs and float32 on CPUs.
    """

    preset: str = DEFAULT_PRESET
    tiny: bool = False
    epochs: int = 1
    lora_rank: int = 4
    sequence_length: int = 512
    batch_size: int = 8
    learning_rate: float | None = None
    max_steps: int | None = None
    train_limit: int | None = None
    eval_limit: int | None = None
    seed: int = 0
    dtype: str | None = None
    train_examples: tuple[Example, ...] | None = None
    test_examples: tuple[Example, ...] | None = None
    test_ids: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name in ("epochs", "lora_rank", "sequence_length", "batch_size", "max_steps",
                     "train_limit", "eval_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}={value} is invalid; it must be at least 1")
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise ValueError(f"learning_rate={self.learning_rate} is invalid; it must be "
                             f"positive")
        if (self.train_examples is None) != (self.test_examples is None):
            raise ValueError("train_examples and test_examples must both be set (local data) or "
                             "both be None (load from the Hugging Face hub)")

    @property
    def resolved_learning_rate(self) -> float:
        """The learning rate to use: the one set, else the default for a tiny or a preset run."""
        if self.learning_rate is not None:
            return self.learning_rate
        return TINY_LEARNING_RATE if self.tiny else PRESET_LEARNING_RATE
