"""List versions in PostgreSQL: validated list files, stored whole, that running screeners
swap to.

``prepare_version`` validates a set of files without touching the database: every file must
be a recognised list format, load completely (a malformed or truncated file raises
``ListLoadError`` naming the file and line) and not lose more than ``max_shrink`` of the
entities its list had in the version in force (a file cut at a line boundary still parses).
New files replace the files of the same list (source) in the version in force; the other
lists stay, unless ``replace_all``. ``ListStore.save`` then stores the version in one
transaction, after the ``SanctionsListsLoaded`` event is acknowledged. Nothing changes when
any step fails: the version in force stays in force.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select, text

from compliance.screening.errors import ListLoadError, ListVersionError
from compliance.screening.events import ListFile, ListSummary
from compliance.screening.loaders import load_directory
from compliance.screening.model import SanctionsList
from compliance.screening.tables import database, list_files, list_versions

# Files in a folder that are documentation, not lists.
_NOT_LISTS = frozenset({".md", ".txt", ".rst"})
_SAVE_LOCK = 0x5A_4E_C7_11


@dataclass(frozen=True, slots=True)
class StoredFile:
    name: str
    source: str
    sha256: str
    size_bytes: int
    list_entities: int
    content: bytes = dataclasses.field(repr=False, default=b"")

    @property
    def info(self) -> ListFile:
        return ListFile(self.name, self.source, self.sha256, self.size_bytes)


@dataclass(frozen=True, slots=True)
class ListVersion:
    id: int
    version: str
    previous_version: str | None
    event_id: str
    loaded_by: str
    loaded_at: datetime | None
    files: tuple[StoredFile, ...] = ()  # without content


@dataclass(frozen=True, slots=True)
class PreparedVersion:
    version: str
    files: tuple[StoredFile, ...]
    lists: tuple[SanctionsList, ...]
    replaced: tuple[str, ...]  # sources given anew
    kept: tuple[str, ...]  # sources carried over from the version in force

    @property
    def summaries(self) -> tuple[ListSummary, ...]:
        return tuple(ListSummary(lst.source, lst.version, len(lst)) for lst in self.lists)


def version_of(files: Iterable[StoredFile]) -> str:
    """The list-set version: a hash of every file's name and content hash."""
    lines = sorted(f"{f.name}\x1f{f.sha256}" for f in files)
    return "lists:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


def expand_list_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; folders as the list files in them (documentation files skipped)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.iterdir())
                if p.is_file() and not p.name.startswith(".") and p.suffix not in _NOT_LISTS
            )
        elif path.is_file():
            found.append(path)
        else:
            raise ListVersionError(f"no such file or folder: {path}")
    return found


def load_files(files: Sequence[StoredFile]) -> list[SanctionsList]:
    """The lists in stored files (written to a private folder only while they are read)."""
    with tempfile.TemporaryDirectory(prefix="sanctions-") as folder:
        for f in files:
            (Path(folder) / f.name).write_bytes(f.content)
        lists = load_directory(folder)
    return [dataclasses.replace(lst, files=tuple(Path(p).name for p in lst.files)) for lst in lists]


def _load_named(paths: Sequence[Path]) -> tuple[list[SanctionsList], dict[str, bytes]]:
    """Load the given files together, by their own names; errors name the given path."""
    names = Counter(p.name for p in paths)
    if twice := sorted(n for n, count in names.items() if count > 1):
        raise ListVersionError(f"two files named {twice[0]}: give each list file once")
    contents = {}
    for path in paths:
        try:
            contents[path.name] = path.read_bytes()
        except OSError as exc:
            raise ListLoadError(path, f"unreadable ({exc.strerror or exc})") from exc
    by_name = {p.name: p for p in paths}
    try:
        lists = load_files(
            [StoredFile(name, "", "", 0, 0, data) for name, data in contents.items()]
        )
    except ListLoadError as exc:
        original = by_name.get(Path(exc.path).name, exc.path)
        raise ListLoadError(original, exc.reason, line=exc.line, element=exc.element) from None
    used = {name for lst in lists for name in lst.files}
    if unknown := sorted(set(contents) - used):
        raise ListVersionError(
            f"{by_name[unknown[0]]} is not a recognised list file (expected names such as "
            "sdn.csv, alt.csv, add.csv, cons_prim.csv, un_consolidated.xml, "
            "eu_consolidated.xml, ConList.csv, us_csl.csv, *.ftm.json)"
        )
    return lists, contents


def load_paths(paths: Sequence[Path]) -> list[SanctionsList]:
    """The lists in the given files and folders, validated as ``prepare_version`` does."""
    files = expand_list_paths(paths)
    if not files:
        raise ListVersionError(f"no list files in {', '.join(str(p) for p in paths)}")
    return _load_named(files)[0]


