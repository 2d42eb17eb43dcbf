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


@dataclass(frozen=True)
class Erasure:
    subject_id: str
    key_destroyed: bool
    checker_documents_deleted: int
    cached_answers_deleted: int


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
    key_destroyed = destroy_key(engine, subject_id)
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
    return Erasure(subject_id, key_destroyed, documents, cached)
