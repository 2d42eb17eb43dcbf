"""Tiny OFAC SDN CSV file sets written by tests (the official format: no header, 12
primary columns, ``-0-`` for empty)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_EMPTY = "-0- "


def sdn_row(ent_num: int, name: str, kind: str = "individual", remarks: str = "") -> str:
    fields = [str(ent_num), f'"{name}"', f'"{kind}"' if kind else _EMPTY, '"SDGT"']
    fields += [_EMPTY] * 7 + [f'"{remarks}"' if remarks else _EMPTY]
    return ",".join(fields)


def write_sdn(
    folder: Path,
    people: Sequence[tuple[int, str, str]],
    aliases: Sequence[tuple[int, str]] = (),
) -> Path:
    """sdn.csv (ent_num, name, remarks) and, with aliases, alt.csv in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [sdn_row(num, name, remarks=remarks) for num, name, remarks in people]
    (folder / "sdn.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    if aliases:
        alts = [f'{num},{i},"aka","{alias}",-0- ' for i, (num, alias) in enumerate(aliases, 1)]
        (folder / "alt.csv").write_text("\n".join(alts) + "\n", encoding="utf-8")
    return folder
