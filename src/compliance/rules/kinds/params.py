"""The base of every check kind's parameter model: strict, immutable, no unknown keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldParams(Params):
    field: str
