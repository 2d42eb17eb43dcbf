"""Validation of a SAR batch against FinCEN's schema, and of what the schema cannot say.

The schema (``schemas/EFL_SARXBatchSchema.xsd``, FinCEN SAR XML batch schema 1.2) is XSD 1.1,
so it is read with ``xmlschema.XMLSchema11`` (libxml2 knows only XSD 1.0), once per process.
It bounds every value and the order of elements, but it cannot count: a batch whose header
counts disagree with its content, or an activity without one of the parties every FinCEN SAR
has, is checked here after the schema, by the rules of FinCEN's SAR XML user guide.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib.resources import files
from typing import Any

import xmlschema

from compliance.errors import ComplianceError
from compliance.reports.sar_xml import (
    ACTIVITY_INSTITUTION,
    CONTACT_OFFICE,
    FILING_INSTITUTION,
    NAMESPACE,
    SUBJECT,
    TRANSMITTER,
    TRANSMITTER_CONTACT,
)

SCHEMA_FILE = "EFL_SARXBatchSchema.xsd"
SCHEMA_VERSION = "1.2"
SHOWN = 5
# xmlschema quotes a value it could not read ("invalid value 'x' for xs:decimal").
_QUOTED_VALUES = (
    (re.compile(r"invalid value '.*?'"), "invalid value"),
    (re.compile(r"(attribute \w+)='.*?'"), r"\1"),
)
# Parties every activity has exactly once, and those it has at least once.
_ONCE = {
    TRANSMITTER: "transmitter",
    TRANSMITTER_CONTACT: "transmitter contact",
    FILING_INSTITUTION: "filing institution",
    CONTACT_OFFICE: "contact office",
}
_AT_LEAST_ONCE = {SUBJECT: "subject", ACTIVITY_INSTITUTION: "institution where it occurred"}


class SarInvalid(ComplianceError):
    """The XML is not a SAR batch FinCEN would take; ``problems`` are (where, what)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        shown = "; ".join(f"{where}: {what}" for where, what in problems[:SHOWN])
        more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
        super().__init__(f"the SAR XML is invalid: {shown}{more}")
        self.problems = problems


@lru_cache(maxsize=1)
def sar_schema() -> xmlschema.XMLSchema11:
    """FinCEN's SAR batch schema, parsed once."""
    source = files("compliance.reports").joinpath("schemas", SCHEMA_FILE)
    with source.open("rb") as xsd:
        return xmlschema.XMLSchema11(xsd, base_url=None)


def validate_sar(xml: bytes) -> None:
    """Return if ``xml`` is a valid SAR batch; else raise ``SarInvalid`` naming the first
    problems by element path."""
    try:
        resource = xmlschema.XMLResource(io.BytesIO(xml), allow="none", defuse="always")
    except (xmlschema.XMLResourceError, ET.ParseError, SyntaxError) as exc:
        raise SarInvalid([("/", f"not well-formed XML: {exc}")]) from None
    problems = [
        (error.path or "/", _reason(error))
        for _, error in zip(range(SHOWN + 1), sar_schema().iter_errors(resource), strict=False)
    ]
    if problems:
        raise SarInvalid(problems)
    problems = _content_problems(ET.fromstring(xml))
    if problems:
        raise SarInvalid(problems)


def _reason(error: xmlschema.XMLSchemaValidationError) -> str:
    """What is wrong, without the value itself: a value may be personal data."""
    reason = " ".join(str(error.reason or "does not match the schema").split())
    for quoted, replacement in _QUOTED_VALUES:
        reason = quoted.sub(replacement, reason)
    return reason


def _q(tag: str) -> str:
    return f"{{{NAMESPACE}}}{tag}"


def _content_problems(root: ET.Element) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    activities = root.findall(_q("Activity"))
    subjects = 0
    total = Decimal(0)
    for index, activity in enumerate(activities, start=1):
        where = f"/fc2:EFilingBatchXML/fc2:Activity[{index}]"
        codes = Counter(
            party.findtext(_q("ActivityPartyTypeCode")) for party in activity.findall(_q("Party"))
        )
        subjects += codes[SUBJECT]
        for code, name in _ONCE.items():
            if codes[code] != 1:
                problems.append((where, f"needs one {name} party ({code}), has {codes[code]}"))
        for code, name in _AT_LEAST_ONCE.items():
            if codes[code] < 1:
                problems.append((where, f"needs a {name} party ({code}), has none"))
        amount = activity.findtext(f"{_q('SuspiciousActivity')}/{_q('TotalSuspiciousAmountText')}")
        total += _amount(amount, where, problems)
    expected: dict[str, Any] = {
        "ActivityCount": len(activities),
        "PartyCount": subjects,
        "TotalAmount": total,
        "ActivityAttachmentCount": sum(
            1 for a in activities if a.find(_q("ActivitySupportDocument")) is not None
        ),
        "AttachmentCount": len(root.findall(f"{_q('Activity')}/{_q('ActivitySupportDocument')}")),
    }
    for attribute, value in expected.items():
        stated = root.get(attribute, "")
        if _number(stated) != value:
            problems.append(
                (f"/fc2:EFilingBatchXML/@{attribute}", f"says {stated!r}, the batch holds {value}")
            )
    return problems


def _amount(text: str | None, where: str, problems: list[tuple[str, str]]) -> Decimal:
    if text is None:
        return Decimal(0)
    value = _number(text)
    if value is None or value < 0 or value != value.to_integral_value():
        problems.append(
            (f"{where}/fc2:SuspiciousActivity", f"amount {text!r} is not whole dollars")
        )
        return Decimal(0)
    return value


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None
