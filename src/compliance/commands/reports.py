"""``compliance report sar --case ID --out sar.xml``: the FinCEN SAR batch XML of a
confirmed case, validated against FinCEN's schema before a byte is written.

Only a case the case tables hold as ``closed_confirmed``, whose confirming decision is in the
audit trail, makes a filing; any other is refused with the reason. With ``--case`` the SAR is
built from the case tables and the audit trail behind the case
(``compliance.reports.sar_from_case``). ``--input case.json`` (a case as plain JSON,
``compliance.reports.sar_input.CaseInput``, e.g. edited offline) gives the content instead,
but the case it names must still be confirmed in the tables: a status written in the file is
never believed. The parties come from ``COMPLIANCE_SAR_CONFIG_FILE``, amounts are converted
to US dollars with the transaction rules' rate table. An invalid report is never written: the
command names the elements at fault and exits 2.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from compliance.config import Settings
from compliance.errors import ComplianceError


def cmd_report_sar(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.reports.sar_case import filing_from_case
    from compliance.reports.sar_config import load_sar_parties
    from compliance.reports.sar_input import CaseInput
    from compliance.reports.sar_schema import validate_sar
    from compliance.reports.sar_xml import sar_xml
    from compliance.transactions.rates import load_rates

    case = _confirmed_case(settings, args, CaseInput)
    parties = load_sar_parties(settings.sar_config_file)
    rates = load_rates(
        settings.transactions_rates_file or settings.transactions_rules_dir / "rates.yaml"
    )
    filing_date = args.filing_date or datetime.now(UTC).date()
    filing = filing_from_case(case, parties, rates, filing_date=filing_date)
    xml = sar_xml(filing)
    validate_sar(xml)
    _write_whole(args.out, xml)
    print(
        f"wrote {args.out}: FinCEN SAR for case {case.case_id}, "
        f"{len(filing.activity.classifications)} activity type(s), "
        f"USD {filing.activity.amount_usd or 0:,}, valid against FinCEN's SAR XML schema"
    )
    return 0


def _confirmed_case(settings: Settings, args: argparse.Namespace, model: Any) -> Any:
    """The case to report: from the tables and the audit trail (``--case``), or the file's
    content (``--input``) for a case the tables hold as confirmed, with their status."""
    from compliance.audit.store import connect, require_database
    from compliance.reports.sar_from_case import case_input, confirmed_view
    from compliance.subject_keyring import DatabaseKeyring

    given = _read_case(args.input, model) if args.input is not None else None
    engine = connect(settings.database_dsn)
    try:
        require_database(engine)
        keyring = DatabaseKeyring(engine)
        scope = settings.topic_prefix
        if given is None:
            return case_input(engine, keyring, args.case, scope)
        view = confirmed_view(engine, keyring, given.case_id, scope)
        _require_same_case(given, view)
        return given.model_copy(update={"status": view.case.status})
    finally:
        engine.dispose()


def _require_same_case(given: Any, view: Any) -> None:
    """A file may edit a confirmed case's content for filing, never swap in another
    customer's, another category's or exceptions the case does not hold."""
    case = view.case
    held = {e.rule_id for e in view.exceptions}
    named = {e.rule_id for e in given.exceptions}
    wrong = [
        what
        for what, differs in (
            ("customer", given.customer_id != case.customer_id),
            ("category", given.category is not None and given.category != case.category),
            ("exceptions", not named <= held),
        )
        if differs
    ]
    if wrong:
        raise ComplianceError(
            f"the file's {', '.join(wrong)} differ from case {case.case_id} in the tables: "
            "a SAR is filed for the case as confirmed"
        )


def _read_case(path: Path, model: Any) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ComplianceError(f"cannot read --input {path}: {exc.strerror}") from None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise ComplianceError(f"{path} is not a case: {problems}") from None


def _write_whole(path: Path, body: bytes) -> None:
    """Write through a temporary file renamed into place: the file is whole or absent."""
    folder = path.resolve().parent
    if not folder.is_dir():
        raise ComplianceError(f"--out: folder {folder} does not exist")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(body)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, not {text!r}") from None


def register(report: Any) -> None:
    """Add ``sar`` to the ``report`` command's sub-commands."""
    sar = report.add_parser(
        "sar", help="the FinCEN SAR batch XML of a confirmed case, validated before written"
    )
    source = sar.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--case", metavar="CASE_ID", help="a closed_confirmed case of the case tables"
    )
    source.add_argument(
        "--input",
        type=Path,
        help="the content as JSON (see CaseInput) of a case the tables hold as confirmed "
        "(its status in the file is ignored)",
    )
    sar.add_argument("--out", type=Path, required=True, help="the XML file to write")
    sar.add_argument(
        "--filing-date", type=_day, default=None, help="YYYY-MM-DD (default: today, UTC)"
    )
    sar.set_defaults(func=cmd_report_sar)
