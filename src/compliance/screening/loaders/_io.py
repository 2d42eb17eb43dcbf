"""File access shared by the loaders: bytes, hashes, text decoding, CSV rows, XML records."""

from __future__ import annotations

import csv
import hashlib
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path

from compliance.screening.errors import ListLoadError

_EOF_MARK = "\x1a"  # DOS end-of-file byte that OFAC's CSV files end with


def read_bytes(path: str | Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ListLoadError(path, f"unreadable ({exc.strerror or exc})") from exc
    if not data.strip(b" \t\r\n\x1a"):
        raise ListLoadError(path, "the file is empty")
    return data


def digest(chunks: Sequence[bytes]) -> str:
    sha = hashlib.sha256()
    for chunk in chunks:
        sha.update(chunk)
    return sha.hexdigest()


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM); older US/EU exports are Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def csv_rows(
    path: str | Path, text: str, *, columns: int | None = None, delimiter: str = ","
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) for each record; a wrong field count or broken quoting is a
    ListLoadError naming the line. A trailing end-of-file mark is ignored."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    line = 1
    try:
        for row in reader:
            start, line = line, reader.line_num + 1
            if not row or (len(row) == 1 and row[0].strip(" \r\n" + _EOF_MARK) == ""):
                continue
            if columns is not None and len(row) != columns:
                raise ListLoadError(
                    path, f"expected {columns} fields, found {len(row)} (truncated?)", line=start
                )
            yield start, row
    except csv.Error as exc:
        raise ListLoadError(path, f"malformed CSV ({exc})", line=line) from exc


def xml_records(
    path: str | Path, data: bytes, tags: frozenset[str]
) -> Iterator[tuple[int, ET.Element, ET.Element]]:
    """(start line, element, root) for each element whose local name is in ``tags``.

    Namespaces are stripped from tag names. The document is fed line by line so that each
    record knows where it starts; a parse error (e.g. a truncated file) is a ListLoadError
    with the parser's line number.
    """
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
    root: ET.Element | None = None
    starts: dict[int, int] = {}
    lines = data.splitlines(keepends=True)
    try:
        for number, raw in enumerate(lines, start=1):
            parser.feed(raw)
            for item in parser.read_events():
                event, elem = item  # type: ignore[misc]
                if not isinstance(elem, ET.Element):
                    continue
                if event == "start":
                    elem.tag = local_name(elem.tag)
                    if root is None:
                        root = elem
                    if elem.tag in tags:
                        starts[id(elem)] = number
                elif elem.tag in tags and root is not None:
                    yield starts.pop(id(elem), number), elem, root
                    elem.clear()
        parser.close()
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise ListLoadError(path, f"malformed XML ({exc.msg})", line=line) from exc
    if root is None:
        raise ListLoadError(path, "no XML document element")


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def text_of(elem: ET.Element | None) -> str:
    if elem is None or elem.text is None:
        return ""
    return " ".join(elem.text.split())
