"""``compliance screen`` and ``compliance sanctions ...``: ad-hoc screening by an officer,
list updates, re-screening and the false-positive allowlist.

Lists in force: the latest version loaded with ``compliance sanctions load`` (kept in
PostgreSQL), else the bundled lists in ``COMPLIANCE_SANCTIONS_DIR`` (``rules/watchlists``).
``compliance screen`` exits 0 when nothing hits, 3 when something does (2 on errors).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from compliance.config import Settings
from compliance.errors import ComplianceError
from compliance.progress import progress, stage
from compliance.screening import EntityType, SanctionsList, Screener, entity_version

HIT_EXIT = 3


# ---- shared -----------------------------------------------------------------------------


def _engine(settings: Settings) -> Engine:
    from compliance.audit.store import connect, require_database
    from compliance.screening.tables import create_screening_schema

    engine = connect(settings.database_dsn)
    require_database(engine)
    create_screening_schema(engine)
    return engine


def _describe_lists(lists: list[SanctionsList]) -> str:
    return "; ".join(f"{lst.source} {len(lst):,} entities ({lst.version[:19]})" for lst in lists)


# ---- compliance screen ------------------------------------------------------------------


def _lists_for_screen(settings: Settings, args: argparse.Namespace) -> tuple[list[Any], str]:
    from compliance.screening.list_store import load_paths
    from compliance.screening.live import bundled_lists, lists_in_force

    if args.lists:
        return load_paths(args.lists), "lists given: " + ", ".join(str(p) for p in args.lists)
    try:
        in_force = lists_in_force(settings, _engine(settings))
    except ComplianceError as exc:  # no database: the bundled lists still answer
        print(
            f"compliance: list store unavailable ({exc}); using the bundled lists", file=sys.stderr
        )
        return bundled_lists(settings), f"bundled lists in {settings.sanctions_dir}"
    return list(in_force.lists), in_force.description


def cmd_screen(settings: Settings, args: argparse.Namespace) -> int:
    lists, origin = _lists_for_screen(settings, args)
    screener = Screener(lists)
    entity_type = EntityType(args.type) if args.type else None
    hits = screener.screen(args.name, dob=args.dob, countries=args.country, entity_type=entity_type)
    cleared = _cleared_marks(settings, args, hits) if args.customer else {}
    print(f"screened {args.name!r} against {origin}")
    print(f"  {_describe_lists(lists)}")
    open_hits = [h for h in hits if h.entity_id not in cleared]
    if not hits:
        print("no hit")
        return 0
    print(f"{len(open_hits)} hit(s)" + (f", {len(cleared)} cleared" if cleared else "") + ":")
    for number, hit in enumerate(hits, start=1):
        lines = hit.explain().splitlines()
        mark = f"  [{cleared[hit.entity_id]}]" if hit.entity_id in cleared else ""
        print(f"\n[{number}] {lines[0]}{mark}")
        for line in lines[1:]:
            print(f"    {line}")
    return HIT_EXIT if open_hits else 0


def _cleared_marks(settings: Settings, args: argparse.Namespace, hits: list[Any]) -> dict[str, str]:
    from compliance.screening.clearance_store import ClearanceStore
    from compliance.screening.customers import customer_version

    store = ClearanceStore(_engine(settings))
    version = customer_version(args.name, args.dob, args.country)
    marks = {}
    for hit in hits:
        if store.is_cleared(args.customer, hit.entity_id, hit.entity_version, version):
            latest = store.latest(args.customer, hit.entity_id)
            assert latest is not None
            marks[hit.entity_id] = f"cleared for {args.customer} by {latest.officer}"
    return marks


# ---- compliance sanctions load / rescreen / status --------------------------------------


def cmd_load(settings: Settings, args: argparse.Namespace) -> int:
    from compliance import kafka_io
    from compliance.screening.events import lists_loaded_event
    from compliance.screening.list_store import ListStore, prepare_version
    from compliance.screening.sending import EventSender
    from compliance.topics import SANCTIONS_LISTS

    engine = _engine(settings)
    store = ListStore(engine, settings.topic_prefix)
    current = store.current()
    with stage("validating the list files", unit="entities") as validated:
        prepared = prepare_version(
            args.files,
            store.files(current.id) if current else (),
            replace_all=args.replace_all,
            max_shrink=1.0 if args.allow_shrink else 0.5,
        )
        validated.count = sum(summary.entities for summary in prepared.summaries)
    kafka_io.require_broker(settings)
    sender = EventSender(settings)

    def announce(version: Any) -> None:
        files = [f.info for f in prepared.files]
        record = lists_loaded_event(
            version.version, version.previous_version, args.by, files, prepared.summaries
        )
        record["envelope"]["event_id"] = version.event_id
        sender.send(SANCTIONS_LISTS, "SanctionsListsLoaded", record)
        sender.flush()

    saved = store.save(prepared, loaded_by=args.by, based_on=current, announce=announce)
    print(f"list version {saved.version} in force (id {saved.id}); running screeners swap to it")
    for summary in prepared.summaries:
        given = "new" if summary.source in prepared.replaced else "kept"
        print(f"  {summary.source:12} {summary.entities:>8,} entities  {given}")
    if args.no_rescreen:
        return 0
    return _rescreen(settings, engine, saved.id)


def cmd_rescreen(settings: Settings, args: argparse.Namespace) -> int:
    return _rescreen(settings, _engine(settings), args.version_id)


def _rescreen(settings: Settings, engine: Engine, version_id: int | None) -> int:
    from compliance import kafka_io
    from compliance.screening.clearance_store import ClearanceStore
    from compliance.screening.customer_source import customers_from_audit
    from compliance.screening.list_store import ListStore
    from compliance.screening.rescreen import rescreen_exceptions
    from compliance.screening.sending import EventSender
    from compliance.subject_keyring import sealing_codec
    from compliance.topics import COMPLIANCE_EXCEPTIONS, DOCUMENTS_CLASSIFIED

    store = ListStore(engine, settings.topic_prefix)
    marker = store.current_marker()
    version = store.by_id(version_id if version_id is not None else marker[0] if marker else -1)
    if version is None:
        raise ComplianceError("no list version stored yet: load lists with `sanctions load`")
    previous = store.version_before(version.id)
    before_lists = store.lists(previous.id) if previous else _bundled_or_none(settings)
    before = Screener(before_lists) if before_lists is not None else None
    after = Screener(store.lists(version.id), is_cleared=ClearanceStore(engine).is_cleared)
    customers = customers_from_audit(engine, settings.topic(DOCUMENTS_CLASSIFIED))
    kafka_io.require_broker(settings)
    sender = EventSender(settings, codec=sealing_codec(engine))  # exceptions name customers
    screened = progress(customers, what="re-screened", unit="customer")
    for record in rescreen_exceptions(
        screened, before, after, list_version=version.version, cause_event_id=version.event_id
    ):
        sender.send(COMPLIANCE_EXCEPTIONS, "ComplianceException", record)
        print(f"  exception: customer {record['customer_id']}: {record['reason']}")
    sender.flush()
    print(
        f"re-screened {len(customers):,} customer(s) against {version.version}: "
        f"{sender.sent} new hit(s) raised as exceptions"
    )
    return 0


def _bundled_or_none(settings: Settings) -> list[SanctionsList] | None:
    from compliance.screening.live import bundled_lists

    try:
        return bundled_lists(settings)
    except ComplianceError:
        return None


def cmd_status(settings: Settings, _: argparse.Namespace) -> int:
    from compliance.screening.list_store import ListStore

    current = ListStore(_engine(settings), settings.topic_prefix).current()
    if current is None:
        print(f"no list version loaded: the bundled lists in {settings.sanctions_dir} are in force")
        return 0
    print(f"list version {current.version} (id {current.id})")
    print(
        f"  loaded {current.loaded_at} by {current.loaded_by}; previous {current.previous_version}"
    )
    for f in current.files:
        print(f"  {f.name:28} {f.source:12} {f.size_bytes:>10,} bytes  sha256 {f.sha256[:16]}")
    return 0


# ---- compliance sanctions clear / revoke / clearances -----------------------------------


def _entity_in_force(settings: Settings, engine: Engine, entity_id: str) -> tuple[Any, str]:
    from compliance.screening.errors import ClearanceError
    from compliance.screening.live import lists_in_force

    in_force = lists_in_force(settings, engine)
    for lst in in_force.lists:
        for entity in lst.entities:
            if entity.entity_id == entity_id:
                return entity, in_force.version or lst.version
    raise ClearanceError(f"no entity {entity_id} in the {in_force.description}")


def _customer_version(settings: Settings, engine: Engine, args: argparse.Namespace) -> str:
    from compliance.screening.customer_source import customers_from_audit
    from compliance.screening.customers import customer_version
    from compliance.screening.errors import ClearanceError
    from compliance.topics import DOCUMENTS_CLASSIFIED

    if args.name:
        return customer_version(args.name, args.dob, args.country)
    found = customers_from_audit(engine, settings.topic(DOCUMENTS_CLASSIFIED), args.customer)
    if not found:
        raise ClearanceError(
            f"no details of customer {args.customer} in the audit trail: give --name (and "
            "--dob, --country) as the customer is screened"
        )
    return found[0].version


def _announcer(settings: Settings) -> Any:
    from compliance import kafka_io
    from compliance.screening.events import Clearance, clearance_event
    from compliance.screening.sending import EventSender
    from compliance.topics import SANCTIONS_CLEARANCES

    kafka_io.require_broker(settings)
    sender = EventSender(settings)

    def announce(clearance: Clearance) -> None:
        sender.send(SANCTIONS_CLEARANCES, "SanctionsClearance", clearance_event(clearance))
        sender.flush()

    return announce


def cmd_clear(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.screening.clearance_store import ClearanceStore

    engine = _engine(settings)
    entity, list_version = _entity_in_force(settings, engine, args.entity)
    clearance = ClearanceStore(engine).clear(
        customer_id=args.customer,
        entity_id=entity.entity_id,
        entity_version=entity_version(entity),
        customer_version=_customer_version(settings, engine, args),
        officer=args.by,
        reason=args.reason,
        entity_name=entity.name,
        list_version=list_version,
        announce=_announcer(settings),
    )
    print(
        f"customer {clearance.customer_id} cleared against {entity.entity_id} ({entity.name}) "
        f"by {clearance.officer}; holds while entity version "
        f"{(clearance.entity_version or '')[:16]} and the customer's details stay as they are"
    )
    return 0


def cmd_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.screening.clearance_store import ClearanceStore

    engine = _engine(settings)
    revoked = ClearanceStore(engine).revoke(
        customer_id=args.customer,
        entity_id=args.entity,
        officer=args.by,
        reason=args.reason,
        announce=_announcer(settings),
    )
    print(f"clearance of {revoked.customer_id} against {revoked.entity_id} revoked")
    return 0


def cmd_clearances(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.screening.clearance_store import ClearanceStore

    history = ClearanceStore(_engine(settings)).history(args.customer, args.entity)
    for c in history:
        print(
            f"{c.recorded_at:%Y-%m-%d %H:%M:%S} {c.action:6} {c.customer_id} {c.entity_id} "
            f"by {c.officer}: {c.reason}"
        )
    print(f"{len(history)} action(s)")
    return 0


# ---- the parser ---------------------------------------------------------------------------


def _screened_details(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dob", help="date of birth: 1960, 1960-01-12, 12/01/1960 ...")
    parser.add_argument(
        "--country", action="append", default=[], help="nationality or country (repeatable)"
    )


def register(sub: Any) -> None:
    screen = sub.add_parser(
        "screen",
        help="screen one name against the sanctions lists in force",
        description=f"Exit status: 0 no hit, {HIT_EXIT} hit(s), 2 error.",
    )
    screen.add_argument("name")
    _screened_details(screen)
    screen.add_argument("--type", choices=["person", "entity", "vessel", "aircraft"])
    screen.add_argument(
        "--lists", nargs="+", type=Path, help="list files or folders instead of the lists in force"
    )
    screen.add_argument("--customer", help="mark hits this customer is cleared against")
    screen.set_defaults(func=cmd_screen)

    sanctions = sub.add_parser("sanctions", help="sanctions lists and clearances").add_subparsers(
        dest="action", required=True
    )
    load = sanctions.add_parser("load", help="validate list files and put them in force")
    load.add_argument("files", nargs="+", type=Path)
    load.add_argument("--by", required=True, help="who loads the lists")
    load.add_argument(
        "--replace-all", action="store_true", help="the files are the complete new set"
    )
    load.add_argument(
        "--allow-shrink", action="store_true", help="accept a list losing over half its entries"
    )
    load.add_argument("--no-rescreen", action="store_true")
    load.set_defaults(func=cmd_load)

    rescreen = sanctions.add_parser("rescreen", help="re-screen customers (idempotent)")
    rescreen.add_argument("--version-id", type=int, help="default: the version in force")
    rescreen.set_defaults(func=cmd_rescreen)

    sanctions.add_parser("status", help="the list version in force").set_defaults(func=cmd_status)

    clear = sanctions.add_parser("clear", help="clear a customer against an entity")
    for parser in (clear, revoke := sanctions.add_parser("revoke", help="revoke a clearance")):
        parser.add_argument("--customer", required=True)
        parser.add_argument("--entity", required=True, help="entity id, e.g. OFAC-SDN:12345")
        parser.add_argument("--by", required=True, help="the officer")
        parser.add_argument("--reason", required=True)
    clear.add_argument("--name", help="the customer's name as screened (default: audit trail)")
    _screened_details(clear)
    clear.set_defaults(func=cmd_clear)
    revoke.set_defaults(func=cmd_revoke)

    history = sanctions.add_parser("clearances", help="clearance history")
    history.add_argument("--customer")
    history.add_argument("--entity")
    history.set_defaults(func=cmd_clearances)
