"""Load PubMedQA's expert-labeled questions (``pqa_labeled``) and split them into train and test.

Two sources are supported:

- a local JSON file, in the authors' original layout (``ori_pqal.json``: an object keyed by
  PubMed id, records with ``QUESTION``, ``CONTEXTS``, ``LABELS``, ``final_decision``, ...) or in
  the Hugging Face layout (records with ``pubid``, ``question``,
  ``context: {contexts, labels}``, ``long_answer``, ``final_decision``) as a JSON list, a JSON
  object keyed by id, or JSON lines;
- the Hugging Face hub (``qiaojin/PubMedQA``, config ``pqa_labeled``), which needs the
  ``datasets`` package and network access.

The official test split is the 500 PubMed ids in ``data/test_ground_truth.json``; every other
record is training data. This module imports only the standard library, so the client that
submits the job stays light.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

ANSWERS = ("yes", "no", "maybe")
DATA_DIR = Path(__file__).resolve().parent / "data"
SAMPLE_FILE = DATA_DIR / "ori_pqal_sample.json"
TEST_SPLIT_FILE = DATA_DIR / "test_ground_truth.json"
HUB_DATASET = "qiaojin/PubMedQA"
HUB_CONFIG = "pqa_labeled"
HUB_SOURCE = "hub"

ORIGINAL_REQUIRED = ("QUESTION", "CONTEXTS", "final_decision")
HUB_REQUIRED = ("pubid", "question", "context", "final_decision")
LAYOUT_HELP = (
    "Each record needs, in the original layout (ori_pqal.json): QUESTION, CONTEXTS (a list of "
    "strings) and final_decision; or, in the Hugging Face layout: pubid, question, "
    "context.contexts (a list of strings) and final_decision"
)


class PubMedQAFormatError(ValueError):
    """A PubMedQA file or record does not have the expected layout."""


@dataclass(frozen=True)
class Example:
    """One PubMedQA question with its abstract and its expert answer (yes, no or maybe)."""

    pubid: str
    question: str
    contexts: tuple[str, ...]
    context_labels: tuple[str, ...]
    answer: str
    long_answer: str = ""


def load_file(path: str | Path) -> list[Example]:
    """Parse a PubMedQA file in either layout; raise PubMedQAFormatError naming the bad record.

    The file contains a JSON object keyed by PubMed id, a JSON list of records, or one record per
    line (JSON lines). Each record may use the original or the Hugging Face layout.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PubMedQAFormatError(
            f"PubMedQA file {path} not found; pass --data with the path of ori_pqal.json "
            f"(or a JSON / JSON-lines export of {HUB_DATASET}), or --data {HUB_SOURCE}"
        ) from None
    entries = _parse_entries(text, path)
    examples = [parse_record(record, pubid, path) for pubid, record in entries]
    _reject_duplicates(examples, path)
    if not examples:
        raise PubMedQAFormatError(f"{path} contains no records; {LAYOUT_HELP}")
    return examples


def load_hub() -> list[Example]:
    """Download ``pqa_labeled`` from the Hugging Face hub (needs ``datasets`` and a network)."""
    try:
        import datasets
    except ImportError:
        raise ImportError(
            f"--data {HUB_SOURCE} needs the 'datasets' package where the job runs; install it "
            f"(pip install datasets), or pass --data with a local ori_pqal.json"
        ) from None
    rows = datasets.load_dataset(HUB_DATASET, HUB_CONFIG, split="train")
    source = f"{HUB_DATASET} ({HUB_CONFIG})"
    return [parse_record(dict(row), None, source) for row in rows]


def load_test_ids(path: str | Path = TEST_SPLIT_FILE) -> frozenset[str]:
    """Return the PubMed ids of the official test split (a JSON object: PubMed id -> label)."""
    return frozenset(json.loads(Path(path).read_text(encoding="utf-8")))


def split(examples: Sequence[Example], test_ids: Iterable[str],
          source: str | Path) -> tuple[list[Example], list[Example]]:
    """Split into (train, test): test contains the examples whose PubMed id is in ``test_ids``."""
    test_ids = frozenset(test_ids)
    train = [example for example in examples if example.pubid not in test_ids]
    test = [example for example in examples if example.pubid in test_ids]
    if not test:
        raise PubMedQAFormatError(
            f"none of the {len(examples)} records in {source} is in the official test split "
            f"({len(test_ids)} PubMed ids); use the pqa_labeled records (ori_pqal.json)"
        )
    if not train:
        raise PubMedQAFormatError(
            f"all {len(examples)} records in {source} are in the official test split, so "
            f"nothing is left to train on; use the full pqa_labeled set (ori_pqal.json)"
        )
    return train, test


def take(examples: Sequence[Example], limit: int | None, seed: int) -> list[Example]:
    """Return ``limit`` examples drawn at random with ``seed`` (all of them, shuffled, if None)."""
    shuffled = sorted(examples, key=lambda example: example.pubid)
    random.Random(seed).shuffle(shuffled)
    return shuffled if limit is None else shuffled[:limit]


def majority_answer(examples: Iterable[Example]) -> str:
    """Return the most frequent answer; ties go to the earlier answer in ANSWERS."""
    counts = {answer: 0 for answer in ANSWERS}
    for example in examples:
        counts[example.answer] += 1
    return max(ANSWERS, key=lambda answer: counts[answer])


