"""The evidence of a document's type in its text, and how sure the evidence makes us.

Each type has signals of three kinds: its *title* (what the document calls itself: "Form
W-2", "Kontoauszug", "Certificate of Incorporation"), the *labels* of the fields such a
document prints ("Net pay", "Supply address", "Employer identification number") and *layout*
cues (MT940 tags, the numbered fields of an EU driving licence). A signal counts once however
often it matches. A machine-readable zone is the strongest layout cue; ``local.classify``
weighs it on top of this.

Confidence is calibrated so that one incidental word never decides: evidence of a single
signal, or of field labels alone (no title, no layout of the type), names no type: the
document is ``unknown`` at confidence ``THIN``. A type with only two signals stays below
``TWO_SIGNALS_CAP``; only a title with at least two more signals and a clear lead over the
next type reaches 0.9.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import ahocorasick_rs

TITLE, LABEL, LAYOUT = "title", "label", "layout"

MIN_SCORE = 4.0  # below this, or with one signal only, the type is unknown
THIN = 0.3  # the confidence of "unknown" when there was some evidence, but too thin
TWO_SIGNALS_CAP = 0.8
MAX_CONFIDENCE = 0.99
SCALE = 4.0  # score at which the evidence is 63% of the way to certain
LEAD_FOR_FULL_MARGIN = 4.0  # a lead of one title over the runner-up


@dataclass(frozen=True)
class Signal:
    name: str
    kind: str
    pattern: re.Pattern[str]
    weight: float
    # The pattern's alternatives, each with a substring the lowered text holds wherever the
    # alternative matches ("" when it has none), and where that substring stands in every
    # match of it (``None`` when that varies): an alternative is tried only where the text
    # holds its substring (``matched_patterns``).
    parts: tuple[tuple[str, re.Pattern[str]], ...]
    offsets: tuple[int | None, ...]

    def matches(self, lowered: str) -> bool:
        return self.pattern.pattern in matched_patterns(lowered)


def _alternatives(pattern: str) -> list[str]:
    """The pattern's top-level alternatives (``|`` outside groups and classes)."""
    parts, depth, in_class, current, i = [], 0, False, "", 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            current += pattern[i : i + 2]
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(current)
            current = ""
            i += 1
            continue
        current += char
        i += 1
    return [*parts, current]


def _needle(alternative: str) -> tuple[str, int]:
    """The longest run of plain characters the alternative must match as they are: outside
    any group (a group may hold alternatives of its own, or be optional as a whole); with
    where it starts in the alternative."""
    runs: list[tuple[str, int]] = []
    run, begins, depth, i = "", 0, 0, 0

    def close() -> None:
        nonlocal run
        runs.append((run, begins))
        run = ""

    while i < len(alternative):
        char = alternative[i]
        if not run:
            begins = i
        if char == "\\" and i + 1 < len(alternative):
            escaped = alternative[i + 1]
            if depth == 0 and escaped in ".()[]{}?*+|^$\\/-'":
                run += escaped
            else:  # \b, \s, \d, \w (not a plain character), or inside a group
                close()
            i += 2
            continue
        if char == "[":  # a class: one of several characters
            close()
            i = alternative.index("]", i + 2 if alternative.startswith("[]", i) else i + 1)
        elif char == "(":
            close()
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth > 0:
            pass
        elif char in "?*{":  # the character before is optional or repeated
            run = run[:-1]
            close()
            if char == "{":
                i = alternative.index("}", i)
        elif char in "|^$.+":
            close()
        else:
            run += char
        i += 1
    close()
    return max(runs, key=lambda found: len(found[0]))


def _offset(alternative: str, begins: int) -> int | None:
    """How many characters every match of the alternative has before the part of it that
    starts at ``begins`` in the pattern, or None when that may vary (anything but single
    characters, classes, boundaries and ``^`` before it)."""
    width, i = 0, 0
    while i < begins:
        char = alternative[i]
        if char == "\\":
            escaped = alternative[i + 1]
            if escaped.isalnum() and escaped not in "bBAZdDsSwW":
                return None  # a back reference, or a letter of no fixed width
            width += escaped not in "bBAZ"  # a boundary, or one character
            i += 2
        elif char == "[":
            width += 1
            i = alternative.index("]", i + 2 if alternative.startswith("[]", i) else i + 1) + 1
        elif char == "^":
            i += 1
        elif char in "()|?*+{}$":
            return None
        else:
            width += 1
            i += 1
    return width


