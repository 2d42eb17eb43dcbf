"""Classifier benchmark: documents per second, with Claude (a Messages API stand-in that
answers after 1 s) and with the local classifier (text PDFs, and scans through OCR).
The text PDFs are the real invoices and W-9 forms in tests/data/documents, ten times over,
classified by one process (the stage's thread pool; PDFium reads one PDF at a time) after one
untimed pass over them (a running classifier has PDFium loaded).

Run from the project root:  .venv/bin/python benchmarks/classifier_bench.py
Writes benchmarks/results/classifier.json. ``--pdf-only`` measures the local classifier on the
text PDFs alone (and writes nothing); ``--digest`` prints, for every sample and test document,
the SHA-256 of what the local classifier makes of it (extracted text, type, confidence, fields)
and one digest over them all: a change made for speed must leave it as it was.

Each measurement runs in a fresh child process, so its peak memory (ru_maxrss) is its own. The
child runs the classifier stage (``classify_arrival``: verify the inline document's hash, read
its text, classify) over distinct documents with the runner's thread pool, as
``compliance run classifier`` does for a batch; Kafka is left out so the figure is the stage's.
The stand-in (``tests.support.messages_stub``) runs in its own process, so its
CPU is not charged to the classifier, and answers every call after 1 s, through the real
``anthropic`` SDK and HTTP on 127.0.0.1. The result cache is off: every document is a call.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from host import ROOT, load_average, write_results

RESULTS = ROOT / "benchmarks" / "results" / "classifier.json"
DOCUMENTS = ROOT / "tests" / "data" / "documents"  # real samples: tests/data/SOURCES.md
LLM_DELAY_S = 1.0
CONCURRENCY = (1, 16, 64, 256)
SECONDS_PER_LEVEL = 8  # documents per level = concurrency x this (one-at-a-time: 5)
TARGET_DOCS_PER_S = 100.0
TARGET_PDFS_PER_S = 150.0  # local classifier on text PDFs, one process
PDF_COPIES = 10  # the 17 real PDFs, each this many times (distinct arrivals)


def _arrivals(paths: list[Path], copies: int) -> list[dict[str, Any]]:
    from compliance.publisher import arrival_event

    arrivals = []
    for i in range(copies):
        for path in paths:
            record = arrival_event(path, source_system=f"bench-{i}", inline_max_bytes=1 << 30)
            arrivals.append(record)
    return arrivals


def _text_documents(folder: Path, count: int) -> list[Path]:
    base = (ROOT / "samples" / "documents" / "passport_halvorsen.txt").read_text()
    paths = []
    for i in range(count):
        path = folder / f"passport-{i}.txt"
        path.write_text(base + f"\nReference: bench {i}\n")
        paths.append(path)
    return paths


def child(kind: str, concurrency: int, base_url: str, workdir: str) -> dict[str, float]:
    """Runs in a child process: classify the documents, report docs/s and peak memory."""
    from pydantic import SecretStr

    from compliance.classification.choose import Classifier, LocalClassifier
    from compliance.classification.llm import ClaudeClassifier, client_for
    from compliance.config import Settings
    from compliance.processors.classifier import classify_arrival

    settings = Settings(
        anthropic_api_key=SecretStr("bench"),
        anthropic_base_url=base_url,
        llm_concurrency=concurrency,
        llm_cache=False,
        llm_timeout_s=60,
        document_roots=[Path(workdir)],
    )
    classifier: Classifier
    warm_up: list[dict[str, Any]] = []
    if kind == "llm":
        classifier = ClaudeClassifier(settings, client_for(settings))
        count = 5 if concurrency == 1 else concurrency * SECONDS_PER_LEVEL
        arrivals = _arrivals(_text_documents(Path(workdir), count), 1)
    else:
        classifier = LocalClassifier()
        if kind == "local-pdf":
            pdfs = sorted((DOCUMENTS / "invoices").glob("*.pdf")) + sorted(
                (DOCUMENTS / "tax_forms_w9").glob("*.pdf")
            )
            arrivals = _arrivals(pdfs, PDF_COPIES)
            # A running classifier has PDFium and its fonts loaded: one untimed pass first.
            warm_up = _arrivals(pdfs, 1)
        else:
            scans = sorted((DOCUMENTS / "id_specimens").glob("*"))
            images = [*scans, DOCUMENTS / "tax_forms_w9" / "fw9_scanned.jpg"]
            arrivals = _arrivals(images, 2)

    def stage(arrival: dict[str, Any]) -> str:
        [out, *_] = classify_arrival(settings, "DocumentArrived", arrival, classifier)
        return str(out.event_type)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(stage, warm_up))
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        kinds = list(pool.map(stage, arrivals))
    elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    assert kinds.count("DocumentClassified") == len(arrivals), kinds
    return {
        "documents": len(arrivals),
        "seconds": elapsed,
        "docs_per_s": len(arrivals) / elapsed,
        "docs_per_cpu_s": len(arrivals) / cpu,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _cpu_seconds() -> float:
    """CPU time of this process (all its threads), user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_child(kind: str, concurrency: int, base_url: str, workdir: Path) -> dict[str, float]:
    workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(concurrency), base_url, str(workdir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def digest() -> str:
    """One line per document (its path and the digest of its reading), then the digest of
    all of them; returns that last digest."""
    import hashlib

    from compliance.classification.local import classify
    from compliance.documents.reference import guess_media_type
    from compliance.documents.text import extract_text
    from compliance.errors import DocumentUnreadable

    paths = sorted(
        path
        for folder in (ROOT / "samples" / "documents", DOCUMENTS)
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in _READ_SUFFIXES
    )
    overall = hashlib.sha256()
    for path in paths:
        reading: dict[str, Any]
        try:
            text = extract_text(path.read_bytes(), guess_media_type(path.name))
        except DocumentUnreadable as exc:
            reading = {"unreadable": exc.code, "reason": exc.reason}
        else:
            result = classify(text.text)
            reading = {
                "text_sha256": hashlib.sha256(text.text.encode()).hexdigest(),
                "method": text.method,
                "type": result.document_type,
                "confidence": result.confidence,
                "fields": [[f.name, f.value, f.confidence] for f in result.fields],
            }
        line = hashlib.sha256(json.dumps(reading, sort_keys=True).encode()).hexdigest()
        overall.update(f"{path.relative_to(ROOT)} {line}\n".encode())
        print(path.relative_to(ROOT), line, flush=True)
    print("all", len(paths), "documents", overall.hexdigest())
    return overall.hexdigest()


_READ_SUFFIXES = {".pdf", ".txt", ".sta", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def main() -> None:
    figures: dict[str, dict[str, Any]] = {}

    def figure(name: str, value: float, unit: str, target: float | None = None) -> None:
        figures[name] = {"value": round(value, 2), "unit": unit, "target": target}
        print(f"{name}: {value:.2f} {unit}", flush=True)

    port = free_port()
    stub = subprocess.Popen(
        [sys.executable, "-m", "tests.support.messages_stub", str(port), "1.0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,  # tests.support is importable from the project root
    )
    try:
        assert stub.stdout is not None and "listening" in stub.stdout.readline()
        base_url = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as tmp:
            results = {}
            for level in CONCURRENCY:
                results[level] = run_child("llm", level, base_url, Path(tmp) / f"llm{level}")
                target = TARGET_DOCS_PER_S if level == CONCURRENCY[-1] else None
                figure(f"claude stub 1 s, {level} in flight", results[level]["docs_per_s"],
                       "documents/s", target)  # fmt: skip
            top = CONCURRENCY[-1]
            figure(f"speed-up at {top} in flight over one at a time",
                   results[top]["docs_per_s"] / results[1]["docs_per_s"], "x", 100.0)  # fmt: skip
            figure(f"classifier peak memory at {top} in flight",
                   results[top]["peak_rss_mib"], "MiB")  # fmt: skip
            cores = os.cpu_count() or 1
            pdf = run_child("local-pdf", cores, base_url, Path(tmp) / "pdf")
            figure("local classifier: text PDFs/s", pdf["docs_per_s"], "documents/s",
                   TARGET_PDFS_PER_S)  # fmt: skip
            # The same run per second of the process's CPU time: what the machine's other
            # load does not change (the wall-clock figure above falls when cores are shared).
            figure("local classifier: text PDFs per CPU-second", pdf["docs_per_cpu_s"],
                   "documents/CPU-s")  # fmt: skip
            ocr = run_child("local-ocr", cores, base_url, Path(tmp) / "ocr")
            figure("local classifier, scanned images (OCR)", ocr["docs_per_s"], "documents/s")
    finally:
        stub.terminate()
        stub.wait(10)

    host = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()}; load average {load_average()} at the end of the run"
    )
    write_results(RESULTS, ".venv/bin/python benchmarks/classifier_bench.py", host, figures)


if __name__ == "__main__":
    if sys.argv[1:] == ["--digest"]:
        digest()
    elif sys.argv[1:] == ["--pdf-only"]:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run_child("local-pdf", os.cpu_count() or 1, "", Path(tmp) / "pdf")))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, level, url, work = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
        print(json.dumps(child(kind, level, url, work)))
    else:
        main()
