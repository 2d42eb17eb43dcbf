"""Name normalisation: the same steps for listed names and for screened names.

``normalise_name("Putin, Vladimir Vladimirovich")`` and ``normalise_name("VLADIMIR PUTIN")``
give tokens in given-name-first order, lower case, without accents, punctuation, titles,
company legal forms or filler words, and with common spelling variants folded to one key
(Mohammed/Muhammad/Mohamed -> "muhammad"). Non-Latin scripts are romanised first.
"""

# ruff: noqa: RUF001, RUF003  (look-alike letters of other scripts are the point here)
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rigour.names import extract_org_types

from compliance.screening.translit import transliterate

# Letters romanised differently from one script to the next, folded on both sides: Russian
# writes the Arabic and English "h" as "х" ("kh"), the English "w" as "в" ("v") and "j" as
# "дж" ("dzh"); Arabic "q" is often written "k".
_TRANSLIT_FOLDS = (("dzh", "j"), ("kh", "h"), ("w", "v"), ("q", "k"))


def fold_spelling(text: str) -> str:
    """The letter folds above, for lower-case ASCII text."""
    for spelling, folded in _TRANSLIT_FOLDS:
        text = text.replace(spelling, folded)
    return text


def _words(text: str) -> frozenset[str]:
    return frozenset(fold_spelling(word) for word in text.split())


# Honorifics, religious and academic titles: dropped wherever they stand.
_TITLES = _words(
    "mr mrs ms miss mx dr prof professor sir dame madam mme mlle herr frau sheikh shaikh "
    "sheik shaykh cheikh sheekh haji hajji hadji hajj alhaji alhadji alhajj mullah mulla "
    "molla maulana mawlana maulvi mawlawi moulavi ayatollah hojatoleslam imam rev reverend "
    "hon honourable honorable excellency his_excellency jr jnr sr snr esq phd"
)
# Ranks and offices: dropped only in front of a name ("General Muhammad ...").
_LEADING_TITLES = _words(
    "general gen colonel col lieutenant lt captain capt major maj sergeant sgt brigadier "
    "brig admiral adm commander cmdr marshal president minister senator judge justice "
    "father brother sister emir amir prince princess king queen mufti qadi"
)
# Company legal forms (after dots are removed: "S.A." -> "sa", "Co., Ltd." -> "co ltd").
_LEGAL_FORMS = _words(
    "llc lllp llp lp ltd limited inc incorporated corp corporation co company cos plc "
    "gmbh mbh ag kg kgaa ohg ug ev sa sas sasu sarl sae sal sau sl slu srl spa sapa snc bv "
    "nv cv vof ab oy oyj as asa aps ooo oao zao pao ao tov pp jsc ojsc cjsc pjsc "
    "ao fze fzco fzc fzllc fz dmcc pte pvt pty bhd sdn tbk pt cia ltda eireli sac saa "
    "kft zrt nyrt doo dd ad ead eood sro spolka zoo sp kk yk gk"
)
# Multi-word legal forms, written with single spaces after normalisation.
_LEGAL_PHRASES = (
    ("joint", "stock", "company"),
    ("limited", "liability", "company"),
    ("public", "joint", "stock", "company"),
    ("closed", "joint", "stock", "company"),
    ("open", "joint", "stock", "company"),
    ("sociedad", "anonima"),
    ("societe", "anonyme"),
    ("de", "cv"),
    ("s", "de", "rl"),
)
# Articles, prepositions and name particles that carry no identity.
_FILLERS = _words(
    "al el ul the of and for in on at to an y et und de del della der den des di "
    "da das dos du la le les lo van von ten ter"
)

_LONE_WORD_MAX = 4  # letters: a single word this short is too common to be a name alone

