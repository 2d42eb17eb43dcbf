"""The daily report's figures, counted from the audit trail (``audit_events``).

A day is a UTC calendar day. Only the events of this deployment's topics are counted (its
``COMPLIANCE_TOPIC_PREFIX``), so tenants, or tests, sharing one database do not mix. The
fields read (event type, outcome, rule id, kind, severity, category, source topic, action)
are never personal and never sealed (``compliance.audit.personal_data``): the figures are
counted in PostgreSQL from the stored JSON, and nothing personal is read at all.

- documents checked: documents with at least one rule result that day (transactions, which
  the screener also reports as check results, are counted apart);
- checks by outcome, per hour of the day and per day of the 7 days ending that day;
- exceptions by category (the category the event carries; events written before exceptions
  were routed carry none and are routed now with the policy in force) and by severity;
- top failing rules: rule results ``fail`` (failures) and ``review`` (reviews) per rule;
- sanctions screening: results of the rules routed to the ``sanctions`` category; a hit is a
  ``fail`` or ``review``, and the screened are those with an outcome other than ``error``;
- transaction alerts by typology: ``transaction_alert`` exceptions per rule id (``tx.*``);
- dead letters by the topic the record came from;
- SLA breaches: case decisions with action ``sla_breached`` (by the case's category and
  severity), when case management is installed (its ``CaseDecision`` event type is in the
  schema registry).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, text

from compliance.codec import registry
from compliance.config import Settings
from compliance.exception_routing import CATEGORIES, SEVERITIES, RoutingPolicy, current_policy
from compliance.topics import every_topic

DAYS = 7
TOP_RULES = 10
OUTCOMES = ("pass", "fail", "review", "error")
TRANSACTION = "transaction"  # the document type of the screener's check results
ALERT_KIND = "transaction_alert"
CASE_DECISION = "CaseDecision"
CASE_DECISIONS_TOPIC = "cases.decisions"
SLA_BREACHED = "sla_breached"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Figure:
    """One row of the CSV: a figure, the dimension it is broken down by (empty for a
    headline figure), and its value."""

    figure: str
    dimension: str
    value: int | float | None


@dataclass(frozen=True)
class RuleFailures:
    rule_id: str
    failures: int
    reviews: int


@dataclass(frozen=True)
class Screening:
    screened: int
    hits: int
    errors: int

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.screened if self.screened else None


@dataclass(frozen=True)
class SlaBreaches:
    total: int
    by_category: dict[str, int]
    by_severity: dict[str, int]
    by_day: dict[date, int]


@dataclass
class DailyReport:
    day: date
    topic_prefix: str
    documents_checked: int = 0
    transactions_screened: int = 0
    checks_by_outcome: Counter[str] = field(default_factory=Counter)
    checks_by_hour: dict[int, Counter[str]] = field(default_factory=dict)
    checks_by_day: dict[date, Counter[str]] = field(default_factory=dict)
    exceptions_by_category: Counter[str] = field(default_factory=Counter)
    exceptions_by_severity: Counter[str] = field(default_factory=Counter)
    exceptions_by_hour: dict[int, Counter[str]] = field(default_factory=dict)
    exceptions_by_day: dict[date, Counter[str]] = field(default_factory=dict)
    top_failing_rules: list[RuleFailures] = field(default_factory=list)
    screening: Screening = Screening(0, 0, 0)
    alerts_by_typology: Counter[str] = field(default_factory=Counter)
    dead_letters_by_topic: Counter[str] = field(default_factory=Counter)
    sla_breaches: SlaBreaches | None = None  # None: case management not installed

    @property
    def days(self) -> list[date]:
        return [self.day - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]

    @property
    def checks_run(self) -> int:
        return sum(self.checks_by_outcome.values())

    @property
    def exceptions_raised(self) -> int:
        return sum(self.exceptions_by_category.values())

    @property
    def transaction_alerts(self) -> int:
        return sum(self.alerts_by_typology.values())

    @property
    def dead_letters(self) -> int:
        return sum(self.dead_letters_by_topic.values())

    def headline(self) -> list[tuple[str, str, int | float | None]]:
        """(figure, label, value) of the figures at the top of the report."""
        figures: list[tuple[str, str, int | float | None]] = [
            ("documents_checked", "Documents checked", self.documents_checked),
            ("transactions_screened", "Transactions screened", self.transactions_screened),
            ("checks_run", "Checks run", self.checks_run),
            ("exceptions_raised", "Exceptions raised", self.exceptions_raised),
            ("screening_hit_rate", "Sanctions screening hit rate", self.screening.hit_rate),
            ("transaction_alerts", "Transaction alerts", self.transaction_alerts),
            ("dead_letters", "Dead letters", self.dead_letters),
        ]
        if self.sla_breaches is not None:
            figures.append(("sla_breaches", "SLA breaches", self.sla_breaches.total))
        return figures

    def figures(self) -> list[Figure]:
        """Every figure of the report, one per figure and dimension, in a fixed order."""
        out = [Figure(name, "", value) for name, _, value in self.headline()]
        out += _counted("checks_by_outcome", self.checks_by_outcome, OUTCOMES)
        out += _counted("exceptions_by_category", self.exceptions_by_category, CATEGORIES)
        out += _counted("exceptions_by_severity", self.exceptions_by_severity, SEVERITIES)
        for hour in range(24):
            at = f"{hour:02d}:00"
            checks = self.checks_by_hour.get(hour, Counter())
            exceptions = self.exceptions_by_hour.get(hour, Counter())
            out += _counted("checks_by_hour", checks, OUTCOMES, at)
            out += _counted("exceptions_by_hour", exceptions, CATEGORIES, at)
        for day in self.days:
            at = day.isoformat()
            checks = self.checks_by_day.get(day, Counter())
            exceptions = self.exceptions_by_day.get(day, Counter())
            out += _counted("checks_by_day", checks, OUTCOMES, at)
            out += _counted("exceptions_by_day", exceptions, CATEGORIES, at)
        for rule in self.top_failing_rules:
            out.append(Figure("rule_failures", rule.rule_id, rule.failures))
            out.append(Figure("rule_reviews", rule.rule_id, rule.reviews))
        out += [
            Figure("screening_screened", "", self.screening.screened),
            Figure("screening_hits", "", self.screening.hits),
            Figure("screening_errors", "", self.screening.errors),
        ]
        out += _counted("transaction_alerts_by_typology", self.alerts_by_typology, ())
        out += _counted("dead_letters_by_topic", self.dead_letters_by_topic, ())
        if self.sla_breaches is not None:
            breaches = self.sla_breaches
            out += _counted("sla_breaches_by_category", Counter(breaches.by_category), CATEGORIES)
            out += _counted("sla_breaches_by_severity", Counter(breaches.by_severity), SEVERITIES)
            out += [
                Figure("sla_breaches_by_day", day.isoformat(), self.sla_breaches.by_day.get(day, 0))
                for day in self.days
            ]
        return out


def _counted(
    name: str, counts: Counter[str], known: Sequence[str], at: str | None = None
) -> list[Figure]:
    """A figure per key: the known keys always (zero included), then any other seen."""
    keys = list(known) + sorted(k for k in counts if k not in known)
    return [Figure(name, k if at is None else f"{at} {k}", counts.get(k, 0)) for k in keys]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def report_topics(settings: Settings) -> list[str]:
    """This deployment's topics (and their dead-letter twins), as the audit trail names them."""
    names = [spec.name for spec in every_topic()] + [CASE_DECISIONS_TOPIC]
    return sorted({settings.topic(name) for name in names})


