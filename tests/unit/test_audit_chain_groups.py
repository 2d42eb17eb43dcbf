"""How a batch is shared out between the audit writer's connections: whole chains, in order,
in groups of about the same size."""

from __future__ import annotations

from compliance.audit.writer import Prepared, chain_groups


def row(topic: str, partition: int, offset: int) -> Prepared:
    return Prepared(f"id-{topic}-{partition}-{offset}", topic, partition, offset, "", b"", b"")


def batch() -> list[Prepared]:
    rows = [row("checks", p, o) for o in range(10) for p in range(3)]
    rows += [row("arrived", 0, o) for o in range(6)]
    rows += [row("classified", 1, o) for o in range(4)]
    return rows


def test_every_chain_is_whole_in_one_group_in_its_order() -> None:
    rows = batch()
    groups = chain_groups(rows, 2)
    assert len(groups) == 2
    assert sorted(p.event_id for g in groups for p in g) == sorted(p.event_id for p in rows)
    for group in groups:
        for chain in {p.chain for p in group}:
            offsets = [p.offset for p in group if p.chain == chain]
            assert offsets == sorted(offsets)
            assert len(offsets) == sum(1 for p in rows if p.chain == chain)  # none elsewhere


def test_groups_are_about_the_same_size() -> None:
    sizes = sorted(len(g) for g in chain_groups(batch(), 2))
    assert sizes == [20, 20]  # chains of 10, 10, 10, 6, 4 rows


def test_one_connection_or_one_chain_keeps_the_batch_whole() -> None:
    rows = batch()
    assert chain_groups(rows, 1) == [rows]
    single = [row("checks", 0, o) for o in range(5)]
    assert chain_groups(single, 4) == [single]


def test_never_more_groups_than_chains() -> None:
    rows = [row("checks", p, 0) for p in range(2)]
    assert len(chain_groups(rows, 8)) == 2
