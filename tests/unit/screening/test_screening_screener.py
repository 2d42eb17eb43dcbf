"""The screener's hot swap under concurrent queries, failed loads, and the allowlist hook."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from compliance.screening import (
    ListLoadError,
    SanctionsList,
    Screener,
    ScreeningIndex,
    entity_version,
    load_ofac_sdn,
)


def _word(seed: str) -> str:
    """A made-up, reproducible 9-letter word; different seeds give unrelated words."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(chr(ord("a") + b % 26) for b in digest[:9]).title()


def _name(version: str, i: int) -> str:
    return f"{_word(f'{version}-given-{i}')} {_word(f'{version}-family-{i}')}"


def _two_versions(make: type) -> tuple[SanctionsList, SanctionsList]:
    """Version A lists 200 made-up people, version B 200 others; every entity of a version
    carries that version string."""
    a = make.make_list(*[make.person(f"a{i}", _name("A", i), version="A") for i in range(200)])
    b = make.make_list(*[make.person(f"b{i}", _name("B", i), version="B") for i in range(200)])
    return a, b


def test_hot_swap_under_concurrent_queries(make: type) -> None:
    list_a, list_b = _two_versions(make)
    screener = Screener([list_a])
    queries = [_name("A", i) for i in range(0, 200, 7)]
    queries += [_name("B", i) for i in range(0, 200, 7)]
    queries_a = set(queries[: len(queries) // 2])
    stop = threading.Event()
    problems: list[str] = []
    seen: set[str] = set()
    counts = [0]
    overlaps = [0]

    def worker() -> None:
        while not stop.is_set():
            for query in queries:
                index = screener.index
                hits = screener.screen(query)
                counts[0] += 1
                versions = {h.list_version for h in hits}
                seen.update(versions)
                # a query sees one complete index: at most one version, and a name of the
                # version it sees is always found
                if len(versions) > 1:
                    problems.append(f"{query}: mixed versions {versions}")
                expected = "A" if query in queries_a else "B"
                if index is not screener.index:
                    overlaps[0] += 1  # a swap happened while this call ran
                else:  # no swap during the call: it used ``index``
                    current = index.entities[0].list_version
                    want = [expected] if current == expected else []
                    if [h.list_version for h in hits] != want:
                        problems.append(f"{query}: {hits!r} from index {current}")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: calls interleave with the builds
    deadline = time.monotonic() + 20
    try:
        for thread in threads:
            thread.start()
        round_no = 0
        # swap B, A, B, A... until enough calls ran while a swap happened, ending on A
        while round_no < 6 or overlaps[0] < 5 or round_no % 2 == 1:
            screener.load([list_b if round_no % 2 == 0 else list_a])
            round_no += 1
            if time.monotonic() > deadline and round_no % 2 == 0:
                break
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    state = f"calls={counts[0]} overlaps={overlaps[0]} rounds={round_no} seen={seen}"
    assert not any(thread.is_alive() for thread in threads)
    assert problems == [], state
    assert overlaps[0] >= 5, state
    assert seen == {"A", "B"}, state  # queries ran on both sides of the swaps
    # after the last swap (to A) only A answers
    assert screener.screen(_name("B", 7)) == []
    assert [h.list_version for h in screener.screen(_name("A", 7))] == ["A"]


def test_load_swaps_only_a_complete_index(make: type) -> None:
    list_a, list_b = _two_versions(make)
    screener = Screener([list_a])
    old = screener.index
    new = screener.load([list_b])
    assert screener.index is new and new is not old
    assert isinstance(new, ScreeningIndex) and len(new) == 200
    assert old.name_count == 200  # the old index is untouched, for calls still using it


def test_failed_load_keeps_the_previous_lists(make: type, tmp_path: Path) -> None:
    list_a, list_b = _two_versions(make)
    screener = Screener([list_a])
    broken = tmp_path / "sdn.csv"
    broken.write_text('1,"DOE, John","individual","SDGT",-0- ,-0- ,-0- \n')

    def reload() -> None:
        screener.load([load_ofac_sdn(broken)])

    with pytest.raises(ListLoadError, match=r"sdn\.csv, line 1"):
        reload()
    assert [h.list_version for h in screener.screen(_name("A", 1))] == ["A"]

    def lists_failing_half_way() -> Iterator[SanctionsList]:
        yield list_b
        raise RuntimeError("disk went away half-way")

    with pytest.raises(RuntimeError):
        screener.load(lists_failing_half_way())
    assert [h.list_version for h in screener.screen(_name("A", 1))] == ["A"]


def test_lists_report_what_is_loaded(bundled_screener: Screener) -> None:
    sources = [info.source for info in bundled_screener.lists]
    assert sources[:3] == ["OFAC-SDN", "OFAC-CONS", "UN-SC"]
    assert all(info.version.startswith("sha256:") for info in bundled_screener.lists)
    assert sum(info.entity_count for info in bundled_screener.lists) == len(bundled_screener.index)


# ---- allowlist -------------------------------------------------------------------------


class Clearances:
    """An in-memory stand-in for the officers' clearance store."""

    def __init__(self) -> None:
        self.cleared: set[tuple[str, str, str]] = set()
        self.calls: list[tuple[str, str, str]] = []

    def is_cleared(self, customer_id: str, entity_id: str, entity_version: str) -> bool:
        self.calls.append((customer_id, entity_id, entity_version))
        return (customer_id, entity_id, entity_version) in self.cleared


def test_allowlist_suppresses_cleared_hits(small_list: SanctionsList) -> None:
    store = Clearances()
    screener = Screener([small_list], is_cleared=store.is_cleared)
    (hit,) = screener.screen("Vladimir Putin", customer_id="c-1")
    store.cleared.add(("c-1", hit.entity_id, hit.entity_version))
    assert screener.screen("Vladimir Putin", customer_id="c-1") == []
    # only for that customer
    assert [h.entity_id for h in screener.screen("Vladimir Putin", customer_id="c-2")] == [
        hit.entity_id
    ]
    # without a customer the hook is not asked
    calls = len(store.calls)
    assert len(screener.screen("Vladimir Putin")) == 1
    assert len(store.calls) == calls


def test_changed_entity_is_no_longer_cleared(make: type, small_list: SanctionsList) -> None:
    store = Clearances()
    screener = Screener([small_list], is_cleared=store.is_cleared)
    (hit,) = screener.screen("Vladimir Putin", customer_id="c-1")
    store.cleared.add(("c-1", hit.entity_id, hit.entity_version))

    # the same content in a newer file: same entity version, still cleared
    same = [dataclasses.replace(e, list_version="v2") for e in small_list.entities]
    screener.load([make.make_list(*same, sha="1" * 64)])
    assert screener.screen("Vladimir Putin", customer_id="c-1") == []

    # the list changes what it says about the entity: a new version, the hit is back
    changed = [
        dataclasses.replace(e, remarks="new information") if e.entity_id == hit.entity_id else e
        for e in same
    ]
    screener.load([make.make_list(*changed, sha="2" * 64)])
    (again,) = screener.screen("Vladimir Putin", customer_id="c-1")
    assert again.entity_id == hit.entity_id
    assert again.entity_version != hit.entity_version


def test_entity_version_is_stable_and_content_based(small_list: SanctionsList) -> None:
    entity = small_list.entities[0]
    assert entity_version(entity) == entity_version(dataclasses.replace(entity))
    # order of repeated fields and the list version do not matter
    reordered = dataclasses.replace(
        entity, aliases=tuple(reversed(entity.aliases)), list_version="other"
    )
    assert entity_version(reordered) == entity_version(entity)
    assert entity_version(dataclasses.replace(entity, name="PUTIN, Vladimir")) != entity_version(
        entity
    )
    assert entity_version(dataclasses.replace(entity, dates_of_birth=())) != entity_version(entity)