def case_management_installed() -> bool:
    return CASE_DECISION in registry().by_type


_CHECKS = text(
    "SELECT date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AS hour, "
    "payload->>'outcome' AS outcome, payload->>'rule_id' AS rule_id, "
    "count(DISTINCT event_id) AS n "
    "FROM audit_events WHERE event_type = 'CheckResult' AND topic = ANY(:topics) "
    "AND occurred_at >= :since AND occurred_at < :until GROUP BY 1, 2, 3"
)
_CHECKED = text(
    "SELECT payload->>'document_type' = :transaction AS is_transaction, "
    "count(DISTINCT payload->>'document_id') FROM audit_events "
    "WHERE event_type = 'CheckResult' AND topic = ANY(:topics) "
    "AND occurred_at >= :day_start AND occurred_at < :until GROUP BY 1"
)
_EXCEPTIONS = text(
    "SELECT date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AS hour, "
    "payload->>'category' AS category, payload->>'kind' AS kind, "
    "payload->>'rule_id' AS rule_id, payload->>'severity' AS severity, "
    "count(DISTINCT event_id) AS n "
    "FROM audit_events WHERE event_type = 'ComplianceException' AND topic = ANY(:topics) "
    "AND occurred_at >= :since AND occurred_at < :until GROUP BY 1, 2, 3, 4, 5"
)
_DEAD_LETTERS = text(
    "SELECT payload->>'source_topic', count(DISTINCT event_id) FROM audit_events "
    "WHERE event_type = 'DeadLetter' AND topic = ANY(:topics) "
    "AND occurred_at >= :day_start AND occurred_at < :until GROUP BY 1"
)
_BREACHES = text(
    "SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, payload->>'category' AS category, "
    "payload->>'severity' AS severity, count(DISTINCT event_id) FROM audit_events "
    "WHERE event_type = :case_decision AND payload->>'action' = :breached "
    "AND topic = ANY(:topics) AND occurred_at >= :since AND occurred_at < :until GROUP BY 1, 2, 3"
)


