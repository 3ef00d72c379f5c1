"""Fine-tune Gemma with LoRA on PubMedQA on a cloud accelerator through kinetic.

    python examples/gemma_pubmedqa/finetune.py --tiny   # offline, about 20 s on 2 CPU cores
    python examples/gemma_pubmedqa/finetune.py --accelerator tpu-v5e-8

The training function runs as a kinetic job (``kinetic.run``) on the accelerator named by
``--accelerator``; ``--backend inprocess`` calls it in this process instead. When kinetic runs
this file as a script inside a job (``kinetic launch``, which sets ``KINETIC_INSIDE_JOB``), the
function is called directly. The client loads the local data file, so a bad file fails here,
before any job starts; the job imports keras, keras-hub and JAX.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):
    # Run as a script: import the example as the package gemma_pubmedqa instead of as loose
    # top-level modules (data, model, train), whose names other packages may use.
    _EXAMPLE_DIR = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _EXAMPLE_DIR]
    sys.path.insert(0, str(_EXAMPLE_DIR.parent))

from kinetic.errors import ConfigError  # noqa: E402

from gemma_pubmedqa import data  # noqa: E402
from gemma_pubmedqa.config import DEFAULT_PRESET, PRESETS, FinetuneConfig  # noqa: E402
from gemma_pubmedqa.train import finetune  # noqa: E402

DEFAULT_ACCELERATOR = "tpu-v5e-8"
BACKENDS = ("local", "docker", "gke", "inprocess")
REQUIREMENTS_FILE = Path(__file__).resolve().parent / "requirements.txt"
KAGGLE_CREDENTIALS = ("KAGGLE_USERNAME", "KAGGLE_KEY")

logger = logging.getLogger("gemma_pubmedqa")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is invalid; expected an integer of at least 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="LoRA-fine-tune Gemma (Keras 3 on JAX) on PubMedQA's 1,000 expert-labeled "
                    "questions and report accuracy and macro-F1 on the official test split.")
    parser.add_argument("--preset", default=DEFAULT_PRESET,
                        help=f"keras-hub preset name ({', '.join(PRESETS)}) or preset folder; "
                             f"default {DEFAULT_PRESET}")
    parser.add_argument("--accelerator", default=DEFAULT_ACCELERATOR,
                        help=f"kinetic accelerator to run on; default {DEFAULT_ACCELERATOR}")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="kinetic backend (default: gke when a cluster is configured, else "
                             "local); inprocess calls the function in this process")

    parser.add_argument("--epochs", type=positive_int, default=1,
                        help="passes over the training questions; default 1")
    parser.add_argument("--lora-rank", type=positive_int, default=4,
                        help="rank of the LoRA matrices; default 4")
    parser.add_argument("--sequence-length", type=positive_int, default=512,
                        help="tokens per prompt, answer included; longer contexts are "
                             "truncated; default 512")
    parser.add_argument("--batch-size", type=positive_int, default=8,
                        help="questions per training step and per evaluation pass; a multiple "
                             "of the number of chips; default 8")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="AdamW learning rate; default 5e-5, or 1e-2 with --tiny")

    parser.add_argument("--train-limit", type=positive_int, default=None,
                        help="use at most this many training questions")
    parser.add_argument("--eval-limit", type=positive_int, default=None,
                        help="evaluate on at most this many test questions")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="stop training after this many optimizer steps")

    parser.add_argument("--data", default=str(data.SAMPLE_FILE),
                        help=f"PubMedQA JSON or JSON-lines file (original or Hugging Face "
                             f"layout), or '{data.HUB_SOURCE}' to download {data.HUB_DATASET} "
                             f"inside the job; default: the sample shipped in data/")
    parser.add_argument("--tiny", action="store_true",
                        help="train a tiny random-weight Gemma with a tokenizer learned from the "
                             "data instead of loading a preset (runs offline on a CPU)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; default 0")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> FinetuneConfig:
    """Return the run's config; a local data file is read and split here, on the client."""
    test_ids = data.load_test_ids()
    train_examples = test_examples = None
    if args.data != data.HUB_SOURCE:
        examples = data.load_file(args.data)
        train, test = data.split(examples, test_ids, args.data)
        train_examples, test_examples = tuple(train), tuple(test)
    return FinetuneConfig(
        preset=args.preset, tiny=args.tiny, epochs=args.epochs, lora_rank=args.lora_rank,
        sequence_length=args.sequence_length, batch_size=args.batch_size,
        learning_rate=args.learning_rate, max_steps=args.steps, train_limit=args.train_limit,
        eval_limit=args.eval_limit, seed=args.seed, train_examples=train_examples,
        test_examples=test_examples, test_ids=test_ids,
    )


