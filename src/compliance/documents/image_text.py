"""The text of a photo or scan: its machine-readable zone read on its own, then the page.

1. The zone: each candidate band (``image_prep.zone_bands``: found, deskewed, cut out, tried
   sideways too) is read with the zone model, as it is and then upside down, until one parses
   with valid check digits (``compliance.mrz``); the first band that gives a zone with failing
   check digits is kept if none does.
2. The page, turned the way its zone was found, is read with the ``eng`` model.

The zone's lines replace what the page reading made of them (zone-like lines are dropped from
it), so the classifier reads the zone once, as the zone model read it (repairs undone: the
classifier's own parse repairs it again and sees what was repaired).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from compliance.documents import image_prep
from compliance.documents.ocr_engine import Gray, mrz_model, page_model, recognise
from compliance.mrz import MRZ, find_mrz

# A line of the page reading that is (a piece of) a zone line: long runs of A-Z0-9 with fillers.
_ZONE_LIKE = re.compile(r"^[A-Z0-9<«\s]{20,}$")
_FILLER_RUN = "<<<"  # read upside down, a zone's fillers are not read as fillers


@dataclass(frozen=True)
class ZoneReading:
    mrz: MRZ
    quarter_turns: int  # how the page is turned (counter-clockwise) for its zone to read
    band: image_prep.Band


def read_image(data: bytes) -> str:
    gray = image_prep.decode(data)
    zone = read_zone(gray)
    if zone is None:
        return recognise(image_prep.page(gray), page_model())
    if zone.mrz.valid:  # read once is enough
        gray = image_prep.blank(gray, zone.band)
    text = recognise(image_prep.page(image_prep.turn(gray, zone.quarter_turns)), page_model())
    kept = [line for line in text.splitlines() if not _zone_like(line)]
    return "\n".join([*kept, "", *as_read(zone.mrz), ""])


def as_read(mrz: MRZ) -> list[str]:
    """The zone's lines as the zone model read them (its repairs undone), so the classifier,
    parsing them again, finds the same repairs and can tell a repaired number from a read one."""
    lines = [list(line) for line in mrz.lines]
    for repair in mrz.repairs:
        lines[repair.line][repair.position] = repair.read
    return ["".join(line) for line in lines]


def read_zone(gray: Gray) -> ZoneReading | None:
    """The zone of the image, valid if any band reads valid."""
    fallback: ZoneReading | None = None
    for band in image_prep.zone_bands(gray):
        for upside_down in (False, True):
            image = image_prep.turn(band.image, 2) if upside_down else band.image
            text = recognise(image, mrz_model())
            mrz = find_mrz(text)
            if mrz is not None:
                reading = ZoneReading(mrz, band.quarter_turns + (2 if upside_down else 0), band)
                if mrz.valid:
                    return reading
                fallback = fallback or reading
            if mrz is not None or _FILLER_RUN in text:
                break  # read the right way up (fillers read as such): no need to turn it
    return fallback


def _zone_like(line: str) -> bool:
    return "<" in line and bool(_ZONE_LIKE.match(line.strip()))
