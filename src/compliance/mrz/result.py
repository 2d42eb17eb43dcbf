"""The parsed machine-readable zone (``MRZ``), the repairs made while reading it and the kind
of document its code names."""

from __future__ import annotations

from dataclasses import dataclass, field

from compliance.mrz.countries import CodeStatus, code_status


@dataclass(frozen=True)
class Repair:
    """One character of the zone changed from what was read: which field, where (0-based line
    and column of the zone), what was read and what it became."""

    field: str
    line: int
    position: int
    read: str
    corrected: str

    def __str__(self) -> str:
        return (
            f"{self.field}: {self.read!r} read as {self.corrected!r} "
            f"(line {self.line + 1}, column {self.position + 1})"
        )


@dataclass(frozen=True)
class MRZ:
    format: str  # TD1, TD2, TD3, MRVA, MRVB, FRA_ID, DL or CHE_DL
    document_code: str  # fillers removed: P, PO, I, ID, V, VC, D, FA ...
    issuing_state: str
    surname: str
    given_names: str
    document_number: str  # whole, long numbers included (ICAO overflow into optional data)
    nationality: str
    birth_date: str  # YYMMDD as printed ("" when the format has none)
    sex: str
    expiry_date: str  # YYMMDD as printed ("" when the format has none)
    optional_data: str
    checks: dict[str, bool] = field(default_factory=dict)
    lines: tuple[str, ...] = ()
    # passport, visa, identity_card, residence_permit, travel_document or driving_licence
    kind: str = ""
    optional_data_2: str = ""  # TD1 line 2
    issue_date: str = ""  # YYMM (FRA_ID only)
    repairs: tuple[Repair, ...] = ()  # characters changed from what was read

    @property
    def codes(self) -> dict[str, CodeStatus]:
        """Each state code of the zone and what it is (ISO 3166, ICAO special, specimen...)."""
        found = {"issuing_state": self.issuing_state, "nationality": self.nationality}
        return {name: code_status(code) for name, code in found.items() if code}

    @property
    def unknown_codes(self) -> list[str]:
        return [name for name, status in self.codes.items() if status == "unknown"]

    @property
    def specimen(self) -> bool:
        """A specimen document: a fictional state (Utopia) or a holder named SPECIMEN."""
        names = f"{self.surname} {self.given_names}".split()
        return "specimen" in self.codes.values() or "SPECIMEN" in names

    @property
    def valid(self) -> bool:
        """Every check digit holds and every state code exists (specimen codes included)."""
        return all(self.checks.values()) and not self.unknown_codes

    @property
    def failed_checks(self) -> list[str]:
        """Failed check digits, then state codes that are no state (``issuing_state``...)."""
        return [name for name, ok in self.checks.items() if not ok] + self.unknown_codes


def document_kind(document_code: str) -> str:
    """The kind of document the zone's code names (ICAO 9303 Part 3 and 4 to 7): P passport,
    V visa, I identity card, A and C other official travel documents; a second letter R
    marks a residence permit."""
    first, second = document_code[:1], document_code[1:2]
    if first == "P":
        return "passport"
    if first == "V":
        return "visa"
    if first in "IAC" and first and second == "R":
        return "residence_permit"
    if first == "I":
        return "identity_card"
    if first in ("A", "C"):
        return "travel_document"
    return "unknown"