def _signal(name: str, kind: str, pattern: str, weight: float) -> Signal:
    parts, offsets = [], []
    for alternative in _alternatives(pattern):
        needle, begins = _needle(alternative)
        if len(needle) < 3:  # too common to be worth finding
            needle, offset = "", None
        else:
            offset = _offset(alternative, begins)
        parts.append((needle, re.compile(alternative, re.MULTILINE)))
        offsets.append(offset)
    compiled = re.compile(pattern, re.MULTILINE)
    return Signal(name, kind, compiled, weight, tuple(parts), tuple(offsets))


# Field labels several identity documents share.
_IDENTITY_LABELS = (
    (
        "nationality",
        LABEL,
        r"\bnationality\b|\bnationalit[eé]\b|\bstaatsangeh[oö]rigkeit\b|\bnacionalidad\b"
        r"|\bnationaliteit\b|\bcittadinanza\b",
        1.5,
    ),
    (
        "birth date",
        LABEL,
        r"\bdate of birth\b|\bdate de naissance\b|\bgeburtstag\b|\bgeburtsdatum\b"
        r"|\bgeboortedatum\b|\bfecha de nacimiento\b|\bdata di nascita\b|\bbirth date\b|\bdob\b",
        1.0,
    ),
    (
        "expiry",
        LABEL,
        r"\bdate of expiry\b|\bdate of expiration\b|\bdate d'expiration\b|\bg[uü]ltig bis\b"
        r"|\bgeldig tot\b|\bscadenza\b|\bvalidez\b|\bvalid until\b|\bexpiry\b",
        1.0,
    ),
    (
        "sex",
        LABEL,
        r"\bsex\b|\bsexe\b|\bgeschlecht\b|\bgeslacht\b|\bsesso\b|\bsexo\b",
        1.0,
    ),
    (
        "surname",
        LABEL,
        r"\bsurname\b|\bapellidos\b|\bcognome\b|\bnachname\b|\bgiven names?\b|\bpr[eé]noms\b"
        r"|\bvornamen\b|\bvoornamen\b",
        1.0,
    ),
)
_MONEY_TOTAL = ("total", LABEL, r"\btotal\b|\bsumme\b|\bsubtotal\b|\btotaal\b", 1.0)
_ACCOUNT_NUMBER = (
    "account number",
    LABEL,
    r"\baccount number\b|\baccount no\b|\bcustomer number\b|\br[eé]f[eé]rence client\b"
    r"|\baccount reference\b|\baccount holder\b|\bkundennummer\b",
    1.0,
)

