"""Turn PubMedQA examples into fixed-length token arrays whose answer always fits.

A prompt reads::

    <bos>Question: {question}
    Context: {LABEL}: {context} {LABEL}: {context} ...
    Answer: {yes|no|maybe}

Each part is tokenized on its own and the parts are joined as token ids, so the answer slot
(``"\\nAnswer:"`` and the answer) is never cut: the context, then if need be the question, is
truncated by tokens to the room left. Rows hold ``sequence_length + 1`` tokens, so that the model
reads the first ``sequence_length`` and predicts the last ``sequence_length``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .data import ANSWERS, Example

ANSWER_SLOT = "\nAnswer:"

Tokenize = Callable[[list[str]], list[list[int]]]


def question_text(example: Example) -> str:
    return f"Question: {example.question}\nContext:"


def context_text(example: Example) -> str:
    parts = [f"{label}: {text}" if label else text
             for label, text in zip(example.context_labels, example.contexts)]
    return " " + " ".join(parts)


def answer_text(answer: str) -> str:
    return " " + answer


@dataclass(frozen=True)
class EncodedBatch:
    """Token rows of ``sequence_length + 1`` ids, right-padded, with the answer tokens marked.

    ``answer_mask[i, j]`` is 1.0 where ``token_ids[i, j]`` is an answer token, else 0.0;
    ``lengths[i]`` is the number of tokens before the padding.
    """

    token_ids: np.ndarray
    answer_mask: np.ndarray
    lengths: np.ndarray

    def model_inputs(self) -> dict[str, np.ndarray]:
        """Return the model's inputs: every token but the last, and the padding mask."""
        sequence_length = self.token_ids.shape[1] - 1
        padding_mask = np.arange(sequence_length)[None, :] < self.lengths[:, None]
        return {"token_ids": self.token_ids[:, :-1], "padding_mask": padding_mask.astype("int32")}

    def targets(self) -> np.ndarray:
        """Return the next token at each input position."""
        return self.token_ids[:, 1:]

    def target_weights(self) -> np.ndarray:
        """Return 1.0 at input positions whose next token is an answer token, else 0.0."""
        return self.answer_mask[:, 1:]


class PromptEncoder:
    """Encode (example, answer) pairs into an EncodedBatch of a fixed sequence length.

    ``tokenize`` maps a list of strings to a list of token id lists, without special tokens
    (a keras-hub tokenizer called on a list does this).
    """

    def __init__(self, tokenize: Tokenize, *, start_id: int, pad_id: int,
                 sequence_length: int) -> None:
        self.tokenize = tokenize
        self.start_id = start_id
        self.pad_id = pad_id
        self.sequence_length = sequence_length
        self.slot_ids = tokenize([ANSWER_SLOT])[0]
        answer_ids = tokenize([answer_text(answer) for answer in ANSWERS])
        self.answer_ids = dict(zip(ANSWERS, answer_ids))
        self.max_answer_length = max(len(ids) for ids in answer_ids)
        # Tokens left for the question and the context once the start token, the answer slot
        # and the longest answer are placed in the sequence_length + 1 row.
        self.prompt_budget = sequence_length - len(self.slot_ids) - self.max_answer_length
        if self.prompt_budget < 1:
            minimum = len(self.slot_ids) + self.max_answer_length + 1
            raise ValueError(
                f"sequence_length={sequence_length} leaves no room for the question: the answer "
                f"slot and the longest answer take {minimum - 1} tokens; use a sequence length "
                f"of at least {minimum} (512 is the default)"
            )

    @classmethod
    def from_tokenizer(cls, tokenizer, sequence_length: int) -> "PromptEncoder":
        """Build an encoder from a keras-hub tokenizer (GemmaTokenizer, Gemma3Tokenizer)."""
        def tokenize(texts: list[str]) -> list[list[int]]:
            return [list(map(int, ids)) for ids in tokenizer(texts)]

        return cls(tokenize, start_id=int(tokenizer.start_token_id),
                   pad_id=int(tokenizer.pad_token_id), sequence_length=sequence_length)

    def encode(self, examples: Sequence[Example], answers: Sequence[str]) -> EncodedBatch:
        """Encode ``examples[i]`` followed by ``answers[i]`` for each i."""
        if len(examples) != len(answers):
            raise ValueError(f"got {len(examples)} examples but {len(answers)} answers")
        questions = self.tokenize([question_text(example) for example in examples])
        contexts = self.tokenize([context_text(example) for example in examples])

        width = self.sequence_length + 1
        token_ids = np.full((len(examples), width), self.pad_id, dtype="int32")
        answer_mask = np.zeros((len(examples), width), dtype="float32")
        lengths = np.zeros(len(examples), dtype="int32")
        for row, (question, context, answer) in enumerate(zip(questions, contexts, answers)):
            prompt = self._truncate(question, context)
            answer_ids = self.answer_ids[answer]
            ids = [self.start_id, *prompt, *self.slot_ids, *answer_ids]
            token_ids[row, :len(ids)] = ids
            answer_mask[row, len(ids) - len(answer_ids):len(ids)] = 1.0
            lengths[row] = len(ids)
        return EncodedBatch(token_ids, answer_mask, lengths)

    def _truncate(self, question: list[int], context: list[int]) -> list[int]:
        """Question and context ids cut to the prompt budget, the context first."""
        question = question[:self.prompt_budget]
        context = context[:self.prompt_budget - len(question)]
        return question + context