def daily_report(
    engine: Engine,
    settings: Settings,
    day: date,
    *,
    policy: RoutingPolicy | None = None,
    cases_installed: bool | None = None,
) -> DailyReport:
    """The figures of ``day`` (UTC) from the audit trail of ``settings``' topics."""
    policy = policy or current_policy()
    if cases_installed is None:
        cases_installed = case_management_installed()
    day_start, until = day_bounds(day)
    params = {
        "topics": report_topics(settings),
        "since": day_start - timedelta(days=DAYS - 1),
        "day_start": day_start,
        "until": until,
        "transaction": TRANSACTION,
        "case_decision": CASE_DECISION,
        "breached": SLA_BREACHED,
    }
    report = DailyReport(day=day, topic_prefix=settings.topic_prefix)
    with engine.connect() as conn:
        checks = list(conn.execute(_CHECKS, params))
        checked = list(conn.execute(_CHECKED, params))
        exceptions = list(conn.execute(_EXCEPTIONS, params))
        dead = list(conn.execute(_DEAD_LETTERS, params))
        breaches = list(conn.execute(_BREACHES, params)) if cases_installed else None
    for is_transaction, n in checked:
        if is_transaction:
            report.transactions_screened = n
        else:
            report.documents_checked = n
    _add_checks(report, checks, policy)
    _add_exceptions(report, exceptions, policy)
    for topic, n in dead:
        name = topic or UNKNOWN
        report.dead_letters_by_topic[name.removeprefix(settings.topic_prefix)] += n
    if breaches is not None:
        report.sla_breaches = _breaches(day, breaches)
    return report


def _add_checks(report: DailyReport, rows: Sequence[Any], policy: RoutingPolicy) -> None:
    failing: dict[str, Counter[str]] = defaultdict(Counter)
    screening: Counter[str] = Counter()
    for hour, outcome_or_none, rule_id, n in rows:
        outcome = outcome_or_none or UNKNOWN
        report.checks_by_day.setdefault(hour.date(), Counter())[outcome] += n
        if hour.date() != report.day:
            continue
        report.checks_by_outcome[outcome] += n
        report.checks_by_hour.setdefault(hour.hour, Counter())[outcome] += n
        if outcome in ("fail", "review"):
            failing[rule_id or UNKNOWN][outcome] += n
        if rule_id and policy.category("rule_failed", rule_id) == "sanctions":
            screening[outcome] += n
    ranked = sorted(failing.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    report.top_failing_rules = [
        RuleFailures(rule_id, counts["fail"], counts["review"])
        for rule_id, counts in ranked[:TOP_RULES]
    ]
    report.screening = Screening(
        screened=sum(n for outcome, n in screening.items() if outcome != "error"),
        hits=screening["fail"] + screening["review"],
        errors=screening["error"],
    )


def _add_exceptions(report: DailyReport, rows: Sequence[Any], policy: RoutingPolicy) -> None:
    for hour, carried, kind, rule_id, severity, n in rows:
        # Exceptions written before routing carry no category: routed now, as they would be.
        category = carried or policy.category(kind or "", rule_id)
        report.exceptions_by_day.setdefault(hour.date(), Counter())[category] += n
        if hour.date() != report.day:
            continue
        report.exceptions_by_category[category] += n
        report.exceptions_by_severity[severity or UNKNOWN] += n
        report.exceptions_by_hour.setdefault(hour.hour, Counter())[category] += n
        if kind == ALERT_KIND:
            report.alerts_by_typology[rule_id or UNKNOWN] += n


def _breaches(report_day: date, rows: Sequence[Any]) -> SlaBreaches:
    by_category: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    by_day: Counter[date] = Counter()
    for day, category, severity, n in rows:
        by_day[day] += n
        if day == report_day:
            by_category[category or UNKNOWN] += n
            by_severity[severity or UNKNOWN] += n
    return SlaBreaches(by_day[report_day], dict(by_category), dict(by_severity), dict(by_day))
