"""Write the stratified PubMedQA sample shipped in ``data/`` from a full copy of the data set.

Usage: ``python examples/gemma_pubmedqa/make_sample.py SOURCE_DIR`` where SOURCE_DIR contains the
authors' ``ori_pqal.json`` and ``test_ground_truth.json`` (github.com/pubmedqa/pubmedqa,
``data/``). The choice is deterministic: within each label, records are ordered by the sha256
of their PubMed id and the first ones are taken, in proportion to the label counts of their split.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

LABELS = ("yes", "no", "maybe")
TRAIN_SAMPLE_SIZE = 120
TEST_SAMPLE_SIZE = 80
DATA_DIR = Path(__file__).resolve().parent / "data"


def stratified_sample(records: dict[str, dict], size: int) -> list[str]:
    """Return ``size`` PubMed ids from ``records``, keeping the label proportions."""
    by_label = {label: sorted((pubid for pubid, record in records.items()
                               if record["final_decision"] == label),
                              key=lambda pubid: hashlib.sha256(pubid.encode()).hexdigest())
                for label in LABELS}
    quotas = {label: round(size * len(ids) / len(records)) for label, ids in by_label.items()}
    quotas["yes"] += size - sum(quotas.values())  # rounding remainder goes to the largest class
    chosen = [pubid for label in LABELS for pubid in by_label[label][:quotas[label]]]
    return sorted(chosen, key=int)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder with ori_pqal.json and "
                        "test_ground_truth.json")
    args = parser.parse_args()

    records = json.loads((args.source / "ori_pqal.json").read_text())
    test_labels = json.loads((args.source / "test_ground_truth.json").read_text())
    test = {pubid: record for pubid, record in records.items() if pubid in test_labels}
    train = {pubid: record for pubid, record in records.items() if pubid not in test_labels}

    chosen = stratified_sample(train, TRAIN_SAMPLE_SIZE) + stratified_sample(test, TEST_SAMPLE_SIZE)
    sample = {pubid: records[pubid] for pubid in chosen}
    DATA_DIR.mkdir(exist_ok=True)
    (DATA_DIR / "ori_pqal_sample.json").write_text(json.dumps(sample) + "\n")
    (DATA_DIR / "test_ground_truth.json").write_text(json.dumps(test_labels) + "\n")
    print(f"wrote {len(sample)} records ({TRAIN_SAMPLE_SIZE} train, {TEST_SAMPLE_SIZE} test) "
          f"and {len(test_labels)} test split ids to {DATA_DIR}")


if __name__ == "__main__":
    main()
