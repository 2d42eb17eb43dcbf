"""What a stage does with a record of a data subject who was erased.

Erasure is final: once ``compliance gdpr erase`` has destroyed a subject's key, no stage
processes personal data of that subject again, whether the record was produced before the
erasure (and its sealed values can no longer be opened) or arrives afterwards (a late or
re-sent document, sealed or not). Instead of the stage's outputs, the record gets one
``ComplianceException`` of kind ``subject_erased`` for an officer, naming only the document
and the subject ids: the document is not fetched, read, classified, checked or remembered, and
no new key is made for the subject. A customer who comes back is onboarded under a new
customer id, with consent collected again.
"""

from __future__ import annotations

import logging

from compliance.codec import Record, registry
from compliance.exceptions import exception_event
from compliance.runner import Outgoing, Stage
from compliance.sealing import Keyring

log = logging.getLogger(__name__)
KIND = "subject_erased"
REASON = "the data subject was erased; a record of theirs is not processed"


def refusing_erased_subjects(stage: Stage, keyring: Keyring, stage_name: str) -> Stage:
    """``stage``, except that a record with personal fields whose subject was erased gets a
    ``subject_erased`` exception instead (records without personal fields, e.g. a consent
    statement, go to the stage as usual)."""
    schemas = registry().by_type

    def run(event_type: str, record: Record) -> list[Outgoing]:
        schema = schemas.get(event_type)
        subject = record["envelope"]["subject_id"]
        if schema is not None and schema.personal is not None and keyring.is_erased(subject):
            log.info("%s: a %s of an erased subject refused", stage_name, event_type)
            return [erased_subject_exception(record, stage_name)]
        return list(stage(event_type, record))

    return run


def erased_subject_exception(record: Record, stage_name: str) -> Outgoing:
    """The exception an officer sees. Its reason and details are personal fields, written as
    ``[erased]`` for an erased subject; the kind, the ids and the times say what happened."""
    return exception_event(
        record, stage=stage_name, kind=KIND, severity="medium", reason=REASON, discriminator=KIND
    )
