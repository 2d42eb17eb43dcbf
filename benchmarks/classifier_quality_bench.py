"""Classifier quality on the held-back part of the labelled document set
(tests/data/documents/labelled/labels.csv, split by tests/labelled_documents.py): the share
of documents given their right type, the count of wrong types given at 0.9 confidence or
more (where a wrong type would be trusted), and the accuracy per type. The local, offline
classifier; documents are read as the classifier stage reads them (PDF text layer, text).

Run from the project root:  .venv/bin/python benchmarks/classifier_quality_bench.py
Updates benchmarks/results/documents_quality.json: its other figures (MRZ, OCR) are kept.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from host import ROOT, brief_machine, use_checkout, write_results

use_checkout(tests=True)  # tests.labelled_documents

from compliance.classification.local import classify  # noqa: E402
from tests.labelled_documents import labelled  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "documents_quality.json"
COMMAND = ".venv/bin/python benchmarks/classifier_quality_bench.py"
TARGET_ACCURACY = 0.90
CONFIDENT = 0.9


def measure() -> tuple[dict[str, dict[str, Any]], list[str]]:
    documents = labelled("held_back")
    right: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    confident_wrong = 0
    wrong = []
    for document in documents:
        result = classify(document.text())
        seen[document.document_type] += 1
        if result.document_type == document.document_type:
            right[document.document_type] += 1
            continue
        confident_wrong += result.confidence >= CONFIDENT
        wrong.append(
            f"{document.path}: {document.document_type} read as {result.document_type} "
            f"at {result.confidence}"
        )
    figures: dict[str, dict[str, Any]] = {
        "classifier: type accuracy": {
            "value": round(sum(right.values()) / len(documents), 3),
            "unit": f"fraction of {len(documents)} held-back documents",
            "target": TARGET_ACCURACY,
        },
        "classifier: wrong types at ≥ 0.9 confidence": {
            "value": confident_wrong,
            "unit": "documents",
            "target": 0,
        },
    }
    for document_type in sorted(seen):
        figures[f"classifier: accuracy, {document_type}"] = {
            "value": round(right[document_type] / seen[document_type], 3),
            "unit": f"fraction of {seen[document_type]}",
            "target": None,
        }
    return figures, wrong


def main() -> None:
    figures, wrong = measure()
    for name, figure in figures.items():
        print(f"{name}: {figure['value']} ({figure['unit']})")
    for line in wrong:
        print("wrong:", line)
    write_results(RESULTS, COMMAND, brief_machine(), figures, keep_others=True)


if __name__ == "__main__":
    main()