def prepare_version(
    paths: Sequence[Path],
    in_force: Sequence[StoredFile] = (),
    *,
    replace_all: bool = False,
    max_shrink: float = 0.5,
) -> PreparedVersion:
    """Validate ``paths`` (files, or folders of them) as an update of the files ``in_force``
    (see the module docstring)."""
    paths = expand_list_paths(paths)
    if not paths:
        raise ListVersionError("no list files given")
    new_lists, contents = _load_named(paths)
    source_of = {name: lst.source for lst in new_lists for name in lst.files}
    count_of = {lst.source: len(lst) for lst in new_lists}
    new_files = [
        StoredFile(
            name,
            source_of[name],
            hashlib.sha256(data).hexdigest(),
            len(data),
            count_of[source_of[name]],
            data,
        )
        for name, data in sorted(contents.items())
    ]
    replaced = set(count_of)
    kept = [] if replace_all else [f for f in in_force if f.source not in replaced]
    if clash := sorted({f.name for f in kept} & set(contents)):
        raise ListVersionError(
            f"{clash[0]} would replace a file of another list; name list files as published"
        )
    before = {f.source: f.list_entities for f in in_force}
    for source, count in sorted(count_of.items()):
        if before.get(source) and count < before[source] * (1 - max_shrink):
            raise ListVersionError(
                f"{source} would shrink from {before[source]:,} to {count:,} entities "
                f"(more than {max_shrink:.0%}): a truncated file? Check it, or allow it "
                "explicitly"
            )
    files = tuple(sorted([*kept, *new_files], key=lambda f: f.name))
    all_lists = load_files(files) if kept else new_lists
    return PreparedVersion(
        version=version_of(files),
        files=files,
        lists=tuple(all_lists),
        replaced=tuple(sorted(replaced)),
        kept=tuple(sorted({f.source for f in kept})),
    )


Announce = Callable[[ListVersion], None]


class ListStore:
    """List versions in PostgreSQL; the latest is the version in force. Versions belong to
    a ``namespace``, the deployment's topic prefix, so tenants and tests sharing a database
    each have their own lists in force."""

    def __init__(self, engine: Engine, namespace: str = "") -> None:
        self.engine = engine
        self.namespace = namespace
        self._mine = list_versions.c.namespace == namespace

    def current(self) -> ListVersion | None:
        """The version in force (file descriptions, no contents); None before any load."""
        with database(self.engine) as conn:
            row = conn.execute(
                select(list_versions).where(self._mine).order_by(list_versions.c.id.desc()).limit(1)
            ).first()
            if row is None:
                return None
            files = conn.execute(
                select(
                    list_files.c.name,
                    list_files.c.source,
                    list_files.c.sha256,
                    list_files.c.size_bytes,
                    list_files.c.list_entities,
                )
                .where(list_files.c.version_id == row.id)
                .order_by(list_files.c.name)
            ).all()
        return ListVersion(
            id=row.id,
            version=row.version,
            previous_version=row.previous_version,
            event_id=str(row.event_id),
            loaded_by=row.loaded_by,
            loaded_at=row.loaded_at,
            files=tuple(StoredFile(*f) for f in files),
        )

    def current_marker(self) -> tuple[int, str] | None:
        """(id, version) of the version in force: the cheap query running screeners poll."""
        query = select(list_versions.c.id, list_versions.c.version)
        with database(self.engine) as conn:
            row = conn.execute(
                query.where(self._mine).order_by(list_versions.c.id.desc()).limit(1)
            ).first()
        return None if row is None else (row.id, row.version)

    def version_before(self, version_id: int) -> ListVersion | None:
        with database(self.engine) as conn:
            row = conn.execute(
                select(list_versions.c.id)
                .where(self._mine, list_versions.c.id < version_id)
                .order_by(list_versions.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else self.by_id(row.id)

    def by_id(self, version_id: int) -> ListVersion | None:
        with database(self.engine) as conn:
            row = conn.execute(
                select(list_versions).where(self._mine, list_versions.c.id == version_id)
            ).first()
        if row is None:
            return None
        return ListVersion(
            row.id,
            row.version,
            row.previous_version,
            str(row.event_id),
            row.loaded_by,
            row.loaded_at,
        )

    def files(self, version_id: int) -> list[StoredFile]:
        """The files of a version, with their contents."""
        query = (
            select(
                list_files.c.name,
                list_files.c.source,
                list_files.c.sha256,
                list_files.c.size_bytes,
                list_files.c.list_entities,
                list_files.c.content,
            )
            .where(list_files.c.version_id == version_id)
            .order_by(list_files.c.name)
        )
        with database(self.engine) as conn:
            return [StoredFile(*row) for row in conn.execute(query)]

    def lists(self, version_id: int) -> list[SanctionsList]:
        return load_files(self.files(version_id))

    def save(
        self,
        prepared: PreparedVersion,
        *,
        loaded_by: str,
        based_on: ListVersion | None,
        announce: Announce | None = None,
    ) -> ListVersion:
        """Store ``prepared`` as the version in force. ``based_on`` is the version it was
        prepared against: if another load came first, nothing is stored (run it again).
        ``announce`` publishes the event before the transaction commits."""
        if based_on is not None and based_on.version == prepared.version:
            raise ListVersionError(f"these lists are already in force ({prepared.version})")
        with database(self.engine, write=True) as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SAVE_LOCK})
            latest = conn.execute(
                select(list_versions.c.id)
                .where(self._mine)
                .order_by(list_versions.c.id.desc())
                .limit(1)
            ).scalar()
            if latest != (based_on.id if based_on else None):
                raise ListVersionError(
                    "another list version was loaded meanwhile; load the files again"
                )
            version = ListVersion(
                id=0,
                version=prepared.version,
                previous_version=based_on.version if based_on else None,
                event_id=str(uuid.uuid4()),
                loaded_by=loaded_by,
                loaded_at=None,
                files=tuple(dataclasses.replace(f, content=b"") for f in prepared.files),
            )
            row = conn.execute(
                list_versions.insert()
                .values(
                    namespace=self.namespace,
                    version=version.version,
                    previous_version=version.previous_version,
                    event_id=version.event_id,
                    loaded_by=loaded_by,
                )
                .returning(list_versions.c.id, list_versions.c.loaded_at)
            ).one()
            conn.execute(
                list_files.insert(),
                [{"version_id": row.id, **dataclasses.asdict(f)} for f in prepared.files],
            )
            version = dataclasses.replace(version, id=row.id, loaded_at=row.loaded_at)
            if announce is not None:
                announce(version)
        return version