def parse_record(record: Any, pubid: str | None, source: str | Path) -> Example:
    """Build an Example from one record in the original or the Hugging Face layout.

    ``pubid`` is the key of the record in an object keyed by id, or None when the record
    carries its own ``pubid`` (lists, JSON lines, the hub).
    """
    label = f"record {pubid!r}" if pubid is not None else "a record"
    if not isinstance(record, dict):
        raise PubMedQAFormatError(f"{source}: {label} is a {type(record).__name__}, not a JSON "
                                  f"object; {LAYOUT_HELP}")
    if "QUESTION" in record or "CONTEXTS" in record:
        return _parse_original(record, pubid, source)
    return _parse_hub(record, pubid, source)


def _parse_entries(text: str, path: Path) -> list[tuple[str | None, Any]]:
    """Return (id or None, record) pairs from a JSON object, a JSON list or JSON lines."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as whole_error:
        return _parse_json_lines(text, path, whole_error)
    if isinstance(document, list):
        return [(None, record) for record in document]
    if isinstance(document, dict):
        if document and all(isinstance(value, dict) for value in document.values()):
            return [(str(pubid), record) for pubid, record in document.items()]
        return [(None, document)]  # a single record, such as a one-line JSON-lines file
    raise PubMedQAFormatError(f"{path} contains a JSON {type(document).__name__}; expected an "
                              f"object keyed by PubMed id, a list of records or JSON lines")


def _parse_json_lines(text: str, path: Path,
                      whole_error: json.JSONDecodeError) -> list[tuple[str | None, Any]]:
    entries: list[tuple[str | None, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append((None, json.loads(line)))
        except json.JSONDecodeError as line_error:
            raise PubMedQAFormatError(
                f"{path} is neither JSON ({whole_error}) nor JSON lines (line {number}: "
                f"{line_error}); export the records as one JSON document or one record per line"
            ) from None
    return entries


def _parse_original(record: dict, pubid: str | None, source: str | Path) -> Example:
    if pubid is None:
        pubid = _text_field(record, "pubid", "a record", source)
    label = f"record {pubid!r}"
    _require(record, ORIGINAL_REQUIRED, label, source)
    contexts = _text_list(record, "CONTEXTS", label, source)
    return Example(
        pubid=pubid,
        question=_text_field(record, "QUESTION", label, source),
        contexts=contexts,
        context_labels=_context_labels(record.get("LABELS"), len(contexts)),
        answer=_answer(record, label, source),
        long_answer=str(record.get("LONG_ANSWER") or ""),
    )


def _parse_hub(record: dict, pubid: str | None, source: str | Path) -> Example:
    if pubid is None:
        if "pubid" not in record:
            raise PubMedQAFormatError(f"{source}: a record is missing the field 'pubid' "
                                      f"(fields present: {sorted(record)}); {LAYOUT_HELP}")
        pubid = str(record["pubid"])
    label = f"record {pubid!r}"
    _require(record, [field for field in HUB_REQUIRED if field != "pubid"], label, source)
    context = record["context"]
    if not isinstance(context, dict) or "contexts" not in context:
        raise PubMedQAFormatError(f"{source}: {label} is missing the field 'context.contexts'; "
                                  f"{LAYOUT_HELP}")
    contexts = _text_list(context, "contexts", label, source)
    return Example(
        pubid=pubid,
        question=_text_field(record, "question", label, source),
        contexts=contexts,
        context_labels=_context_labels(context.get("labels"), len(contexts)),
        answer=_answer(record, label, source),
        long_answer=str(record.get("long_answer") or ""),
    )


def _require(record: dict, fields: Iterable[str], label: str, source: str | Path) -> None:
    for field in fields:
        if field not in record:
            raise PubMedQAFormatError(f"{source}: {label} is missing the field {field!r}; "
                                      f"{LAYOUT_HELP}")


def _text_field(record: dict, field: str, label: str, source: str | Path) -> str:
    if field not in record:
        raise PubMedQAFormatError(f"{source}: {label} is missing the field {field!r}; "
                                  f"{LAYOUT_HELP}")
    value = record[field]
    if isinstance(value, int) and field == "pubid":
        return str(value)
    if not isinstance(value, str):
        raise PubMedQAFormatError(f"{source}: {label} has {field}={value!r}, which is not a "
                                  f"string")
    return value


def _text_list(record: dict, field: str, label: str, source: str | Path) -> tuple[str, ...]:
    value = record[field]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PubMedQAFormatError(f"{source}: {label} has a field {field!r} that is not a list "
                                  f"of strings (got {type(value).__name__})")
    return tuple(value)


def _context_labels(labels: Any, count: int) -> tuple[str, ...]:
    """Section names (BACKGROUND, METHODS, ...) for each context; empty strings where absent."""
    if not isinstance(labels, list) or len(labels) != count:
        return ("",) * count
    return tuple(str(label) for label in labels)


def _answer(record: dict, label: str, source: str | Path) -> str:
    answer = record["final_decision"]
    if answer not in ANSWERS:
        raise PubMedQAFormatError(f"{source}: {label} has final_decision={answer!r}; expected "
                                  f"one of {', '.join(ANSWERS)}")
    return answer


def _reject_duplicates(examples: Sequence[Example], path: Path) -> None:
    seen: set[str] = set()
    for example in examples:
        if example.pubid in seen:
            raise PubMedQAFormatError(f"{path}: PubMed id {example.pubid!r} appears more than "
                                      f"once; keep one record per id")
        seen.add(example.pubid)