# Spelling variants folded to one key. Each line: key, then the variants.
_VARIANT_LINES = """
muhammad mohammed mohammad mohamed mohamad muhammed muhamed mohammod mahomed mohd
muhammad muhamad mouhamed mouhammad mohammet mehmet mehmed muhammet mohamud mhmd
ahmad ahmed ahmet achmed ahmat ahmd
husayn hussein hussain husain husein hosein hossein husseyn houssein hsyn
hasan hassan hasaan hsn
ali aly
yusuf yousef youssef yusef yousuf yusif yousif youcef yvsf
usama osama usamah osamah oussama
abdullah abdallah abdulla abdula abdalla abdollah abdulallah abdullh abdallh
umar omar omer
uthman othman osman usman outhman
khalid khaled khalyd
mustafa mustapha moustafa mostafa moustapha
ibrahim ebrahim ibraheem brahim abrahym ibrahym
ismail ismael ismaeel ismaiel esmail ismayil
said saeed sayed saeid saied
abu abou abo
bin ibn ben
abdulrahman abdurrahman abdelrahman abderrahmane abdulrahmane
aleksandr alexander aleksander alexandr alexandre oleksandr
aleksei alexei aleksey alexey oleksiy
sergei sergey serguei sergiy serhiy
yuri yury yuriy iouri yurii
dmitri dmitry dmitriy dmytro
andrei andrey andriy
nikolai nikolay mykola
evgeni evgeny evgeniy yevgeny yevgeniy yevgeni
mikhail mikhael mykhailo
vladimir volodymyr volodimir
elena yelena olena
igor ihor
oleg oleh
gennadi gennady gennadiy hennadiy hennadii
pavel pavlo
petr pyotr petro
grigori grigory grigoriy hryhoriy
vasili vasily vasiliy vasyl
anatoli anatoly anatoliy
valeri valery valeriy
vitali vitaly vitaliy
maksim maxim maksym
kirill kyrylo
bogdan bohdan
georgi georgy georgiy heorhiy
tatiana tatyana tetiana
natalia natalya nataliya
olga olha
"""


def _variant_map() -> dict[str, str]:
    mapping: dict[str, str] = {}
    for line in _VARIANT_LINES.strip().splitlines():
        key, *variants = fold_spelling(line).split()
        for variant in variants:
            if variant != key:
                mapping[variant] = key
    return mapping


VARIANTS = _variant_map()

# "abd al-Rahman", "abdul Rahman", "abdel Aziz" -> one token ("abdulrahman", "abdulaziz").
_ABD_PREFIXES = _words("abd abdul abdel abdal abdoul abdu abdil")
_ABD_LINKS = _words("al el ul ar ur er as us an ad")
_GLUED_LINKS = ("al", "el", "ul")
# How a name of "Abd" and one of God's names begins once normalised ("abdulsattar"): listed
# names and screened ones alike, however written ("Abd al-Sattar", "ABDUL SATTAR").
MERGED_ABD = "abdul"
# The names of God that follow "Abd" (servant of), as romanised after an article written
# joined ("ABD ALSALAM"): the article comes off only before one of them, since "aleem" or
# "alim" is itself such a name ("Abdul Aleem").
_DIVINE_NAMES = _words(
    "lah llah salam rahman rahim aziz karim hamid majid latif wahab wahhab wahid kadir "
    "qadir jabbar ghani hakim halim malik hadi basit razzak razzaq razak sattar samad "
    "nasir nasser hafiz hafeez majeed kareem raheem hameed lateef ghafoor ghafur jalil "
    "jaleel baki baqi mumin muttalib mutalib monem munim fattah rauf raouf"
)

_SPECIAL_LETTERS = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i",
     "ß": "ss", "ħ": "h", "ŧ": "t", "ŋ": "n"}
)  # fmt: skip
_DROPPED_PUNCT = re.compile(r"['’‘`´.ʻʼ]")
_SEPARATORS = re.compile(r"[^0-9a-z]+")


def fold_letters(word: str) -> str:
    """Romanised, case-folded, without accents or special letters (for ASCII: lower case)."""
    text = transliterate(word).casefold().translate(_SPECIAL_LETTERS)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@lru_cache(maxsize=200_000)
def fold_word(word: str) -> tuple[str, ...]:
    """One whitespace-separated word to zero or more ASCII tokens (cached: names repeat)."""
    # ASCII has nothing to romanise, decompose or strip: only its case to fold
    text = word.lower() if word.isascii() else fold_letters(word)
    text = fold_spelling(_DROPPED_PUNCT.sub("", text))
    return tuple(t for t in _SEPARATORS.split(text) if t)


def _is_suffix_part(part: str) -> bool:
    tokens = [t for w in part.split() for t in fold_word(w)]
    return all(t in _LEGAL_FORMS or t in _TITLES for t in tokens)