def job_requirements(config: FinetuneConfig, accelerator: str) -> list[str]:
    """Return the pip requirements of the job's image, from requirements.txt beside this file.

    ``datasets`` is added when the job downloads PubMedQA from the Hugging Face hub. On GPUs and
    TPUs jax is left out, because kinetic's images for them install their own jax build.
    """
    from kinetic.accelerators import parse_accelerator

    lines = REQUIREMENTS_FILE.read_text().splitlines()
    requirements = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if parse_accelerator(accelerator).kind != "cpu":
        requirements = [line for line in requirements if not line.startswith("jax")]
    if config.train_examples is None:
        requirements.append("datasets")
    return requirements


def run(config: FinetuneConfig, accelerator: str, backend: str | None) -> dict[str, Any]:
    """Run ``finetune(config)`` in this process (inside a job, or inprocess), else via kinetic."""
    if os.environ.get("KINETIC_INSIDE_JOB") or backend == "inprocess":
        return finetune(config)

    import kinetic

    options: dict[str, Any] = {"accelerator": accelerator,
                               "requirements": job_requirements(config, accelerator)}
    if backend is not None:
        options["backend"] = backend
    if not config.tiny and config.preset in PRESETS:
        # keras-hub downloads the Gemma presets from Kaggle, which needs an account that has
        # accepted the Gemma license.
        credentials = [name for name in KAGGLE_CREDENTIALS if os.environ.get(name)]
        if len(credentials) < len(KAGGLE_CREDENTIALS):
            logger.warning("%s not set: the job can download the %s preset from Kaggle only "
                           "with an API token (kaggle.com > Settings > API)",
                           " and ".join(KAGGLE_CREDENTIALS), config.preset)
        options["secrets"] = credentials
    remote = kinetic.run(**options)(finetune)
    return remote(config)


def print_metrics(metrics: dict[str, Any]) -> None:
    """Print the test metrics beside the majority-answer baseline as a table."""
    from rich.console import Console
    from rich.table import Table

    baseline = metrics["baseline"]
    table = Table(title=f"PubMedQA test split ({metrics['test_examples']} questions), "
                        f"{metrics['preset']} + LoRA rank {metrics['lora_rank']}")
    table.add_column("metric")
    table.add_column("fine-tuned", justify="right")
    table.add_column(f"always '{baseline['answer']}'", justify="right")
    table.add_row("accuracy", f"{metrics['accuracy']:.3f}", f"{baseline['accuracy']:.3f}")
    table.add_row("macro-F1", f"{metrics['macro_f1']:.3f}", f"{baseline['macro_f1']:.3f}")
    for answer in data.ANSWERS:
        table.add_row(f"F1 {answer}", f"{metrics['f1'][answer]:.3f}",
                      f"{baseline['f1'][answer]:.3f}")

    console = Console()
    console.print(table)
    console.print(f"{metrics['train_steps']} training steps on {metrics['train_examples']} "
                  f"questions in {metrics['train_seconds']:.1f} s (mean loss "
                  f"{metrics['train_loss']:.4f}); evaluation {metrics['eval_seconds']:.1f} s",
                  soft_wrap=True)
    console.print(f"LoRA weights: {metrics['lora_weights']}", soft_wrap=True)
    console.print(f"metrics: {Path(metrics['output_dir']) / 'metrics.json'}", soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        config = build_config(args)
    except (data.PubMedQAFormatError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    try:
        metrics = run(config, args.accelerator, args.backend)
    except ConfigError as error:  # an invalid accelerator, backend or kinetic setting
        raise SystemExit(f"error: {error}") from None
    print_metrics(metrics)
    return metrics


if __name__ == "__main__":
    main()
