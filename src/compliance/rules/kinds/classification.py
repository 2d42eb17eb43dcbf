"""What the classifier said a document is, held against the other evidence of its type.

A classification is the model's (or the keyword classifier's) reading of text a customer
supplied, so text written to persuade it can make a passport "unknown" or an invoice. These
checks keep such a document from escaping the rules:

- ``declared_type_agrees``: the type the publisher declared (``DocumentArrived``) agrees with
  the classified type; a publisher that declared nothing leaves nothing to compare.
- ``type_has_rules``: some rule of the ruleset is written for the classified type, and the
  type is one the rules can decide at all (``unknown`` never is, at any confidence).
- ``type_agrees_with_text``: when a machine-readable zone decided the type, the text (or the
  model) read the document as that type too. A valid MRZ is easy to compute, so it is
  evidence of the type, not proof.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from compliance.rules.checks import Context, Fields, Verdict, check, label, text
from compliance.rules.kinds.params import Params


def type_name(raw: str) -> str:
    """A type as written by a publisher ("Tax form", "tax-form") in the classifier's
    vocabulary spelling ("tax_form")."""
    return "_".join(raw.strip().casefold().replace("-", " ").replace("_", " ").split())


class DeclaredTypeParams(Params):
    # the publisher's names for a type -> the classifier's ("w9" -> "tax_form")
    aliases: dict[str, str] = Field(default_factory=dict)


def _aliases(params: DeclaredTypeParams, _: Path, __: Any) -> dict[str, str]:
    """The alias table spelled as ``type_name`` spells what a publisher declares, once."""
    return {type_name(k): type_name(v) for k, v in params.aliases.items()}


@check("declared_type_agrees", params=DeclaredTypeParams, preparer=_aliases)
def declared_type_agrees(
    _: DeclaredTypeParams, __: Fields, aliases: dict[str, str], ctx: Context
) -> Verdict:
    classified = ctx.document_type
    raw = (ctx.declared_type or "").strip()
    inputs: dict[str, str | None] = {
        "declared_type": ctx.declared_type,
        "document_type": classified,
    }
    if not raw:
        return Verdict(True, "the publisher declared no document type to compare", inputs)
    declared = aliases.get(type_name(raw), type_name(raw))
    if declared != classified:
        return Verdict(
            False,
            f"the publisher declared a {label(declared)}, but it was classified as "
            f"{label(classified)}",
            inputs,
        )
    return Verdict(True, f"declared and classified as {label(classified)}", inputs)


class TypeHasRulesParams(Params):
    # types no rule can decide, whatever rules name them (the classifier's "I cannot tell")
    undecidable: tuple[str, ...] = ("unknown",)


@check("type_has_rules", params=TypeHasRulesParams)
def type_has_rules(params: TypeHasRulesParams, _: Fields, __: Any, ctx: Context) -> Verdict:
    classified = ctx.document_type
    inputs: dict[str, str | None] = {"document_type": classified}
    if classified in params.undecidable:
        return Verdict(False, f"the document was classified as {label(classified)}", inputs)
    if classified not in ctx.covered_types:
        return Verdict(False, f"no rule is written for {label(classified)} documents", inputs)
    return Verdict(True, f"rules are written for {label(classified)} documents", inputs)


class TextTypeParams(Params):
    field: str = "text_type"  # set by the classifier when an MRZ decided the type


@check("type_agrees_with_text", params=TextTypeParams)
def type_agrees_with_text(params: TextTypeParams, fields: Fields, _: Any, ctx: Context) -> Verdict:
    name = params.field
    read = type_name(text(fields, name))
    inputs: dict[str, str | None] = {name: fields.get(name), "document_type": ctx.document_type}
    if not read:
        return Verdict(True, "no machine-readable zone decided the document type", inputs)
    if read != ctx.document_type:
        return Verdict(
            False,
            f"its machine-readable zone makes it a {label(ctx.document_type)}, but its text "
            f"reads as {label(read)}",
            inputs,
        )
    return Verdict(True, f"its text and its machine-readable zone agree: {label(read)}", inputs)
