"""Claude's structured output: one tool per document type, whose JSON schema lists that
type's fields, each a value with a confidence. Claude must call exactly one tool; which one
it calls is the classification, its input the extraction. Replies are validated here against
the same definitions: nothing outside the schema is ever read from a reply."""

from __future__ import annotations

import re
from typing import Any

from compliance.classification.fieldsets import FIELDS
from compliance.classification.model import ExtractedField

TOOL_PREFIX = "record_"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_SUFFIXES = ("_date", "date_of_birth", "consent_given_at", "period_start", "period_end")


class ReplyInvalid(ValueError):
    """Claude's reply does not match the schema of the tool it called."""


def is_date_field(name: str) -> bool:
    return name.endswith(DATE_SUFFIXES)


def _field_schema(description: str, date: bool) -> dict[str, Any]:
    value: dict[str, Any] = {"type": ["string", "null"], "description": description}
    if date:
        value["pattern"] = _ISO_DATE.pattern
    return {
        "type": "object",
        "properties": {
            "value": value,
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["value", "confidence"],
        "additionalProperties": False,
    }


def tool_for(document_type: str) -> dict[str, Any]:
    fields = FIELDS[document_type]
    return {
        "name": TOOL_PREFIX + document_type,
        "description": f"Record the document as a {document_type.replace('_', ' ')} and the "
        "fields printed on it. Leave out fields that are not printed.",
        "input_schema": {
            "type": "object",
            "properties": {
                "document_confidence": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "How sure you are of the document type, 0 to 1.",
                },
                "fields": {
                    "type": "object",
                    "properties": {
                        name: _field_schema(text, is_date_field(name))
                        for name, text in fields.items()
                    },
                    "additionalProperties": False,
                },
            },
            "required": ["document_confidence", "fields"],
            "additionalProperties": False,
        },
    }


TOOLS = [tool_for(document_type) for document_type in FIELDS]


def _confidence(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ReplyInvalid(f"{where}: confidence must be a number from 0 to 1, got {value!r}")
    return float(value)


def read_tool_call(tool_name: str, data: Any) -> tuple[str, float, list[ExtractedField]]:
    """(document type, its confidence, the fields) from one tool call; ReplyInvalid if the
    call does not match its schema exactly."""
    document_type = tool_name.removeprefix(TOOL_PREFIX)
    if not tool_name.startswith(TOOL_PREFIX) or document_type not in FIELDS:
        raise ReplyInvalid(f"unknown tool {tool_name!r}")
    if not isinstance(data, dict):
        raise ReplyInvalid("tool input is not an object")
    unexpected = set(data) - {"document_confidence", "fields"}
    if unexpected:
        raise ReplyInvalid(f"unexpected properties {sorted(unexpected)}")
    confidence = _confidence(data.get("document_confidence"), "document_confidence")
    fields = data.get("fields")
    if not isinstance(fields, dict):
        raise ReplyInvalid("fields is not an object")
    allowed = FIELDS[document_type]
    extracted = []
    for name, reading in fields.items():
        if name not in allowed:
            raise ReplyInvalid(f"field {name!r} is not in the {document_type} schema")
        if not isinstance(reading, dict) or set(reading) != {"value", "confidence"}:
            raise ReplyInvalid(f"field {name!r} must have exactly a value and a confidence")
        value = reading["value"]
        if value is not None and not isinstance(value, str):
            raise ReplyInvalid(f"field {name!r}: value must be a string or null")
        if value is not None and is_date_field(name) and not _ISO_DATE.match(value):
            raise ReplyInvalid(f"field {name!r}: {value!r} is not a YYYY-MM-DD date")
        level = _confidence(reading["confidence"], f"field {name!r}")
        if value is not None and value.strip():
            extracted.append(ExtractedField(name, value.strip(), level))
    return document_type, confidence, extracted
