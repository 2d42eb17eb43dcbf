# ruff: noqa: RUF001  (the Latin-to-Cyrillic table maps look-alike letters on purpose)
"""Sanctions screening benchmark: load, memory, latency, recall and false positives.

Run from the project root:  .venv/bin/python benchmarks/screening_bench.py
Writes benchmarks/results/screening.json. Pinned to one CPU core; reproducible (fixed seed).

1. All list samples in tests/data/sanctions: load time, index build time, index memory,
   median and p99 latency of one ``screen()`` call.
2. The same lists plus synthetic names up to 1,000,000 indexed names, made by recombining
   the real names' tokens with their real frequencies and name lengths: build time, memory,
   latency (targets: load < 60 s, p99 < 2 ms).
3. A labelled set made from the bundled lists: positives are listed names changed by a typo,
   Cyrillic transliteration, reordering, dropped middle names, spelling variants or added
   titles, each expected to hit its own entity; negatives are combinations of common given
   and family names that are not listed (their tokens are not all in any listed name).
   Recall and false-positive rate, on the bundled index and on the 1M index.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from compliance.screening import (  # noqa: E402
    Entity,
    EntityType,
    SanctionsList,
    Screener,
    ScreeningIndex,
    load_directory,
    normalise_name,
)

DATA = ROOT / "tests" / "data" / "sanctions"  # tests/data/sanctions/SOURCES.md
RESULTS = ROOT / "benchmarks" / "results" / "screening.json"
SEED = 20260227
TARGET_NAMES = 1_000_000
TARGET_LOAD_S = 60.0
TARGET_P99_MS = 2.0

Figures = dict[str, dict[str, object]]


def figure(
    figures: Figures, name: str, value: float, unit: str, target: float | None = None
) -> None:
    figures[name] = {"value": round(value, 4), "unit": unit, "target": target}
    shown = f"{value:,.4g}" if isinstance(value, float) else f"{value:,}"
    goal = f" (target {target:g})" if target is not None else ""
    print(f"  {name}: {shown} {unit}{goal}", flush=True)


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "")
    except OSError:
        pass
    u = platform.uname()
    return (
        f"{u.system} {u.release} {u.machine}; {model or 'unknown CPU'}; "
        f"{os.cpu_count()} CPUs (benchmark pinned to 1); Python {platform.python_version()}"
    )


def pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def latency(screener: Screener, queries: Sequence[str]) -> tuple[float, float]:
    """Median and p99 of one screen() call, in milliseconds (after one warm-up pass over a
    few queries, as a long-running screener would be)."""
    for query in queries[:50]:
        screener.screen(query)
    times: list[float] = []
    clock = time.perf_counter
    for query in queries:
        start = clock()
        screener.screen(query)
        times.append((clock() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


# ---- synthetic names -------------------------------------------------------------------


def token_statistics(index: ScreeningIndex) -> dict[bool, tuple[Counter[str], Counter[int]]]:
    """Per kind (person or not): token frequencies and name lengths of the real lists."""
    stats: dict[bool, tuple[Counter[str], Counter[int]]] = {
        True: (Counter(), Counter()),
        False: (Counter(), Counter()),
    }
    for rec in range(index.name_count):
        entity, _name, _alias, tokens = index.record(rec)
        tokens_seen, lengths = stats[entity.entity_type is EntityType.PERSON]
        tokens_seen.update(tokens)
        lengths[len(tokens)] += 1
    return stats


def synthetic_list(index: ScreeningIndex, count: int, rng: random.Random) -> SanctionsList:
    stats = token_statistics(index)
    persons = int(count * 0.55)
    entities: list[Entity] = []
    for is_person, n in ((True, persons), (False, count - persons)):
        tokens, lengths = stats[is_person]
        vocab, weights = list(tokens), list(tokens.values())
        sizes = rng.choices(list(lengths), list(lengths.values()), k=n)
        words = rng.choices(vocab, weights, k=sum(sizes))
        kind = EntityType.PERSON if is_person else EntityType.ENTITY
        at = 0
        for size in sizes:
            name = " ".join(words[at : at + size]).title()
            at += size
            number = len(entities)
            entities.append(Entity(f"SYN:{number}", "SYNTHETIC", str(number), "synthetic-v1",
                                   kind, name))  # fmt: skip
    return SanctionsList("SYNTHETIC", "0" * 64, None, (), tuple(entities))


# ---- labelled pairs --------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_LATIN_TO_CYRILLIC = [
    ("shch", "щ"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"), ("ch", "ч"), ("sh", "ш"),
    ("yu", "ю"), ("ya", "я"), ("a", "а"), ("b", "б"), ("v", "в"), ("g", "г"), ("d", "д"),
    ("e", "е"), ("z", "з"), ("i", "и"), ("y", "й"), ("k", "к"), ("l", "л"), ("m", "м"),
    ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"),
    ("f", "ф"), ("c", "к"), ("h", "х"), ("j", "дж"), ("q", "к"), ("w", "в"), ("x", "кс"),
]  # fmt: skip
_VARIANT_SPELLINGS = {
    "muhammad": ["Mohammed", "Mohamed", "Mohammad"],
    "ahmad": ["Ahmed"],
    "husayn": ["Hussein", "Hussain"],
    "yusuf": ["Youssef", "Yousef"],
    "umar": ["Omar"],
    "hasan": ["Hassan"],
    "abdullah": ["Abdallah"],
}
_TITLES = ["Mr", "Dr", "Sheikh", "Haji", "Mrs"]
_COMMON_GIVEN = _words(
    """james john robert michael william david richard joseph thomas charles mary
    patricia jennifer linda elizabeth barbara susan jessica sarah karen jose juan carlos luis
    miguel pedro maria carmen ana laura pierre jean marie sophie hans peter klaus anna ivan
    olga sergei elena wei li ming hiroshi yuki mohammed ahmed fatima ali omar priya raj
    daniel emma oliver noah liam sofia lucas mateo chloe"""
)
_COMMON_FAMILY = _words(
    """smith johnson williams brown jones miller davis wilson anderson taylor
    garcia rodriguez martinez hernandez lopez gonzalez perez sanchez ramirez torres muller
    schmidt schneider fischer weber martin bernard dubois durand rossi russo ferrari bianchi
    ivanov petrov smirnov kuznetsova wang zhang liu chen yang tanaka suzuki sato kim lee park
    nguyen tran patel singh kumar sharma silva santos oliveira costa"""
)


@dataclass(frozen=True)
class Pair:
    query: str
    kind: str  # variant type, or "negative"
    expected: str | None  # entity id, None for negatives


def to_cyrillic(tokens: Sequence[str]) -> str:
    words = []
    for token in tokens:
        out, i = [], 0
        while i < len(token):
            for latin, cyr in _LATIN_TO_CYRILLIC:
                if token.startswith(latin, i):
                    out.append(cyr)
                    i += len(latin)
                    break
            else:
                out.append(token[i])
                i += 1
        words.append("".join(out).capitalize())
    return " ".join(words)


def typo(token: str, rng: random.Random) -> str:
    pos = rng.randrange(1, len(token) - 1)
    kind = rng.choice(["sub", "del", "ins", "swap"])
    letter = rng.choice("aeioulnrst")
    if kind == "sub":
        return token[:pos] + letter + token[pos + 1 :]
    if kind == "del":
        return token[:pos] + token[pos + 1 :]
    if kind == "ins":
        return token[:pos] + letter + token[pos:]
    return token[: pos - 1] + token[pos] + token[pos - 1] + token[pos + 1 :]


def make_positives(lists: Sequence[SanctionsList], rng: random.Random, per_kind: int) -> list[Pair]:
    people = [e for lst in lists for e in lst.entities if e.entity_type is EntityType.PERSON]
    orgs = [e for lst in lists for e in lst.entities if e.entity_type is EntityType.ENTITY]
    pairs: list[Pair] = []

    def sample(pool: list[Entity], ok: Callable[[tuple[str, ...]], bool], kind: str,
               build: Callable[[tuple[str, ...]], str | None]) -> None:  # fmt: skip
        made, tries = 0, 0
        while made < per_kind and tries < per_kind * 50:
            tries += 1
            entity = rng.choice(pool)
            surname_first = entity.entity_type is EntityType.PERSON
            tokens = normalise_name(entity.name, surname_first=surname_first)
            if not tokens or not ok(tokens):
                continue
            query = build(tokens)
            if query:
                pairs.append(Pair(query, kind, entity.entity_id))
                made += 1

    def with_typo(tokens: tuple[str, ...]) -> str:
        long = [i for i, t in enumerate(tokens) if len(t) >= 5]
        i = rng.choice(long)
        changed = list(tokens)
        changed[i] = typo(tokens[i], rng)
        return " ".join(changed).title()

    def variant(tokens: tuple[str, ...]) -> str | None:
        i = next(i for i, t in enumerate(tokens) if t in _VARIANT_SPELLINGS)
        changed = list(tokens)
        changed[i] = rng.choice(_VARIANT_SPELLINGS[tokens[i]])
        return " ".join(changed).title()

    def multi(tokens: tuple[str, ...]) -> bool:
        return len(tokens) >= 2

    sample(people, lambda t: multi(t) and any(len(x) >= 5 for x in t), "typo", with_typo)
    sample(orgs, lambda t: multi(t) and any(len(x) >= 5 for x in t), "typo (organisation)",
           with_typo)  # fmt: skip
    sample(people, multi, "transliteration (Cyrillic)", to_cyrillic)
    sample(people, multi, "reordered", lambda t: " ".join(reversed(t)).upper())
    sample(people, lambda t: len(t) >= 3, "dropped middle names",
           lambda t: f"{t[0]} {t[-1]}".title())  # fmt: skip
    sample(people, lambda t: multi(t) and any(x in _VARIANT_SPELLINGS for x in t),
           "spelling variant", variant)  # fmt: skip
    sample(people, multi, "title added",
           lambda t: f"{rng.choice(_TITLES)} {' '.join(t).title()}")  # fmt: skip
    return pairs


def make_negatives(index: ScreeningIndex, rng: random.Random, count: int) -> list[Pair]:
    """Common names that are not listed: no listed name contains all their tokens."""
    pairs: list[Pair] = []
    seen: set[str] = set()
    while len(pairs) < count:
        parts = [rng.choice(_COMMON_GIVEN)]
        if rng.random() < 0.3:
            parts.append(rng.choice(_COMMON_GIVEN))
        parts.append(rng.choice(_COMMON_FAMILY))
        name = " ".join(parts).title()
        tokens = normalise_name(name)
        if name in seen or len(set(tokens)) < 2:
            continue
        seen.add(name)
        if not index.records_containing(tokens):
            pairs.append(Pair(name, "negative", None))
    return pairs


def still_negative(index: ScreeningIndex, pairs: Sequence[Pair]) -> list[Pair]:
    """Drop negatives that a bigger list happens to contain word for word."""
    return [p for p in pairs if p.expected or not index.records_containing(normalise_name(p.query))]


def evaluate(screener: Screener, pairs: Sequence[Pair]) -> tuple[dict[str, float], float, int]:
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    false_hits = 0
    negatives = 0
    for pair in pairs:
        hits = screener.screen(pair.query)
        if pair.expected is None:
            negatives += 1
            false_hits += bool(hits)
        else:
            total[pair.kind] += 1
            found[pair.kind] += any(h.entity_id == pair.expected for h in hits)
    recall = {kind: 100.0 * found[kind] / total[kind] for kind in total}
    recall["all positives"] = 100.0 * sum(found.values()) / sum(total.values())
    return recall, 100.0 * false_hits / max(1, negatives), negatives


# ---- main --------------------------------------------------------------------------------


def main() -> int:
    pin_one_core()
    rng = random.Random(SEED)
    figures: Figures = {}
    started = time.perf_counter()
    if not DATA.is_dir():
        print(f"bundled lists not found at {DATA}", file=sys.stderr)
        return 1

    print("1. bundled lists", flush=True)
    gc.collect()
    start = time.perf_counter()
    lists = load_directory(DATA)
    load_s = time.perf_counter() - start
    gc.collect()
    rss_before = rss_mb()
    tracemalloc.start()
    start = time.perf_counter()
    screener = Screener(lists)
    traced_build_s = time.perf_counter() - start
    traced_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    rss_delta = rss_mb() - rss_before
    del screener
    gc.collect()
    start = time.perf_counter()
    screener = Screener(lists)
    build_s = time.perf_counter() - start
    index = screener.index
    figure(figures, "bundled: lists", len(lists), "lists")
    figure(figures, "bundled: entities", len(index), "entities")
    figure(figures, "bundled: names indexed", index.name_count, "names")
    figure(figures, "bundled: file load time", load_s, "s")
    figure(figures, "bundled: index build time", build_s, "s")
    figure(figures, "bundled: index build time under tracemalloc", traced_build_s, "s")
    figure(figures, "bundled: index memory (tracemalloc)", traced_mb, "MiB")
    figure(figures, "bundled: index memory (RSS delta)", rss_delta, "MiB")

    positives = make_positives(lists, rng, per_kind=300)
    negatives = make_negatives(index, rng, count=2000)
    labelled = positives + negatives
    queries = [p.query for p in labelled]
    rng.shuffle(queries)
    median, p99 = latency(screener, queries)
    figure(figures, "bundled: median latency per name", median, "ms")
    figure(figures, "bundled: p99 latency per name", p99, "ms", TARGET_P99_MS)

    print("3. labelled name pairs (bundled index)", flush=True)
    recall, fpr, n_neg = evaluate(screener, labelled)
    figure(figures, "labelled: positives", len(positives), "pairs")
    figure(figures, "labelled: negatives", n_neg, "names")
    for kind, value in sorted(recall.items()):
        figure(figures, f"labelled: recall, {kind}", value, "%")
    figure(figures, "labelled: false-positive rate", fpr, "%")

    print("2. synthetic list grown to 1,000,000 names", flush=True)
    start = time.perf_counter()
    synthetic = synthetic_list(index, TARGET_NAMES - index.name_count, rng)
    gen_s = time.perf_counter() - start
    del screener, index
    gc.collect()
    rss_before = rss_mb()
    start = time.perf_counter()
    big = Screener([*lists, synthetic])
    big_build_s = time.perf_counter() - start
    gc.collect()
    big_rss = rss_mb() - rss_before
    figure(figures, "1M: names indexed", big.index.name_count, "names")
    figure(figures, "1M: distinct tokens", len(big.index.vocab), "tokens")
    figure(figures, "1M: synthetic list generation time", gen_s, "s")
    figure(figures, "1M: load (index build) time", big_build_s, "s", TARGET_LOAD_S)
    figure(figures, "1M: index memory (RSS delta)", big_rss, "MiB")

    synthetic_queries = []
    for entity in rng.sample(synthetic.entities, 2000):
        tokens = normalise_name(entity.name)
        if len(tokens) >= 2 and rng.random() < 0.5:
            i = rng.randrange(len(tokens))
            if len(tokens[i]) >= 5:
                tokens = (*tokens[:i], typo(tokens[i], rng), *tokens[i + 1 :])
        synthetic_queries.append(" ".join(tokens).title())
    big_queries = synthetic_queries + queries
    rng.shuffle(big_queries)
    median, p99 = latency(big, big_queries)
    figure(figures, "1M: median latency per name", median, "ms")
    figure(figures, "1M: p99 latency per name", p99, "ms", TARGET_P99_MS)

    big_labelled = still_negative(big.index, labelled)
    recall, fpr, big_negatives = evaluate(big, big_labelled)
    figure(figures, "1M: recall, all positives", recall["all positives"], "%")
    figure(figures, "1M: negatives (not contained in any of the 1M names)", big_negatives, "names")
    figure(figures, "1M: false-positive rate", fpr, "%")
    figure(figures, "benchmark wall time", time.perf_counter() - started, "s")

    result = {
        "command": ".venv/bin/python benchmarks/screening_bench.py",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "figures": figures,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
