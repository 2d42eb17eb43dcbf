"""CPU time of screening names whose family name no list holds (a made-up word).

Run from the project root:  .venv/bin/python benchmarks/screening_novel_names.py [--names N]
    [--synthetic N]

A brand-new customer whose distinctive word is near nothing in the lists' vocabulary is the
common case of a bank's screening and the worst case of any per-word cache: the rules
benchmark screens one such person per document. This measures the CPU time per ``screen()``
call (thread CPU time; the machine may be shared) for three kinds of query, each word new to
the screener's caches: two frequent given names with a family name made of a real family
name and a serial number ("ANNA DANIEL HALVORSEN00042", as the rules benchmark makes them),
two given names and a pronounceable made-up family name ("Anna Maria Vorteklan"), and a
one-word made-up name. ``--synthetic`` adds made-up entities built from the lists' words to
reach that many indexed names (as the screening benchmark's 1M index does). Prints the
figures; writes nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from compliance.screening import Screener, load_directory  # noqa: E402

DATA = ROOT / "tests" / "data" / "sanctions"
SEED = 20261206
GIVEN = ["INGRID", "DANIEL", "ANNA", "MARIA", "JONAS", "AMINA", "WEI", "LUCAS", "SOFIA", "OMAR"]
FAMILY = ["HALVORSEN", "OKAFOR", "ERIKSSON", "BERG", "NAKAMURA", "SILVA", "MOREAU", "KOWALSKI"]
ONSETS = ["b", "br", "d", "dr", "f", "g", "gl", "k", "kl", "m", "n", "p", "pr", "r", "s", "st",
          "t", "tr", "v", "z"]  # fmt: skip
VOWELS = ["a", "e", "i", "o", "u", "ei", "ou"]
CODAS = ["", "n", "r", "l", "k", "s", "x"]


def made_up_word(rng: random.Random) -> str:
    return "".join(
        rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
        for _ in range(rng.randint(2, 4))
    )


def queries(kind: str, count: int, rng: random.Random) -> list[str]:
    if kind == "serial family name":
        return [
            f"{rng.choice(GIVEN)} {rng.choice(GIVEN)} {rng.choice(FAMILY)}{i:05d}"
            for i in range(count)
        ]
    if kind == "made-up family name":
        return [
            f"{rng.choice(GIVEN)} {rng.choice(GIVEN)} {made_up_word(rng).title()}"
            for _ in range(count)
        ]
    return [made_up_word(rng).title() for _ in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--names", type=int, default=2000, help="queries per kind")
    parser.add_argument("--synthetic", type=int, default=0, help="indexed names to reach")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    print(f"random seed {args.seed} (replay: --seed {args.seed})", flush=True)
    rng = random.Random(args.seed)
    lists = load_directory(DATA)
    screener = Screener(lists)
    if args.synthetic > screener.index.name_count:
        from screening_bench import synthetic_list

        extra = synthetic_list(screener.index, args.synthetic - screener.index.name_count, rng)
        screener = Screener([*lists, extra])
    print(f"indexed names: {screener.index.name_count:,}", flush=True)
    for name in ("DANIEL ERIKSSON", "Anna Berg"):  # warm the given names' own caches
        screener.screen(name)
    for kind in ("serial family name", "made-up family name", "one made-up word"):
        cpu: list[float] = []
        hits = 0
        for query in queries(kind, args.names, rng):
            start = time.thread_time()
            hits += bool(screener.screen(query))
            cpu.append((time.thread_time() - start) * 1e6)
        cpu.sort()
        print(
            f"  {kind}: mean {statistics.fmean(cpu):,.0f} us, median "
            f"{statistics.median(cpu):,.0f} us, p99 {cpu[int(len(cpu) * 0.99)]:,.0f} us "
            f"CPU per name; {hits} of {len(cpu)} with a hit",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
