"""Dead-letter events: a record that cannot be processed, with the reason and its bytes.

A dead letter carries the original record's coordinates, key and value, so it can be matched
against its source topic and replayed once the cause is fixed. It must itself decode within
the identifier bounds (``compliance.bounds``) and fit in a Kafka message, whatever the record
it carries looked like.
"""

from __future__ import annotations

import hashlib

from confluent_kafka import Message

from compliance.bounds import MAX_ID_BYTES, utf8_length
from compliance.codec import Record
from compliance.events import envelope

# A dead letter must itself fit in a Kafka message (1 MB by default) even when the record it
# carries nearly filled one: beyond this, the original is cut and the cut is stated, with the
# whole value's length and SHA-256 so it can still be matched against the source topic.
DEAD_LETTER_MAX_VALUE_BYTES = 256 * 1024
# A longer Kafka key is replaced by its SHA-256 (it becomes the dead letter's subject id,
# bounded like every identifier, see compliance.bounds).
DEAD_LETTER_MAX_KEY_BYTES = MAX_ID_BYTES


def dead_letter(msg: Message, error: BaseException, failed_in: str) -> Record:
    """The dead-letter event for ``msg``; its id depends only on the record's coordinates,
    so two processors giving up on the same record produce one event in the audit trail."""
    source = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
    key = msg.key()
    value = msg.value()
    reason = str(error)[:4000]
    if value is not None and len(value) > DEAD_LETTER_MAX_VALUE_BYTES:
        reason += (
            f" [original value cut to its first {DEAD_LETTER_MAX_VALUE_BYTES} of {len(value)}"
            f" bytes; sha256 {hashlib.sha256(value).hexdigest()}]"
        )
        value = value[:DEAD_LETTER_MAX_VALUE_BYTES]
    subject = key.decode("utf-8", "replace") if key else source
    if key is not None and (
        len(key) > DEAD_LETTER_MAX_KEY_BYTES
        or utf8_length(subject) > MAX_ID_BYTES
        or b"\x00" in key  # no identifier PostgreSQL stores may hold one
    ):
        digest = "sha256:" + hashlib.sha256(key).hexdigest()
        reason += f" [key of {len(key)} bytes replaced by its {digest}]"
        key = digest.encode("ascii")
        subject = digest
    record = {
        "envelope": envelope(
            event_type="DeadLetter",
            stage="dead-letter",
            cause=source,
            correlation_id=source,
            subject_id=subject,
            causation_id=None,
        ),
        "source_topic": msg.topic(),
        "source_partition": msg.partition(),
        "source_offset": msg.offset(),
        "source_key": key,
        "original_value": value,
        "error_class": type(error).__name__,
        "error": reason,
        "failed_in": failed_in,
    }
    return record
