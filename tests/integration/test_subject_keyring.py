"""The processors' keyring on the real PostgreSQL: keys made once and shared by every process,
a batch's keys read in one round of statements, and an erasure seen within the cache's
lifetime."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import Engine, event

from compliance.audit.subject_keys import erase
from compliance.sealing import open_text, seal_text
from compliance.subject_keyring import DatabaseKeyring


class Statements:
    """The SQL statements an engine runs while this is attached."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen.append(statement)

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self.seen

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


def test_a_key_made_by_one_process_opens_in_another(engine: Engine) -> None:
    subject = f"C-{uuid.uuid4().hex[:10]}"
    producer, consumer = DatabaseKeyring(engine), DatabaseKeyring(engine)
    assert consumer.opening_key(subject) is None  # readers never make keys
    key = producer.sealing_key(subject)
    assert key is not None
    sealed = seal_text(key, "INGRID HALVORSEN")
    opening = DatabaseKeyring(engine).opening_key(subject)
    assert opening is not None and open_text(opening, sealed) == "INGRID HALVORSEN"


def test_a_batch_of_new_subjects_costs_one_round_of_statements_and_then_none(
    engine: Engine,
) -> None:
    subjects = [f"C-{uuid.uuid4().hex[:10]}" for _ in range(300)]
    keyring = DatabaseKeyring(engine)
    with Statements(engine) as seen:
        keyring.prefetch(subjects)
        made = len(seen)
        assert all(keyring.sealing_key(s) is not None for s in subjects)
        assert all(keyring.opening_key(s) is not None for s in subjects)
    assert 1 <= made <= 3 and len(seen) == made  # select, insert the new ones, select them


def test_an_erased_subject_gets_no_key_once_the_cache_has_expired(engine: Engine) -> None:
    subject = f"C-{uuid.uuid4().hex[:10]}"
    keyring = DatabaseKeyring(engine, ttl_s=0.5)
    assert keyring.sealing_key(subject) is not None
    assert erase(engine, subject)
    deadline = time.monotonic() + 5
    while keyring.sealing_key(subject) is not None:
        assert time.monotonic() < deadline, "the destroyed key is still handed out"
        time.sleep(0.1)
    assert keyring.is_erased(subject) and keyring.opening_key(subject) is None
    keyring.prefetch([subject])  # a tombstone: no new key is made
    assert keyring.sealing_key(subject) is None
    assert DatabaseKeyring(engine).sealing_key(subject) is None


def test_a_batch_holding_a_subject_with_a_nul_keys_the_others_and_never_that_one(
    engine: Engine,
) -> None:
    """Such a record is dead-lettered when it is decoded; its key must not stop the batch's
    key read first (PostgreSQL refuses NUL in text with an error no outage policy knows)."""
    good = f"C-{uuid.uuid4().hex[:10]}"
    keyring = DatabaseKeyring(engine)
    keyring.prefetch([good, good + "\x00"])
    assert keyring.sealing_key(good) is not None
