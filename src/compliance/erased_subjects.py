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
from collections.abc import Sequence

from compliance.codec import Record, registry
from compliance.errors import PoisonMessage
from compliance.exceptions import exception_event
from compliance.outgoing import Outgoing
from compliance.runner import BatchStage, Stage
from compliance.sealing import Keyring

log = logging.getLogger(__name__)
KIND = "subject_erased"
REASON = "the data subject was erased; a record of theirs is not processed"


def refusing_erased_subjects(stage: Stage, keyring: Keyring, stage_name: str) -> Stage:
    """``stage``, except that a record with personal fields whose subject was erased gets a
    ``subject_erased`` exception instead (records without personal fields, e.g. a consent
    statement, go to the stage as usual)."""

    def run(event_type: str, record: Record) -> list[Outgoing]:
        if _of_erased_subject(event_type, record, keyring):
            log.info("%s: a %s of an erased subject refused", stage_name, event_type)
            return [erased_subject_exception(record, stage_name)]
        return list(stage(event_type, record))

    return run


def refusing_erased_subjects_in_batch(
    stage: BatchStage, keyring: Keyring, stage_name: str
) -> BatchStage:
    """The same for a stage that takes a whole batch: the records of erased subjects get
    their exception, the others go to ``stage`` together, and the answers keep the batch's
    order."""

    def run(
        inputs: Sequence[tuple[str, Record]],
    ) -> list[Sequence[Outgoing] | PoisonMessage]:
        answers: list[Sequence[Outgoing] | PoisonMessage] = []
        passed: list[tuple[str, Record]] = []
        at: list[int] = []
        for event_type, record in inputs:
            if _of_erased_subject(event_type, record, keyring):
                log.info("%s: a %s of an erased subject refused", stage_name, event_type)
                answers.append([erased_subject_exception(record, stage_name)])
            else:
                at.append(len(answers))
                answers.append([])
                passed.append((event_type, record))
        if passed:
            for i, answer in zip(at, stage(passed), strict=True):
                answers[i] = answer
        return answers

    return run


def _of_erased_subject(event_type: str, record: Record, keyring: Keyring) -> bool:
    """Does the record carry personal fields, of a subject who was erased?"""
    schema = registry().by_type.get(event_type)
    if schema is None or schema.personal is None:
        return False
    return keyring.is_erased(record["envelope"]["subject_id"])


def erased_subject_exception(record: Record, stage_name: str) -> Outgoing:
    """The exception an officer sees. Its reason and details are personal fields, written as
    ``[erased]`` for an erased subject; the kind, the ids and the times say what happened."""
    return exception_event(
        record, stage=stage_name, kind=KIND, severity="medium", reason=REASON, discriminator=KIND
    )
