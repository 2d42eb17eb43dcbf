"""Sanctions screening quality: labelled name pairs and false alerts on customer names.

Run from the project root:  .venv/bin/python benchmarks/screening_quality_bench.py [--part held]
Writes benchmarks/results/screening_quality.json (only for the held-back part, the default).

1. The labelled pairs of tests/data/screening_pairs/pairs.csv (how they were made: README.md
   there). The index holds every list sample of tests/data/sanctions, less the aliases that
   some pair uses as its query (held out, so an alias never finds itself). A pair counts as
   predicted "match" when screening its query (with the date of birth, country and type the
   pair gives) returns a hit on the pair's target entity at the screening threshold.
   Precision, recall and F1 over the pairs of the chosen part; candidate recall: the share of
   true matches whose target retrieval passes on to scoring at all. ``--part tune`` is for
   tuning; the held-back part is only measured.
2. Customers: 10,000 random customer names from Faker's name tables (given and family names
   of several countries, weighted by frequency where Faker has frequencies: US census and
   social-security data), name only, screened against the full lists; the false-alert rate is
   the share with any hit. Faker's tables are not the matcher's.
3. Latency of one screen() call over all these queries on the bundled lists (wall and CPU
   time; the machine is shared, so CPU time is the steadier figure).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from faker import Faker  # noqa: E402
from host import write_results  # noqa: E402
from rapidfuzz import fuzz  # noqa: E402

from compliance.screening import (  # noqa: E402
    EntityType,
    SanctionsList,
    Screener,
    load_directory,
)
from compliance.screening.normalise import normalise_name  # noqa: E402

DATA = ROOT / "tests" / "data" / "sanctions"
PAIRS = ROOT / "tests" / "data" / "screening_pairs" / "pairs.csv"
RESULTS = ROOT / "benchmarks" / "results" / "screening_quality.json"
SEED = 20261205
CUSTOMERS = 10_000
# Faker locales for customer names, with their share of customers (a European bank's mix).
LOCALES = {
    "en_US": 20,
    "en_GB": 12,
    "de_DE": 8,
    "fr_FR": 8,
    "es_ES": 6,
    "es_MX": 5,
    "pt_BR": 5,
    "it_IT": 5,
    "nl_NL": 3,
    "pl_PL": 4,
    "tr_TR": 4,
    "ru_RU": 3,
    "uk_UA": 2,
    "ar_AA": 3,
    "fa_IR": 2,
    "hi_IN": 3,
    "zh_CN": 2,
    "ja_JP": 1,
    "ko_KR": 1,
    "vi_VN": 1,
    "id_ID": 2,
}

Figures = dict[str, dict[str, object]]


@dataclass(frozen=True)
class LabelledPair:
    pair_id: str
    split: str
    cls: str
    match: bool
    query: str
    query_type: str
    query_dob: str
    query_country: str
    target: str
    held_out_alias: str


def read_pairs(path: Path = PAIRS) -> list[LabelledPair]:
    with path.open(encoding="utf-8", newline="") as f:
        return [
            LabelledPair(
                r["pair_id"],
                r["split"],
                r["class"],
                r["label"] == "match",
                r["query"],
                r["query_type"],
                r["query_dob"],
                r["query_country"],
                r["target_entity_id"],
                r["held_out_alias"],
            )
            for r in csv.DictReader(f)
        ]


def without_held_out(
    lists: Sequence[SanctionsList], pairs: Sequence[LabelledPair]
) -> list[SanctionsList]:
    gone: dict[str, set[str]] = defaultdict(set)
    for p in pairs:
        if p.held_out_alias:
            gone[p.target].add(p.held_out_alias)
    out = []
    for lst in lists:
        entities = tuple(
            replace(e, aliases=tuple(a for a in e.aliases if a.name not in gone[e.entity_id]))
            if e.entity_id in gone
            else e
            for e in lst.entities
        )
        out.append(replace(lst, entities=entities))
    return out


_TYPES = {"person": EntityType.PERSON, "entity": EntityType.ENTITY, "vessel": EntityType.VESSEL}


@dataclass
class Outcome:
    pair: LabelledPair
    predicted: bool
    retrieved: bool
    best_score: float | None  # the target's score, if it was a hit


def judge(screener: Screener, pair: LabelledPair) -> Outcome:
    entity_type = _TYPES.get(pair.query_type)
    hits = screener.screen(
        pair.query,
        dob=pair.query_dob or None,
        countries=[pair.query_country] if pair.query_country else (),
        entity_type=entity_type,
        max_hits=1000,
    )
    mine = [h for h in hits if h.entity_id == pair.target]
    retrieved = bool(mine) or pair.target in screener.candidate_entity_ids(
        pair.query, entity_type=entity_type
    )
    return Outcome(pair, bool(mine), retrieved, mine[0].score if mine else None)


def shares_a_word(screener: Screener, pair: LabelledPair) -> bool:
    """Does a word of the query (as the matcher reads it: romanised, lower case) look like a
    word of any name the pair's target keeps in the index, 70 % alike or more (rapidfuzz's
    plain ratio)?"""
    mine = normalise_name(pair.query)
    index = screener.index
    entity = next(e for e in index.entities if e.entity_id == pair.target)
    theirs = {t for name, _ in entity.all_names() for t in normalise_name(name)}
    return any(fuzz.ratio(q, t) >= 70 for q in mine for t in theirs)


def pair_figures(outcomes: Sequence[Outcome]) -> tuple[float, float, float, float]:
    tp = sum(o.predicted and o.pair.match for o in outcomes)
    fp = sum(o.predicted and not o.pair.match for o in outcomes)
    fn = sum(not o.predicted and o.pair.match for o in outcomes)
    positives = [o for o in outcomes if o.pair.match]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    candidate_recall = sum(o.retrieved for o in positives) / max(1, len(positives))
    return precision, recall, f1, candidate_recall


def customer_names(count: int, seed: int) -> list[str]:
    fakers = {}
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(seed)
        fakers[locale] = fake
    rng = random.Random(seed)
    names: list[str] = []
    locales, weights = list(LOCALES), list(LOCALES.values())
    for locale in rng.choices(locales, weights, k=count):
        fake = fakers[locale]
        given = fake.first_name()
        if rng.random() < 0.2:
            given = f"{given} {fake.first_name()}"
        names.append(f"{given} {fake.last_name()}")
    return names


def figure(
    figures: Figures, name: str, value: float, unit: str, target: float | None = None
) -> None:
    figures[name] = {"value": round(value, 4), "unit": unit, "target": target}
    goal = f" (target {target:g})" if target is not None else ""
    print(f"  {name}: {value:,.4g} {unit}{goal}", flush=True)


def machine() -> str:
    u = platform.uname()
    return (
        f"{u.system} {u.release} {u.machine}; {os.cpu_count()} CPUs (benchmark pinned to 1); "
        f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.1f} at the end"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--part", choices=("held", "tune", "all"), default="held")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--show", type=int, default=0, help="print this many errors per class")
    parser.add_argument("--no-customers", action="store_true")
    args = parser.parse_args(argv)
    print(f"random seed {args.seed} (replay: --seed {args.seed}); part {args.part}", flush=True)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    figures: Figures = {}
    lists = load_directory(DATA)
    pairs = read_pairs()
    chosen = [p for p in pairs if args.part == "all" or p.split == args.part]
    start = time.perf_counter()
    held = Screener(without_held_out(lists, pairs))
    figure(figures, "pairs: index build time", time.perf_counter() - start, "s")
    outcomes = [judge(held, p) for p in chosen]
    precision, recall, f1, candidate_recall = pair_figures(outcomes)
    figure(figures, "pairs: count", len(chosen), "pairs")
    figure(figures, "pairs: true matches", sum(p.match for p in chosen), "pairs")
    figure(figures, "pairs: precision", precision, "fraction", 0.85)
    figure(figures, "pairs: recall", recall, "fraction")
    figure(figures, "pairs: F1", f1, "fraction", 0.85)
    figure(figures, "pairs: candidate recall", candidate_recall, "fraction", 0.98)
    # How many true matches share no word at all (70 % alike, letter for letter) with any
    # name their entity keeps in the index: retrieval by words cannot reach those.
    reachable = [o for o in outcomes if o.pair.match and shares_a_word(held, o.pair)]
    positives = sum(o.pair.match for o in outcomes)
    figure(
        figures,
        "pairs: true matches sharing no word with any name of their entity",
        (positives - len(reachable)) / max(1, positives),
        "fraction",
    )
    figure(
        figures,
        "pairs: candidate recall, true matches sharing a word with their entity",
        sum(o.retrieved for o in reachable) / max(1, len(reachable)),
        "fraction",
    )
    by_class: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_class[o.pair.cls].append(o)
    for cls, group in sorted(by_class.items()):
        right = sum(o.predicted == o.pair.match for o in group)
        figure(figures, f"pairs: correct, {cls}", right / len(group), "fraction")
        if args.show:
            for o in [o for o in group if o.predicted != o.pair.match][: args.show]:
                print(
                    f"      wrong: {o.pair.query!r} -> {o.pair.target} "
                    f"(match={o.pair.match}, retrieved={o.retrieved}, score={o.best_score})"
                )
    del held

    full = Screener(lists)
    queries = [p.query for p in pairs]
    if not args.no_customers:
        names = customer_names(CUSTOMERS, args.seed)
        alerts = Counter[str]()
        for name in names:
            if full.screen(name):
                alerts[name] += 1
        rate = 100.0 * sum(alerts.values()) / len(names)
        figure(figures, "customers: screened", len(names), "names")
        figure(figures, "customers: false-alert rate", rate, "%", 0.5)
        if args.show:
            for name in list(alerts)[: args.show]:
                hit = full.screen(name)[0]
                print(f"      alert: {name!r} -> {hit.entity_name!r} {hit.score}")
        queries += names
    random.Random(args.seed).shuffle(queries)
    for q in queries[:200]:
        full.screen(q)
    wall: list[float] = []
    cpu: list[float] = []
    for q in queries:
        w0, c0 = time.perf_counter(), time.thread_time()
        full.screen(q)
        cpu.append((time.thread_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    wall.sort()
    figure(figures, "bundled: median latency per name", statistics.median(wall), "ms")
    figure(figures, "bundled: p99 latency per name", wall[int(len(wall) * 0.99)], "ms", 2.0)
    figure(figures, "bundled: mean CPU time per name", statistics.fmean(cpu), "ms")
    cpu.sort()
    figure(figures, "bundled: p99 CPU time per name", cpu[int(len(cpu) * 0.99)], "ms")
    if args.part == "held" and not args.no_customers:
        write_results(
            RESULTS,
            f".venv/bin/python benchmarks/screening_quality_bench.py --seed {args.seed}",
            machine(),
            figures,
        )
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