_SIGNALS: dict[str, tuple[tuple[str, str, str, float], ...]] = {
    "passport": (
        (
            "title",
            TITLE,
            r"\bpassport\b|\bpasseport\b|\breisepass\b|\bpasaporte\b|\bpaspoort\b"
            r"|\bpassaporto\b",
            4.0,
        ),
        (
            "passport number",
            LABEL,
            r"passport no|passport number|pass-nr|passeport n|no\. du passeport",
            2.0,
        ),
        ("type p", LABEL, r"\btype p\b|\btyp p\b|\btype / type\b|\btype/type\b", 1.5),
        ("authority", LABEL, r"\bauthority\b|\bautorit[eé]\b|\bbeh[oö]rde\b", 1.0),
        ("place of birth", LABEL, r"\bplace of birth\b|\blieu de naissance\b", 1.0),
        *_IDENTITY_LABELS,
    ),
    "national_id": (
        (
            "title",
            TITLE,
            r"\bidentity card\b|\bid card\b|\bnational id\b|\bcarte d'identit[eé]\b"
            r"|\bpersonalausweis\b|\bidentiteitskaart\b|\bdocumento nacional de identidad\b"
            r"|\bcarta d'identit|\bcarta di identit|\bdni\b|\bidentity document\b",
            4.0,
        ),
        (
            "card number",
            LABEL,
            r"\bdocument no\b|\bdocumentnummer\b|\bkaartnr\b|\bn° de carte\b|\bcard no\b"
            r"|\bdocument number\b|\bpersoonsnummer\b|\bzugangsnummer\b|\bidesp\b",
            1.5,
        ),
        ("place of birth", LABEL, r"\bplace of birth\b|\bgeburtsort\b|\bgeboorteplaats\b", 1.0),
        *_IDENTITY_LABELS,
    ),
    "driving_licence": (
        (
            "title",
            TITLE,
            r"\bdriving licen[cs]e\b|\bdriver'?s? licen[cs]e\b|\bf[uü]hrerschein\b"
            r"|\bpermis de conduire\b|\brijbewijs\b|\bpatente di guida\b"
            r"|\bpermiso de conducci[oó]n\b|\bdriver licence\b",
            4.0,
        ),
        (
            "numbered fields",
            LAYOUT,
            r"^\s*4a\.|^\s*4b\.|\b4c\.|^\s*4d\b|\b4a iss\b|\b4b exp\b",
            3.0,
        ),
        (
            "licence class",
            LABEL,
            r"\bclass\b|\blicence class\b|\bcategor|^\s*9\.\s*[a-z]{1,2}\d?/",
            1.5,
        ),
        ("us card labels", LABEL, r"^(?:dl|exp|iss|dob|ln|fn|rstr|end)\s", 1.5),
        ("restrictions", LABEL, r"\brestrictions\b|\bconditions\b|\brstr\b|\brest/cond\b", 1.0),
        ("licence number", LABEL, r"\blicence no\b|\blicense no\b|\bnumber/num[eé]ro\b", 1.5),
        *_IDENTITY_LABELS[1:2],
    ),
    "residence_permit": (
        (
            "title",
            TITLE,
            r"\bresidence permit\b|\bpermanent resident\b|\baufenthaltstitel\b"
            r"|\baufenthaltserlaubnis\b|\btitre de s[eé]jour\b|\bverblijfsvergunning\b"
            r"|\bpermesso di soggiorno\b|\bresidence card\b|\bniederlassungserlaubnis\b",
            4.0,
        ),
        (
            "visa title",
            TITLE,
            r"\btype of visa\b|\bvisa type\b|\bvalid for schengen\b|\bschengen states\b"
            r"|^\s*(?:united states of america\s+)?visa\s*$",
            4.0,
        ),
        (
            "visa labels",
            LABEL,
            r"\bnumber of entries\b|\bduration of stay\b|\bissuing post\b|\bentries\b"
            r"|\bannotation\b|\bcontrol number\b",
            2.0,
        ),
        (
            "permit labels",
            LABEL,
            r"\btype of permit\b|\bart des titels\b|\bremarks\b|\banmerkungen\b"
            r"|\bleave to remain\b|\buscis\b|\bresident since\b|\bcategory\b",
            2.0,
        ),
        *_IDENTITY_LABELS,
    ),
    "proof_of_address": (
        (
            "title",
            TITLE,
            r"\butility bill\b|\belectricity bill\b|\byour electricity\b|\bgas bill\b"
            r"|\bwater bill\b|\bwater & sewer\b|\bcouncil tax\b|\bbroadband\b"
            r"|\bfacture de gaz\b|\bfacture d'[eé]lectricit[eé]\b|\bproof of address\b"
            r"|\bconfirmation of address\b|\bstromrechnung\b|\benergy bill\b|\belectricity\b",
            4.0,
        ),
        (
            "supply address",
            LABEL,
            r"\bsupply address\b|\bservice address\b|\binstallation address\b"
            r"|\bbilling address\b|\badresse de consommation\b|\bproperty:|\blieferadresse\b",
            2.0,
        ),
        (
            "consumption",
            LABEL,
            r"\bkwh\b|\bmeter reading\b|\bstanding charge\b|\bmpan\b|\bconsommation\b"
            r"|\bverbrauch\b|\bband [a-h]\b|\bgallons\b",
            2.0,
        ),
        (
            "address confirmed",
            LABEL,
            r"\bwe confirm that\b|\baddress we hold\b|\bverifying their address\b",
            2.0,
        ),
        (
            "amount due",
            LABEL,
            r"\bamount due\b|\btotal amount due\b|\bamount payable\b|\btotal to pay\b"
            r"|\btotal ttc\b|\bdirect debit\b|\bpr[eé]l[eè]vement\b",
            1.0,
        ),
        _ACCOUNT_NUMBER,
    ),
    "bank_statement": (
        ("mt940 reference", LAYOUT, r"^:20:", 2.0),
        ("mt940 account", LAYOUT, r"^:25:", 2.0),
        ("mt940 balance", LAYOUT, r"^:6[02][fm]:|^:34f:", 3.0),
        ("mt940 entries", LAYOUT, r"^:61:|^:86:", 2.0),
        (
            "title",
            TITLE,
            r"\bbank statement\b|\baccount statement\b|\bstatement of account\b"
            r"|\bkontoauszug\b|\brelev[eé] de compte\b|\brekeningafschrift\b",
            4.0,
        ),
        (
            "balances",
            LABEL,
            r"\bopening balance\b|\bbeginning balance\b|\bbalance brought forward\b"
            r"|\balter kontostand\b|\bsolde au\b|\bending balance\b|\bclosing balance\b"
            r"|\bbalance carried forward\b|\bneuer kontostand\b",
            2.0,
        ),
        (
            "movements",
            LABEL,
            r"\bpaid in\b|\bpaid out\b|\bdeposits\b|\bwithdrawals\b|\bd[eé]bit\b|\bbuchungstag\b"
            r"|\blibell[eé]\b",
            1.5,
        ),
        ("bank account", LABEL, r"\biban\b|\bsort code\b|\bgirokonto\b|\bcompte courant\b", 1.0),
        _ACCOUNT_NUMBER,
    ),
    "payslip": (
        (
            "title",
            TITLE,
            r"\bpayslip\b|\bpay slip\b|\bsalary slip\b|\bearnings statement\b"
            r"|\bpay statement\b|\bpay stub\b|\bverdienstabrechnung\b|\bgehaltsabrechnung\b"
            r"|\blohnabrechnung\b|\bbulletin de paie\b|\bbulletin de salaire\b|\bloonstrook\b"
            r"|\bsalary statement\b|\bbrutto/netto-bez[uü]ge\b",
            4.0,
        ),
        (
            "net pay",
            LABEL,
            r"\bnet pay\b|\bnet salary\b|\bnetto-verdienst\b|\bnet [aà] payer\b|\btake home\b"
            r"|\bauszahlungsbetrag\b",
            2.0,
        ),
        (
            "gross pay",
            LABEL,
            r"\bgross pay\b|\bgross salary\b|\bgesamt-brutto\b|\bsalaire brut\b"
            r"|\btotal earnings\b",
            2.0,
        ),
        (
            "pay period",
            LABEL,
            r"\bpay date\b|\bpay period\b|\btax period\b|\bdate de paiement\b|\byear to date\b"
            r"|\bytd\b|\bfor the month of\b",
            1.5,
        ),
        (
            "employee",
            LABEL,
            r"\bemployee no\b|\bemployee id\b|\bemployee code\b|\bpersonal-nr\b|\bsalari[eé]\b"
            r"|\bemployee name\b|\bemployee:",
            1.5,
        ),
        (
            "deductions",
            LABEL,
            r"\bdeductions\b|\bcotisations\b|\bprovident fund\b|\bkrankenversicherung\b",
            1.0,
        ),
    ),
    "tax_form": (
        (
            "title",
            TITLE,
            r"\bform w-9\b|\bform w-2\b|\bw-2 wage and tax statement\b|\bwage and tax statement\b"
            r"|\bform 1099|\b1099-(?:int|div|nec|misc|r|b|k|g|s|oid|sa)\b|\bform 1098\b"
            r"|\bmortgage interest statement\b|\bform 1040\b|\(form 1040\)|\bform w-8ben\b"
            r"|\bp60 end of year certificate\b|\blohnsteuerbescheinigung\b"
            r"|\bstatement of remuneration paid\b|\brequest for taxpayer identification number\b"
            r"|^\s*(?:\d{4}\s+)?form \d{3,5}(?:-[a-z]+)?\b",  # a numbered form's heading
            5.0,
        ),
        (
            "revenue service",
            LABEL,
            r"\binternal revenue service\b|\bdepartment of the treasury\b"
            r"|\bcanada revenue agency\b|\bfinanzverwaltung\b|\bhmrc\b",
            2.0,
        ),
        (
            "taxpayer ids",
            LABEL,
            r"\btaxpayer identification number\b|\bpayer'?s tin\b|\brecipient'?s tin\b"
            r"|\bemployer identification number\b|\bsocial security number\b"
            r"|\bidentifikationsnummer\b|\bsocial insurance number\b|\bforeign tax identifying\b"
            r"|\bnational insurance number\b|\bborrower'?s tin\b",
            2.0,
        ),
        ("omb", LABEL, r"\bomb no\b", 2.0),
        (
            "tax year",
            LABEL,
            r"\bfor calendar year\b|\btax year\b|\bcopy b\b|\bfor recipient\b|\bsteuerklasse\b"
            r"|\bfinanzamt\b|\bpaye reference\b|\bfinal tax code\b",
            1.5,
        ),
        (
            "tax boxes",
            LABEL,
            r"\bfederal income tax withheld\b|\bincome tax deducted\b|\beinbehaltene lohnsteuer\b"
            r"|\btax deducted\b|\bunder penalties of perjury\b",
            1.5,
        ),
    ),
    "invoice": (
        (
            "title",
            TITLE,
            r"\binvoice\b|\bfactuur|\bfacture\b|\brechnung|\bfattura\b|\bfactura\b",
            4.0,
        ),
        (
            "invoice number",
            LABEL,
            r"\binvoice (?:no|number|date|#)|\bfactuurnummer|\bfactuurdatum|\brechnungsnummer"
            r"|\brechnungsdatum|\bn° de facture|\bnum[eé]ro de facture|\bfacture n|\binvoice:",
            2.0,
        ),
        (
            "amount due",
            LABEL,
            r"\bamount due\b|\btotal due\b|\bbalance due\b|\bte betalen\b|\bnet [aà] payer\b",
            1.0,
        ),
        ("vat", LABEL, r"\bvat\b|\bbtw\b|\btva\b|\bmwst\b|\bust\b|\bgst\b|\bigst\b|\bcgst\b", 1.0),
        (
            "lines",
            LABEL,
            r"\bbill to\b|\bship to\b|\bsold by\b|\bqty\b|\bquantity\b|\bunit price\b"
            r"|\baantal\b|\bmenge\b|\bquantit[eé]\b|\bhsn\b|\bdescription\b",
            1.5,
        ),
        (
            "payment terms",
            LABEL,
            r"\bpayment terms\b|\bdue date\b|\bterms of payment\b|\bvervaldatum\b"
            r"|\bzahlungsziel\b|\b[eé]ch[eé]ance\b|\bpay by\b",
            1.5,
        ),
    ),
    "receipt": (
        (
            "title",
            TITLE,
            r"\breceipt\b|\bricevuta\b|\bkassenbon\b|\bbon nr\b|\bquittung\b|\bre[cç]u\b"
            r"|\bticket de caisse\b",
            4.0,
        ),
        (
            "paid",
            LABEL,
            r"\bchange due\b|\bchange\b|\bcash\b|\bcontactless\b|\bcard ending\b|\bpaid by\b"
            r"|\btotal paid\b|\bgegeben\b|\bec-karte\b|\bpayment method\b|\bpayment visa\b",
            1.5,
        ),
        (
            "till sign-off",  # a till receipt seldom calls itself a receipt
            LAYOUT,
            r"\bthank you for (?:shopping|your visit|staying|your custom)"
            r"|\bvielen dank f[uü]r ihren|\bmerci de votre visite\b",
            2.0,
        ),
        (
            "received",
            LABEL,
            r"\breceived from\b|\bthe sum of\b|\breceived by\b|\bbeing payment for\b",
            2.0,
        ),
        (
            "stay or trip",
            LABEL,
            r"\broom charge\b|\bguest\b|\barrival\b|\bdeparture\b|\bpickup\b|\bdropoff\b"
            r"|\btisch\b|\bbedienung\b|\btip\b",
            2.0,
        ),
        _MONEY_TOTAL,
    ),
    "contract": (
        (
            "title",
            TITLE,
            r"\bagreement\b|\bcontract of employment\b|\bemployment contract\b|\bcontract\b"
            r"|\bmietvertrag\b|\barbeitsvertrag\b|\bcontrat\b|\bovereenkomst\b|\bcontratto\b",
            3.0,
        ),
        (
            "parties",
            LABEL,
            r"\bby and between\b|\bbetween:?$|\bbetween the\b|\bzwischen\b|\bentre les soussign"
            r"|\bthe parties\b|\bparties hereto\b",
            2.0,
        ),
        (
            "legal clauses",
            LABEL,
            r"\bin witness whereof\b|\bgoverning law\b|\bterminat(?:e|ion)\b|\bhereinafter\b"
            r"|\bindemnif|\bconfidentiality\b|\bmietzeit\b|\bk[uü]ndigung\b",
            2.0,
        ),
        ("defined terms", LABEL, r"\(the \"|\(\"the |§\s*\d", 2.0),
        ("shall", LABEL, r"\bshall\b|\bagrees? (?:to|with)\b", 1.0),
        ("signatures", LABEL, r"\bsigned by\b|\bsignature\b|\bunterschrift\b|\bsign[eé]\b", 1.0),
    ),
    "consent_form": (
        (
            "title",
            TITLE,
            r"\bconsent form\b|\bconsent to\b|\beinwilligungserkl[aä]rung\b|\bconsentement\b"
            r"|\btoestemmingsverklaring\b|\bconsent\b|\beinwilligung\b",
            4.0,
        ),
        (
            "purpose",
            LABEL,
            r"\bpurpose of processing\b|\blawful basis\b|\brechtsgrundlage\b|\bzum zweck\b"
            r"|\bfor the purpose of\b",
            2.0,
        ),
        (
            "data protection",
            LABEL,
            r"\bdata protection\b|\bgdpr\b|\bdsgvo\b|\brgpd\b|\bpersonal data\b"
            r"|\bpersonenbezogenen daten\b",
            1.5,
        ),
        (
            "i consent",
            LABEL,
            r"\bi consent\b|\bi authori[sz]e\b|\bwillige ich ein\b|\bi agree to\b"
            r"|\bwithdraw your consent\b|\bwiderrufen\b|\bwithdraw\b",
            2.0,
        ),
        ("customer", LABEL, r"\bcustomer number\b|\bcustomer id\b|\bkundennummer\b", 1.0),
    ),
    "company_registration": (
        (
            "title",
            TITLE,
            r"\bcertificate of incorporation\b|\bcertificate of formation\b|\bhandelsregister\b"
            r"|\bextrait kbis\b|\bkbis\b|\bkamer van koophandel\b|\bregistro mercantil\b"
            r"|\bregistro delle imprese\b|\bcompanies house\b|\bregistrar of companies\b"
            r"|\barticles of incorporation\b|\bcertificate of good standing\b",
            4.0,
        ),
        (
            "registration number",
            LABEL,
            r"\bcompany number\b|\bregistration number\b|\bkvk-nummer\b|\bhrb \d|\br\.c\.s\."
            r"|\bfile number\b|\bnummer der firma\b|\bcompany no\b|\(\d{8}\)",
            2.0,
        ),
        (
            "registered office",
            LABEL,
            r"\bregistered office\b|\bregistered agent\b|\bsi[eè]ge\b|\bsitz\b"
            r"|\bbezoekadres\b|\bgesch[aä]ftsanschrift\b",
            2.0,
        ),
        (
            "incorporated",
            LABEL,
            r"\bincorporated\b|\boprichting\b|\bimmatriculation\b|\bdate of incorporation\b"
            r"|\bgesellschaftsvertrag\b|\bformation\b",
            2.0,
        ),
        (
            "officers",
            LABEL,
            r"\bdirectors?\b|\bgesch[aä]ftsf[uü]hrer\b|\bg[eé]rant\b|\bbestuurders?\b"
            r"|\bofficers\b|\bauthorized person\b|\bprokura\b",
            1.5,
        ),
        (
            "legal form",
            LABEL,
            r"\bshare capital\b|\bstammkapital\b|\bcapital social\b|\brechtsform\b"
            r"|\bforme juridique\b|\bcompany type\b|\blegal form\b|\blimited by shares\b"
            r"|\blimited liability company\b",
            1.5,
        ),
        (
            "registrar",
            LABEL,
            r"\bsecretary of state\b|\bdivision of corporations\b|\bamtsgericht\b|\bgreffe\b"
            r"|\btribunal de commerce\b|\bcompany status\b",
            2.0,
        ),
    ),
}