def reorder_surname_first(text: str) -> str:
    """ "PUTIN, Vladimir Vladimirovich" -> "Vladimir Vladimirovich PUTIN".

    Only for one comma (a trailing ", Jr." or legal form aside); "ACME, LTD." and names
    with several commas are left as they are.
    """
    parts = [part.strip() for part in text.split(",")]
    suffix = ""
    if len(parts) == 3 and _is_suffix_part(parts[2]):
        suffix = " " + parts.pop()
    if len(parts) != 2 or not parts[0] or not parts[1] or _is_suffix_part(parts[1]):
        return text
    return f"{parts[1]} {parts[0]}{suffix}"


_LONGEST_PHRASES_FIRST = sorted(_LEGAL_PHRASES, key=len, reverse=True)
_PHRASE_WORDS = frozenset(word for phrase in _LEGAL_PHRASES for word in phrase)
_SPELT_OUT = frozenset(w for w in _LEGAL_FORMS | _PHRASE_WORDS if 2 <= len(w) <= 4)
_SPELT_OUT_TAIL = _LEGAL_FORMS | _PHRASE_WORDS


def _strip_phrases(tokens: list[str]) -> list[str]:
    if _PHRASE_WORDS.isdisjoint(tokens):  # most names: no phrase can start anywhere
        return tokens
    for phrase in _LONGEST_PHRASES_FIRST:
        n = len(phrase)
        i = 0
        while i + n <= len(tokens):
            if tuple(tokens[i : i + n]) == phrase:
                del tokens[i : i + n]
            else:
                i += 1
    return tokens


def _spelt_out_legal_forms(tokens: list[str]) -> list[str]:
    """Single letters that spell a legal form at the end of a name, after a word, read as
    one word: "GEOFARMA S A DE C V" is "geofarma sa de cv". Letters elsewhere are initials
    ("A. S. Pushkin", "A & S CARRIER ...")."""
    tail = len(tokens)  # where the trailing legal forms and single letters begin
    while tail > 0 and (len(tokens[tail - 1]) == 1 or tokens[tail - 1] in _SPELT_OUT_TAIL):
        tail -= 1
    if tail == 0 or tail == len(tokens):
        return tokens
    out = tokens[:tail]
    i = tail
    while i < len(tokens):
        j = i
        while j < len(tokens) and len(tokens[j]) == 1 and tokens[j].isalpha():
            j += 1
        if j - i >= 2 and (joined := "".join(tokens[i:j])) in _SPELT_OUT:
            out.append(joined)
            i = j
        else:
            out.extend(tokens[i : max(j, i + 1)])
            i = max(j, i + 1)
    return out


def _merge_abd(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _ABD_PREFIXES and i + 1 < len(tokens):
            j = i + 1
            if tokens[j] in _ABD_LINKS and j + 1 < len(tokens):
                j += 1
            rest = tokens[j]
            if rest[:2] in _GLUED_LINKS and rest[2:] in _DIVINE_NAMES:  # "abd alsalam"
                rest = rest[2:]
            out.append(MERGED_ABD + rest)
            i = j + 1
        else:
            out.append(token)
            i += 1
    return out


# Roman numerals become digits: "OCEAN STAR II" and "OCEAN STAR 2" are one name, and a number
# is then compared as a number (scoring.py: a different or missing number is another name).
# "i", "v" and "x" only as the last word (elsewhere they are initials).
_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8", "ix": "9",
          "xi": "11", "xii": "12", "xiii": "13", "xiv": "14", "xv": "15"}  # fmt: skip
_ROMAN_LAST = {"i": "1", "v": "5", "x": "10"}


def _numerals(tokens: list[str]) -> list[str]:
    out = [_ROMAN.get(t, t) for t in tokens]
    if len(out) >= 2 and out[-1] in _ROMAN_LAST:
        out[-1] = _ROMAN_LAST[out[-1]]
    return out


FILLER_WORDS = _FILLERS
# Legal forms written glued to the name's last word ("KHAYBARCO", "ILYALLC"): the English
# and German abbreviations seen glued in listed aliases; shorter forms ("sa", "ag") end too
# many names by chance.
GLUED_LEGAL_FORMS = _words("co company corp corporation inc ltd limited llc plc gmbh llp fzco fze")


def _without(tokens: list[str], drop: frozenset[str]) -> list[str]:
    kept = [t for t in tokens if t not in drop]
    return kept if kept else tokens


