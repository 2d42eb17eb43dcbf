"""A keyring that follows erasures (the transaction screener's: it reads one record at a
time) keeps the keys it has read past their cache lifetime, asking only which subjects were
erased since it last looked; an erasure still stops a key's use within that lifetime, and a
subject with no key yet is asked about again."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import Engine

from compliance.audit.subject_keys import erase
from compliance.sealing import open_text_cached, seal_text
from compliance.subject_keyring import DatabaseKeyring

from .test_subject_keyring import Statements

TTL_S = 0.3


def past_the_lifetime() -> None:
    time.sleep(TTL_S * 1.5)  # what is tested is a lifetime: the clock must pass it


def test_keys_outlive_the_lifetime_at_one_query_per_lifetime_and_no_reread(
    engine: Engine,
) -> None:
    subjects = [f"A-{uuid.uuid4().hex[:10]}" for _ in range(50)]
    keyring = DatabaseKeyring(engine, ttl_s=TTL_S, follow_erasures=True)
    keyring.prefetch(subjects)
    keys = {s: keyring.sealing_key(s) for s in subjects}
    past_the_lifetime()
    with Statements(engine) as seen:
        for _ in range(3):
            assert {s: keyring.sealing_key(s) for s in subjects} == keys
            assert not any(keyring.is_erased(s) for s in subjects)
    assert len(seen) == 2  # the database's time and the erasures since: no key read again
    expiring = DatabaseKeyring(engine, ttl_s=TTL_S)
    expiring.prefetch(subjects)
    past_the_lifetime()
    with Statements(engine) as seen:
        for subject in subjects:
            expiring.sealing_key(subject)
    assert len(seen) >= len(subjects)  # the default keyring reads each key again


def test_an_erasure_stops_a_followed_key_within_the_lifetime_and_others_keep_theirs(
    engine: Engine,
) -> None:
    erased, kept, later = (f"A-{uuid.uuid4().hex[:10]}" for _ in range(3))
    keyring = DatabaseKeyring(engine, ttl_s=TTL_S, follow_erasures=True)
    keyring.prefetch([erased, kept])
    kept_key = keyring.sealing_key(kept)
    assert keyring.opening_key(later) is None  # no key yet
    assert erase(engine, erased)
    deadline = time.monotonic() + 5
    while keyring.sealing_key(erased) is not None:
        assert time.monotonic() < deadline, "the destroyed key is still handed out"
        time.sleep(0.05)
    assert time.monotonic() < deadline
    assert keyring.is_erased(erased) and keyring.opening_key(erased) is None
    assert keyring.sealing_key(kept) == kept_key and not keyring.is_erased(kept)
    made = DatabaseKeyring(engine).sealing_key(later)  # another process makes its key
    assert made is not None
    past_the_lifetime()
    opened = keyring.opening_key(later)  # "no key" is not kept past the lifetime
    assert opened is not None and opened.key_id == made.key_id
    assert erase(engine, kept)
    past_the_lifetime()
    assert keyring.is_erased(kept) and keyring.sealing_key(kept) is None


def test_a_followed_key_forgets_the_values_it_sealed_and_opened_after_its_lifetime(
    engine: Engine,
) -> None:
    subject = f"A-{uuid.uuid4().hex[:10]}"
    keyring = DatabaseKeyring(engine, ttl_s=TTL_S, follow_erasures=True)
    key = keyring.sealing_key(subject)
    assert key is not None
    open_text_cached(key, seal_text(key, "Anna Berg"))
    assert key.sealed and key.opened  # remembered for a while
    past_the_lifetime()
    assert keyring.sealing_key(subject) is key  # still in use, after one look at erasures
    assert not key.sealed and not key.opened


def test_its_own_lookup_connection_never_returns_to_the_pool_in_autocommit(
    engine: Engine,
) -> None:
    # The keyring reads single keys on an autocommit connection of its own; handed back to
    # the pool, it would break every later user's savepoints and named cursors.
    import gc

    from sqlalchemy import create_engine, text

    small = create_engine(engine.url, pool_size=1, max_overflow=0)
    try:
        keyring = DatabaseKeyring(small, ttl_s=TTL_S, follow_erasures=True)
        subject = f"A-{uuid.uuid4().hex[:10]}"
        keyring.prefetch([subject])
        keyring._entries.clear()  # forget it: the next read is a single lookup
        assert keyring.opening_key(subject) is not None
        del keyring
        gc.collect()
        with small.connect() as conn:
            with conn.begin():
                conn.execute(text("SAVEPOINT after_the_keyring"))
                conn.execute(text("RELEASE SAVEPOINT after_the_keyring"))
            assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
    finally:
        small.dispose()