SIGNALS: dict[str, tuple[Signal, ...]] = {
    doc_type: tuple(_signal(*spec) for spec in specs) for doc_type, specs in _SIGNALS.items()
}
TYPES = tuple(SIGNALS)

# Every signal's substrings, found in one pass over the text (Aho-Corasick) rather than one
# scan of it per substring: several hundred scans cost more than all the rest of the scoring.
_NEEDLES = tuple(
    dict.fromkeys(
        needle
        for signals in SIGNALS.values()
        for signal in signals
        for needle, _ in signal.parts
        if needle
    )
)
_FINDER = ahocorasick_rs.AhoCorasick(_NEEDLES)
_Tried = tuple[str, re.Pattern[str], int | None]  # a signal's pattern, an alternative, offset
_BY_NEEDLE: dict[int, list[_Tried]] = {}
_WITHOUT_NEEDLE: list[tuple[str, re.Pattern[str]]] = []
for _signals in SIGNALS.values():
    for _signal_ in _signals:
        for (_needle_, _part), _offset_ in zip(_signal_.parts, _signal_.offsets, strict=True):
            _key = _signal_.pattern.pattern
            if _needle_:
                _tried = (_key, _part, _offset_)
                _BY_NEEDLE.setdefault(_NEEDLES.index(_needle_), []).append(_tried)
            else:
                _WITHOUT_NEEDLE.append((_key, _part))