def normalise_tokens(words: list[str], *, legal_forms: bool = True) -> tuple[str, ...]:
    """The token pipeline on already-ordered words (see ``normalise_name``)."""
    tokens = [t for w in words for t in fold_word(w)]
    if not tokens:
        return ()
    if _TOKENS_ACTED_ON.isdisjoint(tokens):  # most names: no step changes a token
        return tuple(tokens)
    return token_steps(tokens, legal_forms=legal_forms)


def token_steps(tokens: list[str], *, legal_forms: bool = True) -> tuple[str, ...]:
    """Titles, legal forms (with ``legal_forms``) and fillers dropped, "abd" names merged,
    variants folded."""
    while len(tokens) > 1 and tokens[0] in _LEADING_TITLES:
        tokens = tokens[1:]
    tokens = _without(tokens, _TITLES)
    if legal_forms:
        tokens = _spelt_out_legal_forms(tokens)
        stripped = _strip_phrases(list(tokens))
        tokens = stripped if stripped else tokens
        tokens = _without(tokens, _LEGAL_FORMS)
    tokens = _merge_abd(tokens)
    # Particles go unless the name would be left with one short word: "DE LA RUE" is not
    # "Rue", nor "VAN DER BERG" every Berg.
    # ... and a single letter first is an initial ("Y. Chol Kim"), not the Spanish "y"
    without_fillers = [
        t for k, t in enumerate(tokens) if t not in _FILLERS or (k == 0 and len(t) == 1)
    ] or tokens
    lone_short = len(without_fillers) == 1 and len(without_fillers[0]) <= _LONE_WORD_MAX
    tokens = tokens if lone_short else without_fillers
    tokens = _numerals(tokens)
    return tuple(VARIANTS.get(t, t) for t in tokens)


# Every token some step of ``token_steps`` drops, merges or replaces.
_TOKENS_ACTED_ON = (
    (_LEADING_TITLES | _TITLES | _PHRASE_WORDS | _LEGAL_FORMS | _ABD_PREFIXES | _FILLERS)
    | frozenset("abcdefghijklmnopqrstuvwxyz")  # single letters: a legal form spelt out
    | frozenset(VARIANTS)
    | frozenset(_ROMAN)
    | frozenset(_ROMAN_LAST)
)


def normalise_name(
    text: str, *, surname_first: bool = True, legal_forms: bool = True
) -> tuple[str, ...]:
    """Normalised tokens of a name, in given-names-first order.

    ``surname_first`` allows the "SURNAME, Given Names" reading of a single comma; pass
    False for organisation names, where a comma is just punctuation. ``legal_forms`` sets
    company legal forms aside; pass False for a person, whose surname may be spelt like
    one ("Sabrina Sá", "Mohammed Sad").
    """
    folded = _folded(text, surname_first)
    tokens = _steps(folded, legal_forms)
    return _without_org_types(tokens) if legal_forms else tokens


def normalise_name_both_ways(text: str, *, surname_first: bool = True) -> tuple[
    tuple[str, ...], tuple[str, ...]
]:  # fmt: skip
    """``normalise_name`` with legal forms set aside and without, folding the words once."""
    folded = _folded(text, surname_first)
    return _without_org_types(_steps(folded, True)), _steps(folded, False)


def _folded(text: str, surname_first: bool) -> list[str]:
    if surname_first:
        text = reorder_surname_first(text)
    return [t for w in text.split() for t in fold_word(w)]


def _steps(folded: list[str], legal_forms: bool) -> tuple[str, ...]:
    if not folded:
        return ()
    if _TOKENS_ACTED_ON.isdisjoint(folded):  # most names: no step changes a token
        return tuple(folded)
    return token_steps(list(folded), legal_forms=legal_forms)


