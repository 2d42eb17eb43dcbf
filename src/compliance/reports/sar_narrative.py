"""The SAR narrative: the case told in plain text, and its split into FinCEN's blocks.

FinCEN takes the narrative in up to five ``ActivityNarrativeInformation`` blocks of at most
4,000 characters; the schema numbers the fifth block as characters 16,001 to 17,000, so a
narrative holds at most 17,000 characters. Blocks are cut after a line break (else a space)
where one is near the limit, so no word is split, and joined they give the text back exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from compliance.errors import ComplianceError
from compliance.reports.sar_input import CaseInput

BLOCK_CHARS = 4000
BLOCKS = 5
MAX_CHARS = 17_000
# The fifth block ends at character 17,000.
_BLOCK_LIMITS = (BLOCK_CHARS,) * (BLOCKS - 1) + (MAX_CHARS - BLOCK_CHARS * (BLOCKS - 1),)


class NarrativeTooLong(ComplianceError):
    def __init__(self, length: int) -> None:
        super().__init__(
            f"the SAR narrative is {length} characters; FinCEN takes at most {MAX_CHARS}"
        )
        self.length = length


def split_narrative(text: str) -> list[str]:
    """The narrative in blocks of at most 4,000 characters (the fifth at most 1,000)."""
    if not text.strip():
        raise ComplianceError("a SAR needs a narrative; it is empty")
    if len(text) > MAX_CHARS:
        raise NarrativeTooLong(len(text))
    blocks: list[str] = []
    rest = text
    for limit in _BLOCK_LIMITS:
        if len(rest) <= limit:
            blocks.append(rest)
            return blocks
        cut = _cut(rest, limit)
        blocks.append(rest[:cut])
        rest = rest[cut:]
    raise NarrativeTooLong(len(text))  # cuts at word ends left more than the blocks hold


def _cut(text: str, limit: int) -> int:
    """Where to end a block of ``text``: after the last line break, else the last space, in
    the second half of the block; else at the limit itself."""
    for separator in ("\n", " "):
        at = text.rfind(separator, limit // 2, limit)
        if at != -1:
            return at + 1
    return limit


def case_narrative(case: CaseInput, *, total_usd: Decimal) -> str:
    """The case told for FinCEN: who, what the rules found and why, the money, who decided.
    As many transactions (then exceptions) are listed as 17,000 characters hold; the rest
    are summed up in one line."""
    every_tx, every_exc = len(case.transactions), len(case.exceptions)
    if _fits(_render(case, total_usd, every_tx, every_exc)):
        return _render(case, total_usd, every_tx, every_exc)
    if _fits(_render(case, total_usd, 0, every_exc)):
        shown = _most(lambda n: _fits(_render(case, total_usd, n, every_exc)), every_tx)
        return _render(case, total_usd, shown, every_exc)
    shown = _most(lambda n: _fits(_render(case, total_usd, 0, n)), every_exc)
    text = _render(case, total_usd, 0, max(shown, 1))
    split_narrative(text)  # even one alert is too long: NarrativeTooLong says so
    return text


def _fits(text: str) -> bool:
    try:
        split_narrative(text)
    except NarrativeTooLong:
        return False
    return True


def _most(fits: Callable[[int], bool], upper: int) -> int:
    """The largest n in [0, upper) for which ``fits(n)`` (0 if none): fits shrinks as n grows."""
    low, high = 0, upper - 1
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _render(case: CaseInput, total_usd: Decimal, shown_tx: int, shown_exc: int) -> str:
    parts = [_opening(case), _subject(case), _exceptions(case, shown_exc)]
    if case.transactions:
        parts.append(_transactions(case, total_usd, shown_tx))
    if case.decisions:
        parts.append(_decisions(case))
    return "\n\n".join(p for p in parts if p)


def _opening(case: CaseInput) -> str:
    category = (case.category or "uncategorised").replace("_", " ")
    confirmed = case.closed_at or max((d.at for d in case.decisions), default=None)
    when = f" on {_day(confirmed)}" if confirmed else ""
    return (
        f"Internal case {case.case_id} (customer {case.customer_id}, {category}) was reviewed "
        f"by the institution's compliance officers and confirmed as suspicious{when}. "
        f"{len(case.exceptions)} alert(s) raised by the institution's automated rules led to it."
    )


def _subject(case: CaseInput) -> str:
    s = case.subject
    if s is None:
        return "Subject: no identity details are on record beyond the customer number."
    facts = [s.full_name or " ".join(p for p in (s.given_names, s.surname) if p) or "name unknown"]
    if s.kind == "entity":
        facts[0] += " (entity)"
    if s.date_of_birth:
        facts.append(f"born {s.date_of_birth.isoformat()}")
    if s.nationality:
        facts.append(f"nationality {s.nationality}")
    if s.document_number:
        document = (s.document_type or "identity document").replace("_", " ")
        issued = f" issued by {s.issuing_state}" if s.issuing_state else ""
        facts.append(f"{document} {s.document_number}{issued}")
    if s.address:
        facts.append(f"address {s.address}")
    return "Subject: " + "; ".join(facts) + "."


def _exceptions(case: CaseInput, shown: int) -> str:
    lines = ["Alerts and the rules' explanations:"]
    for e in case.exceptions[:shown]:
        when = f"{_moment(e.raised_at)} " if e.raised_at else ""
        rule = e.rule_id or e.kind
        details = "; ".join(f"{k}: {v}" for k, v in sorted(e.details.items()) if v)
        reason = e.reason.strip()
        if reason and reason[-1] not in ".!?":
            reason += "."
        lines.append(
            f"- {when}{rule} ({e.severity}): {reason}"
            + (f" Details: {details}." if details else "")
        )
    if shown < len(case.exceptions):
        lines.append(f"- and {len(case.exceptions) - shown} further alert(s) of the same case.")
    return "\n".join(lines)


def _transactions(case: CaseInput, total_usd: Decimal, shown: int) -> str:
    ordered = sorted(case.transactions, key=lambda t: t.booked_at)
    first, last = ordered[0].booked_at, ordered[-1].booked_at
    lines = [
        f"Transactions involved: {len(ordered)} between {_day(first)} and {_day(last)}, "
        f"USD {total_usd:,.2f} in total (converted at the institution's reference rates "
        "where booked in another currency):"
    ]
    for t in ordered[:shown]:
        towards = "from" if t.direction == "in" else "to"
        side = " ".join(
            p
            for p in (
                t.counterparty_name,
                f"account {t.counterparty_account}" if t.counterparty_account else None,
                f"({t.counterparty_country})" if t.counterparty_country else None,
            )
            if p
        )
        on = f" on account {t.account}" if t.account else ""
        credit = "credit" if t.direction == "in" else "debit"
        lines.append(
            f"- {_moment(t.booked_at)} {credit} of {t.currency} {t.amount:,.2f}{on}"
            + (f" {towards} {side}" if side else "")
        )
    if shown < len(ordered):
        rest = ordered[shown:]
        lines.append(
            f"- and {len(rest)} further transaction(s) from {_day(rest[0].booked_at)} to "
            f"{_day(rest[-1].booked_at)}, on record with the institution."
        )
    return "\n".join(lines)


def _decisions(case: CaseInput) -> str:
    lines = ["Review by the compliance officers:"]
    for d in sorted(case.decisions, key=lambda d: d.at):
        comment = f": {d.comment.strip()}" if d.comment and d.comment.strip() else ""
        lines.append(f"- {_moment(d.at)} {d.actor} {d.action.replace('_', ' ')}{comment}")
    return "\n".join(lines)


def _moment(at: datetime) -> str:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _day(at: datetime) -> str:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%d")