def occurrences(lowered: str) -> dict[str, list[int]]:
    """Where each signal substring the text holds starts, in order."""
    return {_NEEDLES[index]: starts for index, starts in _occurrences(lowered).items()}


def _occurrences(lowered: str) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for index, start, _ in _FINDER.find_matches_as_indexes(lowered, overlapping=True):
        found.setdefault(index, []).append(start)
    return found


def matched_patterns(lowered: str) -> set[str]:
    """The signal patterns (their source) that match the lowered text. An alternative is
    tried only where its substring occurs: where its match would start, when the substring
    stands at the same place in every match, else searched for from the top."""
    matched: set[str] = set()
    for index, starts in _occurrences(lowered).items():
        for key, part, offset in _BY_NEEDLE[index]:
            if key in matched:
                continue
            if offset is None:
                hit = part.search(lowered) is not None
            else:
                hit = any(
                    part.match(lowered, start - offset) is not None
                    for start in starts
                    if start >= offset
                )
            if hit:
                matched.add(key)
    for key, part in _WITHOUT_NEEDLE:
        if key not in matched and part.search(lowered) is not None:
            matched.add(key)
    return matched


@dataclass(frozen=True)
class TypeEvidence:
    document_type: str  # "unknown" when the evidence is thin
    confidence: float
    best_guess: str  # the type with the most evidence, even when too thin to name
    signals: tuple[str, ...]  # the best guess's signals that matched
    score: float


