"""Answer PubMedQA questions by ranking yes / no / maybe by log-likelihood, and score the answers.

Each question becomes three rows, one per candidate answer, and one forward pass of the backbone
over a batch of rows gives the log-likelihood of every candidate's tokens. The candidate with the
highest sum of token log-probabilities is the prediction. keras is imported inside the functions.

NOTE: the sum is not normalized by length, so when a tokenizer splits the answers into different
numbers of tokens (the tiny tokenizer may), shorter answers are favored. How the Gemma presets'
tokenizers split the three answers has not been checked: their vocabularies need a download.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from .data import ANSWERS, Example
from .prompt import EncodedBatch, PromptEncoder

logger = logging.getLogger("gemma_pubmedqa")


def build_scorer(backbone: Any, sequence_length: int, max_answer_length: int) -> Any:
    """Return a keras Model: (token ids, padding mask, positions, targets) -> log-probabilities.

    ``positions`` [batch, k] index the input positions whose next token is an answer token and
    ``targets`` [batch, k] hold those tokens; the output [batch, k] is log p(target | prefix).
    Only the k gathered positions are projected onto the vocabulary, which keeps the logits at
    k x vocabulary per row instead of sequence_length x vocabulary.
    """
    import keras
    from keras import ops

    token_ids = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
    padding_mask = keras.Input(shape=(sequence_length,), dtype="int32", name="padding_mask")
    positions = keras.Input(shape=(max_answer_length,), dtype="int32", name="positions")
    targets = keras.Input(shape=(max_answer_length,), dtype="int32", name="targets")

    hidden = backbone({"token_ids": token_ids, "padding_mask": padding_mask})
    selector = ops.one_hot(positions, sequence_length, dtype=hidden.dtype)
    gathered = ops.einsum("bkl,blh->bkh", selector, hidden)
    logits = backbone.token_embedding(gathered, reverse=True)
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    picked = ops.take_along_axis(log_probs, ops.expand_dims(targets, -1), axis=-1)
    return keras.Model(inputs=[token_ids, padding_mask, positions, targets],
                       outputs=ops.squeeze(picked, -1), name="answer_scorer")


def answer_slots(batch: EncodedBatch, max_answer_length: int) -> tuple[np.ndarray, ...]:
    """Return (positions, targets, slot mask), each [rows, max_answer_length], from the answer mask.

    Unused slots point at position 0 with target 0 and mask 0.
    """
    weights = batch.target_weights()
    targets_all = batch.targets()
    rows = weights.shape[0]
    positions = np.zeros((rows, max_answer_length), dtype="int32")
    targets = np.zeros((rows, max_answer_length), dtype="int32")
    mask = np.zeros((rows, max_answer_length), dtype="float32")
    for row in range(rows):
        answer_positions = np.flatnonzero(weights[row])
        count = len(answer_positions)
        positions[row, :count] = answer_positions
        targets[row, :count] = targets_all[row, answer_positions]
        mask[row, :count] = 1.0
    return positions, targets, mask


def score_candidates(backbone: Any, encoder: PromptEncoder, examples: Sequence[Example],
                     batch_size: int) -> np.ndarray:
    """Return the log-likelihood of each answer in ANSWERS for each example: [examples, 3].

    ``batch_size`` questions (3 x batch_size rows) go through the model per forward pass. The
    last batch is padded with copies of the first row so that every batch has the same shape
    and the compiled function is reused.
    """
    rows_examples = [example for example in examples for _ in ANSWERS]
    rows_answers = [answer for _ in examples for answer in ANSWERS]
    batch = encoder.encode(rows_examples, rows_answers)
    positions, targets, mask = answer_slots(batch, encoder.max_answer_length)
    inputs = {**batch.model_inputs(), "positions": positions, "targets": targets}

    rows_per_batch = batch_size * len(ANSWERS)
    padding = -len(rows_examples) % rows_per_batch
    padded = {name: np.concatenate([array, np.repeat(array[:1], padding, axis=0)])
              for name, array in inputs.items()}

    scorer = build_scorer(backbone, encoder.sequence_length, encoder.max_answer_length)
    log_probs = scorer.predict(padded, batch_size=rows_per_batch, verbose=0)
    log_probs = np.asarray(log_probs, dtype="float64")[:len(rows_examples)]
    totals = (log_probs * mask).sum(axis=1)
    return totals.reshape(len(examples), len(ANSWERS))


def classification_metrics(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Return accuracy, macro-F1 and per-answer F1 over yes / no / maybe.

    F1 comes from ``keras.metrics.F1Score``; an answer that is never predicted correctly has
    F1 0, and the macro average is taken over all three answers.
    """
    import keras

    def one_hot(answers: Sequence[str]) -> np.ndarray:
        indices = [ANSWERS.index(answer) for answer in answers]
        return np.eye(len(ANSWERS), dtype="float32")[indices]

    f1 = keras.metrics.F1Score(average=None, threshold=None)
    f1.update_state(one_hot(truth), one_hot(predicted))
    per_answer = [float(value) for value in np.asarray(f1.result())]
    accuracy = float(np.mean([left == right for left, right in zip(truth, predicted)]))
    return {
        "accuracy": accuracy,
        "macro_f1": float(np.mean(per_answer)),
        "f1": dict(zip(ANSWERS, per_answer)),
    }


def evaluate(backbone: Any, encoder: PromptEncoder, examples: Sequence[Example],
             batch_size: int) -> dict[str, Any]:
    """Predict an answer for each example and return the metrics and prediction counts."""
    scores = score_candidates(backbone, encoder, examples, batch_size)
    predicted = [ANSWERS[index] for index in scores.argmax(axis=1)]
    metrics = classification_metrics([example.answer for example in examples], predicted)
    metrics["predicted_counts"] = {answer: predicted.count(answer) for answer in ANSWERS}
    logger.info("evaluated %d questions: accuracy %.3f, macro-F1 %.3f", len(examples),
                metrics["accuracy"], metrics["macro_f1"])
    return metrics


def majority_baseline(answer: str, examples: Sequence[Example]) -> dict[str, Any]:
    """Return the metrics of always answering ``answer`` (the training set's majority answer)."""
    metrics = classification_metrics([example.answer for example in examples],
                                     [answer] * len(examples))
    return {"answer": answer, **metrics}
