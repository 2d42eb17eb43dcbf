"""Date checks: a document not expired, a person old enough, a document recent enough.

Every date is compared with the decision date (``Context.as_of``), never with "today", so
replaying an old event decides as it did then. Dates arrive as ISO 8601 text.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pydantic import Field

from compliance.rules.checks import Context, Fields, Verdict, check, label, text
from compliance.rules.kinds.params import Params


def _parse(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw[:10]) if len(raw) >= 10 else date.fromisoformat(raw)
    except ValueError:
        return None


class ExpiryParams(Params):
    field: str = "expiry_date"


@check("not_expired", params=ExpiryParams)
def not_expired(params: ExpiryParams, fields: Fields, _: Any, ctx: Context) -> Verdict:
    name = params.field
    raw = text(fields, name)
    inputs = {name: fields.get(name), "as_of": ctx.as_of.isoformat()}
    if not raw:
        return Verdict(False, "the document shows no expiry date", inputs)
    expiry = _parse(raw)
    if expiry is None:
        return Verdict(False, f"expiry date {raw!r} is not a date", inputs)
    if expiry < ctx.as_of:
        return Verdict(False, f"the document expired on {expiry.isoformat()}", inputs)
    return Verdict(True, f"the document is valid until {expiry.isoformat()}", inputs)


class AgeParams(Params):
    field: str = "date_of_birth"
    years: int = Field(ge=0, le=130)


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@check("minimum_age", params=AgeParams)
def minimum_age(params: AgeParams, fields: Fields, _: Any, ctx: Context) -> Verdict:
    name = params.field
    raw = text(fields, name)
    inputs = {name: fields.get(name), "as_of": ctx.as_of.isoformat()}
    if not raw:
        return Verdict(False, "the document shows no date of birth", inputs)
    born = _parse(raw)
    if born is None:
        return Verdict(False, f"date of birth {raw!r} is not a date", inputs)
    if born > ctx.as_of:
        return Verdict(False, f"date of birth {born.isoformat()} is in the future", inputs)
    age = age_on(born, ctx.as_of)
    inputs["age"] = str(age)
    if age < params.years:
        return Verdict(
            False, f"the person is {age}, under the minimum age of {params.years}", inputs
        )
    return Verdict(True, f"the person is {age}, at least {params.years}", inputs)


class RecencyParams(Params):
    field: str
    max_age_days: int = Field(gt=0)


@check("date_within", params=RecencyParams)
def date_within(params: RecencyParams, fields: Fields, _: Any, ctx: Context) -> Verdict:
    name = params.field
    raw = text(fields, name)
    inputs = {name: fields.get(name), "as_of": ctx.as_of.isoformat()}
    if not raw:
        return Verdict(False, f"the document shows no {label(name)}", inputs)
    day = _parse(raw)
    if day is None:
        return Verdict(False, f"{label(name)} {raw!r} is not a date", inputs)
    if day > ctx.as_of:
        return Verdict(False, f"{label(name)} {day.isoformat()} is in the future", inputs)
    oldest = ctx.as_of - timedelta(days=params.max_age_days)
    days = (ctx.as_of - day).days
    if day < oldest:
        return Verdict(
            False,
            f"{label(name)} {day.isoformat()} is {days} days old, more than {params.max_age_days}",
            inputs,
        )
    return Verdict(
        True,
        f"{label(name)} {day.isoformat()} is {days} days old, within {params.max_age_days}",
        inputs,
    )