# A document says what it is on its first page (title, form number, the first field labels)
# and sometimes in its footer (an IRS form's number and revision); the evidence is looked for
# there, so a 36,000-character six-page form costs no more than a two-page one.
HEAD_CHARS = 6000
TAIL_CHARS = 2000


def _where_types_show(text: str) -> str:
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text.lower()
    return (text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]).lower()


def scores(text: str) -> dict[str, tuple[float, tuple[Signal, ...]]]:
    """For each type: its score and the signals that matched (each counted once)."""
    hits = matched_patterns(_where_types_show(text))
    found: dict[str, tuple[float, tuple[Signal, ...]]] = {}
    for doc_type, signals in SIGNALS.items():
        matched = tuple(signal for signal in signals if signal.pattern.pattern in hits)
        found[doc_type] = (sum(s.weight for s in matched), matched)
    return found


def calibrated(best: float, runner_up: float, matched: tuple[Signal, ...]) -> float:
    """How sure the evidence makes us of the best type (see the module's docstring)."""
    strength = 1 - math.exp(-best / SCALE)
    margin = min(1.0, (best - runner_up) / LEAD_FOR_FULL_MARGIN)
    confidence = strength * (0.4 + 0.6 * margin)
    if len(matched) <= 2:
        confidence = min(confidence, TWO_SIGNALS_CAP)
    return round(min(MAX_CONFIDENCE, confidence), 3)


def document_type(text: str) -> TypeEvidence:
    found = scores(text)
    ranked = sorted(TYPES, key=lambda t: found[t][0], reverse=True)  # stable: earlier wins a tie
    best, second = ranked[0], ranked[1]
    score, matched = found[best]
    names = tuple(s.name for s in matched)
    if score == 0:
        return TypeEvidence("unknown", 0.0, "unknown", (), 0.0)
    if score < MIN_SCORE or len(matched) < 2 or not any(s.kind != LABEL for s in matched):
        return TypeEvidence("unknown", THIN, best, names, score)
    confidence = calibrated(score, found[second][0], matched)
    if confidence < THIN:
        return TypeEvidence("unknown", THIN, best, names, score)
    return TypeEvidence(best, confidence, best, names, score)
