"""The labelled document set (tests/data/documents/labelled/labels.csv): real public documents
and specimens with the type a person gives them, split for good into a part the classifier is
tuned on and a held-back part it is only measured on (benchmarks/classifier_quality_bench.py).

The split is a pure function of each file's path (its SHA-256), so it never changes when
files are added and nobody chooses which file lands where."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from compliance.documents.reference import guess_media_type
from compliance.documents.text import extract_text

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "data" / "documents" / "labelled" / "labels.csv"
HELD_BACK_ONE_IN = 3  # a third of the set is held back


@dataclass(frozen=True)
class Labelled:
    path: str  # relative to the project root
    document_type: str
    form: str  # tax forms: the form's name ("W-2", "1099-INT"); else ""

    @property
    def held_back(self) -> bool:
        return held_back(self.path)

    def text(self) -> str:
        path = ROOT / self.path
        return str(extract_text(path.read_bytes(), guess_media_type(path.name)).text)


def held_back(path: str) -> bool:
    return hashlib.sha256(path.encode()).digest()[0] % HELD_BACK_ONE_IN == 0


def labelled(part: str = "all") -> list[Labelled]:
    """The labelled documents: ``part`` is "all", "tuning" or "held_back"."""
    with LABELS.open(encoding="utf-8", newline="") as f:
        rows = [Labelled(r["path"], r["document_type"], r["form"]) for r in csv.DictReader(f)]
    if part == "all":
        return rows
    want = part == "held_back"
    return [r for r in rows if r.held_back == want]
