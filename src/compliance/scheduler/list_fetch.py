"""Fetching sanctions list files for a refresh: from http(s) URLs (each file named as the
last part of its URL's path, as lists are published: sdn.csv, un_consolidated.xml, ...) or
from local files and folders (taken as they are). Every download has a timeout and a size
bound; any failure raises ``ListFetchError`` naming the location."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import httpx2

from compliance.errors import ComplianceError
from compliance.screening.list_store import expand_list_paths

_CHUNK = 1 << 16


class ListFetchError(ComplianceError):
    """A list location could not be read."""


@dataclass(frozen=True, slots=True)
class FetchedFile:
    name: str
    path: Path
    sha256: str


def is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def _url_name(url: str) -> str:
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    if not name or name in (".", ".."):
        raise ListFetchError(f"{url}: the URL names no file (expected e.g. .../sdn.csv)")
    return name


def _download(client: httpx2.Client, url: str, into: Path, max_bytes: int) -> Path:
    target = into / _url_name(url)
    size = 0
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise ListFetchError(f"{url}: HTTP {response.status_code}")
            with target.open("wb") as out:
                for chunk in response.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ListFetchError(f"{url}: larger than {max_bytes:,} bytes")
                    out.write(chunk)
    except httpx2.HTTPError as exc:
        raise ListFetchError(f"{url}: {type(exc).__name__} ({exc})") from None
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_lists(
    locations: list[str], into: Path, *, timeout_s: float, max_bytes: int
) -> list[FetchedFile]:
    """The list files of ``locations``, in ``into`` (URLs downloaded; local files copied)."""
    paths: list[Path] = []
    with httpx2.Client(timeout=timeout_s, follow_redirects=True) as client:
        for location in locations:
            if is_url(location):
                paths.append(_download(client, location, into, max_bytes))
                continue
            try:
                found = expand_list_paths([Path(location)])
            except ComplianceError as exc:
                raise ListFetchError(str(exc)) from None
            for path in found:
                try:
                    paths.append(Path(shutil.copy2(path, into / path.name)))
                except OSError as exc:
                    raise ListFetchError(f"{path}: {exc.strerror or exc}") from None
    if not paths:
        raise ListFetchError("no list files at " + ", ".join(locations))
    return [FetchedFile(p.name, p, _sha256(p)) for p in paths]
