"""Every Kafka topic the product uses, in one place: name, partitions, retention.

Keys are always the subject (customer or document id) so that one subject's events stay
ordered. Each input topic has a dead-letter twin, ``<topic>.dlq``, holding undecodable
records with their error and original bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DLQ_SUFFIX = ".dlq"
_DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    description: str
    # Further topic configs set when the topic is created (name -> value).
    config: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def dead_letter(self) -> str:
        return self.name + DLQ_SUFFIX


DOCUMENTS_ARRIVED = TopicSpec(
    "documents.arrived", 6, 14 * _DAY_MS, "Upstream systems announce a document to check."
)
DOCUMENTS_CLASSIFIED = TopicSpec(
    "documents.classified", 6, 14 * _DAY_MS, "Document type and extracted fields, per document."
)
COMPLIANCE_CHECKS = TopicSpec(
    "compliance.checks", 6, 30 * _DAY_MS, "One result per rule evaluated on a document."
)
COMPLIANCE_EXCEPTIONS = TopicSpec(
    "compliance.exceptions",
    3,
    90 * _DAY_MS,
    "Failures and doubts a compliance officer must review; read by case management.",
)
SANCTIONS_LISTS = TopicSpec(
    "sanctions.lists",
    1,
    365 * _DAY_MS,
    "A new sanctions/PEP list version was loaded: its files, hashes and who loaded it.",
)
SANCTIONS_CLEARANCES = TopicSpec(
    "sanctions.clearances",
    3,
    365 * _DAY_MS,
    "An officer cleared (or revoked the clearance of) a customer against a listed entity.",
)
CONSENTS_RECORDED = TopicSpec(
    "consents.recorded",
    6,
    365 * _DAY_MS,
    "GDPR consent given, expiring or withdrawn, per data subject; read by the checker.",
    # The checker counts a consent by its partition's stream time (the Kafka timestamps):
    # stamped by the broker on append, it never lags the moment the consent became readable.
    config=(("message.timestamp.type", "LogAppendTime"),),
)
COMPLIANCE_RULESETS = TopicSpec(
    "compliance.rulesets",
    1,
    365 * _DAY_MS,
    "A ruleset version came into force in a checker (start, reload) or a reload was rejected.",
)
# Stamped with the time the broker appended each record (LogAppendTime), whatever time the
# publisher set: a replay of last year's transactions (booking times in the past) is kept for
# the retention period from the replay, not deleted at once by time-based retention.
TRANSACTIONS_SUBMITTED = TopicSpec(
    "transactions.submitted",
    6,
    90 * _DAY_MS,
    "Payments booked on our accounts, keyed by account; read by the transaction screener.",
    config=(("message.timestamp.type", "LogAppendTime"),),
)
NOTIFICATIONS_FAILED = TopicSpec(
    "notifications.failed",
    1,
    90 * _DAY_MS,
    "A notification the notifier gave up on (route, attempts, reason): its dead-letter record.",
)
CASES_DECISIONS = TopicSpec(
    "cases.decisions",
    3,
    365 * _DAY_MS,
    "Every change of a case (opened, assigned, decided ...), keyed by customer; the case "
    "tables are its projection.",
)
SCHEDULER_RUNS = TopicSpec(
    "scheduler.runs",
    1,
    365 * _DAY_MS,
    "A scheduled job run started or ended (job, fire time, outcome), one pair per run.",
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    DOCUMENTS_ARRIVED,
    DOCUMENTS_CLASSIFIED,
    COMPLIANCE_CHECKS,
    COMPLIANCE_EXCEPTIONS,
    CONSENTS_RECORDED,
    COMPLIANCE_RULESETS,
    SANCTIONS_LISTS,
    SANCTIONS_CLEARANCES,
    TRANSACTIONS_SUBMITTED,
    NOTIFICATIONS_FAILED,
    CASES_DECISIONS,
    SCHEDULER_RUNS,
)
DLQ_RETENTION_MS = 90 * _DAY_MS


def dead_letter_specs() -> tuple[TopicSpec, ...]:
    """A dead-letter topic for every topic a processor consumes (including the audit sink)."""
    return tuple(
        TopicSpec(t.dead_letter, 1, DLQ_RETENTION_MS, f"Undecodable records from {t.name}.")
        for t in ALL_TOPICS
    )


def every_topic() -> tuple[TopicSpec, ...]:
    return ALL_TOPICS + dead_letter_specs()


def is_dead_letter(topic: str) -> bool:
    return topic.endswith(DLQ_SUFFIX)