def _without_org_types(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Legal forms of every country, in full or abbreviated (rigour's organisation types:
    "obshchestvo s ogranichennoy otvetstvennostyu", "s de rl de cv", "aktsionernoe
    obshchestvo"), beyond the short list above; a name is never emptied."""
    if len(tokens) < 2:
        return tokens
    text = " ".join(tokens)
    found = [f for f, generic in extract_org_types(text, generic=True) if generic in _COMPANY]
    if found:
        padded = f" {text} "
        for form in found:
            padded = padded.replace(f" {form} ", " ")
        kept = padded.split()
        if kept:
            return tuple(kept)
    return tokens


# rigour's generic kinds of company legal form; its other kinds ("ngo": "charity fund",
# "soe": "federal state unitary enterprise", "coop") are words of the name.
_COMPANY = frozenset({"llc", "jsc", "lp", "llp"})


def legal_forms(text: str) -> list[tuple[str, str]]:
    """The legal forms in a name, as (written, generic form): [("ooo", "llc")]. For
    explanations; matching sets legal forms aside (``normalise_name``)."""
    folded = " ".join(t for w in text.split() for t in fold_word(w))
    return [
        (f, generic)
        for f, generic in extract_org_types(folded, generic=True)
        if generic in _COMPANY
    ]


def second_surname(text: str) -> bool:
    """A person listed "FAMILY1 FAMILY2, Given": Spanish or Portuguese style, two family
    names, of which the second is often left out."""
    if text.count(",") != 1:
        return False
    family = [t for w in text.split(",")[0].split() for t in fold_word(w)]
    return len(family) == 2 and not _is_suffix_part(text.split(",")[1])


_PHONETIC_RULES = (
    ("shch", "s"), ("tsch", "s"), ("sch", "s"), ("tch", "s"), ("dzh", "j"), ("dj", "j"),
    ("ph", "f"), ("kh", "h"), ("gh", "g"), ("th", "t"), ("dh", "d"), ("sh", "s"),
    ("ch", "s"), ("ck", "k"), ("ts", "s"), ("tz", "s"), ("q", "k"), ("x", "ks"), ("z", "s"),
    ("w", "v"), ("ou", "u"),
)  # fmt: skip
_SOFT_C = re.compile(r"c(?=[eiy])")
_VOWELS = frozenset("aeiouy")


@lru_cache(maxsize=200_000)
def phonetic_key(token: str) -> str:
    """A coarse sound key: consonant skeleton after folding similar-sounding spellings.

    "muhammad", "mohamed" -> "mhmd"; "ismail", "esmail", "ismaeel" -> "asml";
    "qadhafi", "kadafi" -> "kdf". Used to find candidate spellings, never to decide alone.
    """
    text = _SOFT_C.sub("s", token)
    for old, new in _PHONETIC_RULES:
        text = text.replace(old, new)
    text = text.replace("c", "k")
    if not text:
        return ""
    out = ["a" if text[0] in _VOWELS else text[0]]
    last = len(text) - 1
    for i in range(1, len(text)):
        ch = text[i]
        if ch in _VOWELS or ch == text[i - 1]:
            continue
        if ch == "h" and (i == last or text[i - 1] not in _VOWELS):
            continue
        out.append(ch)
    return "".join(out)


_SKELETON_DIGRAPHS = (("th", "t"), ("dh", "d"), ("gh", "g"), ("ph", "f"), ("sh", "x"),
                      ("ch", "x"), ("zh", "j"))  # fmt: skip
_SKELETON_DROP = str.maketrans("", "", "aeiouyvw")


def letter_skeleton(token: str) -> str:
    """The consonants of a token romanised letter by letter, two-letter spellings taken as
    two letters: "th" of "طه" (Taha) is t and h, not the one letter of "ثابت" (thabit)."""
    lead = "'" if token[:1] in _VOWELS else ""
    token = token.translate(_SKELETON_DROP)
    return lead + "".join(ch for i, ch in enumerate(token) if i == 0 or ch != token[i - 1])


@lru_cache(maxsize=200_000)
def consonant_skeleton(token: str) -> str:
    """The consonants of a (normalised) token, doubled letters once: what an Arabic, Persian
    or Hebrew spelling writes. "muhammad" and "mhmd" -> "mhmd"; "houthi" and "hwthy" -> "ht";
    "w", "y" and "v" are left out (they write vowels in those scripts too); a leading vowel
    is kept as "'" ("ahsan" is not "hasan")."""
    for digraph, single in _SKELETON_DIGRAPHS:
        token = token.replace(digraph, single)
    lead = "'" if token[:1] in _VOWELS else ""  # a name that starts with a vowel (alif, ayn)
    token = token.translate(_SKELETON_DROP)
    return lead + "".join(ch for i, ch in enumerate(token) if i == 0 or ch != token[i - 1])
