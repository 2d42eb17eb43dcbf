"""A data subject's right to erasure, everywhere the product keeps their personal data.

``erase_subject`` does, for one subject (a customer id, else a document id):

1. destroys the subject's key (crypto-shredding, ``audit.subject_keys``), the one key that
   sealed the subject's personal data everywhere we keep it: in the audit trail (the rows and
   their hashes stay, so the chain still verifies and the decisions remain on record) and in
   the Kafka topics, where producers seal personal fields (document references, extracted
   fields, check inputs and explanations, exception reasons and details, dead letters' errors
   and original bytes, clearance reasons; ``compliance.sealing``), and in the officers'
   reasons kept in ``sanctions_clearances``. None of it can be read afterwards. A tombstone
   stays: the subject is never given a new key, and a record of theirs that arrives later is
   refused by the processors with a ``subject_erased`` exception naming only the ids
   (``compliance.erased_subjects``);
2. waits until no processor can still hold the key in its cache (``settle_s``: the keyring's
   cache lifetime and a margin), so nothing is derived from the subject's data afterwards;
3. the checker's memory of the customer (``rules_customer_documents``: names, birth dates and
   addresses read from earlier documents, for cross-document checks) is deleted, in this
   deployment's scope. Consent statements stay: they hold no personal details beyond the
   customer id, and the record of a consent or its withdrawal is evidence the bank must keep;
4. Claude's cached answers for the subject's documents (``llm_classification_cache``, keyed by
   the document's SHA-256, which the audit trail keeps readable) are deleted, so the extracted
   fields do not outlive the erasure there.

A payment's data subject is its account (the Kafka key of ``transactions.submitted``, which
keeps an account's payments in order): its personal fields (counterparty name and account,
reference text) are sealed with the account's key, as are the screener's check inputs,
exceptions and dead letters about it; the screener's state keeps its counterparties only as
pseudonyms under that key. Erasing a customer therefore also destroys the keys of the accounts
the audit trail's payments name the customer as owner of (``Erasure.accounts_erased``), and
any account id can be erased by itself. A payment of an erased account or owner that arrives
later is refused by the screener (``compliance.transactions.erasure``).

Each step is idempotent; running the erasure again reports nothing left to do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from compliance.audit.subject_keys import erase as destroy_key
from compliance.subject_keyring import KEY_CACHE_TTL_S

# A batch a processor started with the key still cached finishes within this margin.
SETTLE_MARGIN_S = 5.0

_DOCUMENT_HASHES = text(
    "SELECT DISTINCT coalesce(payload->>'document_sha256', payload->>'sha256') "
    "FROM audit_events WHERE subject_id = :s "
    "AND event_type IN ('DocumentArrived', 'DocumentClassified')"
)


# The accounts whose payments name the subject as their owner (a scan of the payments: an
# erasure is rare, and no index on the payload is kept for it).
_OWNED_ACCOUNTS = text(
    "SELECT DISTINCT subject_id FROM audit_events "
    "WHERE event_type = 'TransactionSubmitted' AND payload->>'account_owner' = :s "
    "AND subject_id IS NOT NULL AND subject_id <> :s"
)


@dataclass(frozen=True)
class Erasure:
    subject_id: str
    key_destroyed: bool
    checker_documents_deleted: int
    cached_answers_deleted: int
    accounts_erased: tuple[str, ...] = ()  # the subject's accounts, keys destroyed now


def _exists(conn: Connection, table: str) -> bool:
    return conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is not None


def erase_subject(
    engine: Engine,
    subject_id: str,
    scope: str,
    settle_s: float = KEY_CACHE_TTL_S + SETTLE_MARGIN_S,
) -> Erasure:
    """Erase ``subject_id``'s personal data (see the module's description); ``scope`` is the
    deployment's topic prefix, which the checker's state is kept under."""
    with engine.connect() as conn:
        hashes = [h for (h,) in conn.execute(_DOCUMENT_HASHES, {"s": subject_id}) if h]
        accounts = sorted(a for (a,) in conn.execute(_OWNED_ACCOUNTS, {"s": subject_id}))
    key_destroyed = destroy_key(engine, subject_id)
    erased_accounts = tuple(a for a in accounts if destroy_key(engine, a))
    time.sleep(settle_s)  # bounded: processors' cached copies of the key expire meanwhile
    documents = cached = 0
    with engine.begin() as conn:
        if _exists(conn, "rules_customer_documents"):
            documents = conn.execute(
                text(
                    "DELETE FROM rules_customer_documents WHERE scope = :scope AND customer_id = :s"
                ),
                {"scope": scope, "s": subject_id},
            ).rowcount
        if hashes and _exists(conn, "llm_classification_cache"):
            cached = conn.execute(
                text("DELETE FROM llm_classification_cache WHERE content_sha256 = ANY(:h)"),
                {"h": hashes},
            ).rowcount
    return Erasure(subject_id, key_destroyed, documents, cached, erased_accounts)
