"""Romanisation of Cyrillic, Greek, Arabic/Persian and Hebrew letters.

Simple letter tables, close to the common passport/press romanisations (Cyrillic follows
the BGN/PCGN style used by OFAC and the UN). They do not need to be reversible: both the
listed names and the screened names pass through the same tables, and the remaining
spelling differences are left to fuzzy matching and phonetic keys.
"""

# ruff: noqa: RUF001  (the tables map look-alike letters of other scripts on purpose)
from __future__ import annotations

import re
import threading

import icu  # PyICU: romanises the scripts the tables below do not cover (Han, Hangul, Kana...)

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya",
    # Ukrainian, Belarusian, Serbian/Macedonian, Kazakh letters
    "є": "ye", "і": "i", "ї": "yi", "ґ": "g", "ў": "u", "ђ": "dj", "ј": "j", "љ": "lj",
    "њ": "nj", "ћ": "c", "џ": "dz", "ѓ": "gj", "ќ": "kj", "ѕ": "dz", "ә": "a", "ғ": "g",
    "қ": "k", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h",
}  # fmt: skip

_GREEK = {
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th",
    "ι": "i", "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p",
    "ρ": "r", "σ": "s", "ς": "s", "τ": "t", "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps",
    "ω": "o", "ά": "a", "έ": "e", "ή": "i", "ί": "i", "ό": "o", "ύ": "y", "ώ": "o",
    "ϊ": "i", "ϋ": "y", "ΐ": "i", "ΰ": "y",
}  # fmt: skip

_ARABIC = {
    "ا": "a", "أ": "a", "إ": "i", "آ": "a", "ٱ": "a", "ب": "b", "ت": "t", "ث": "th",
    "ج": "j", "ح": "h", "خ": "kh", "د": "d", "ذ": "dh", "ر": "r", "ز": "z", "س": "s",
    "ش": "sh", "ص": "s", "ض": "d", "ط": "t", "ظ": "z", "ع": "a", "غ": "gh", "ف": "f",
    "ق": "q", "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h", "و": "w", "ي": "y",
    "ى": "a", "ة": "a", "ء": "", "ؤ": "", "ئ": "", "ـ": "",
    # Persian / Urdu additions
    "پ": "p", "چ": "ch", "ژ": "zh", "گ": "g", "ک": "k", "ی": "y", "ھ": "h", "ہ": "h",
    "ٹ": "t", "ڈ": "d", "ڑ": "r", "ں": "n", "ے": "e",
    # short-vowel marks, when written
    "\u064e": "a", "\u064f": "u", "\u0650": "i", "\u064b": "", "\u064c": "", "\u064d": "",
    "\u0651": "", "\u0652": "",
}  # fmt: skip

_HEBREW = {
    "א": "a", "ב": "b", "ג": "g", "ד": "d", "ה": "h", "ו": "v", "ז": "z", "ח": "kh",
    "ט": "t", "י": "y", "כ": "k", "ך": "k", "ל": "l", "מ": "m", "ם": "m", "נ": "n",
    "ן": "n", "ס": "s", "ע": "", "פ": "p", "ף": "f", "צ": "ts", "ץ": "ts", "ק": "k",
    "ר": "r", "ש": "sh", "ת": "t",
}  # fmt: skip


def _table() -> dict[int, str]:
    table: dict[int, str] = {}
    for mapping in (_CYRILLIC, _GREEK, _ARABIC, _HEBREW):
        for letter, latin in mapping.items():
            table[ord(letter)] = latin
            upper = letter.upper()
            if len(upper) == 1 and upper != letter:
                table[ord(upper)] = latin
    return table


_TABLE = _table()
_GREEK_DIGRAPHS = (("ου", "ou"), ("ού", "ou"), ("Ου", "Ou"), ("Ού", "Ou"), ("ΟΥ", "OU"))
_ARABIC_ARTICLE = "ال"


def _is_latin(ch: str) -> bool:
    code = ord(ch)
    return code <= 0x24F or 0x1E00 <= code <= 0x1EFF or not ch.isalpha()


def has_non_latin(text: str) -> bool:
    """Whether the text has letters of a script other than Latin (any script)."""
    return not all(_is_latin(ch) for ch in text)


_ABJAD_RANGES = ((0x0590, 0x05FF), (0x0600, 0x06FF), (0x0750, 0x077F), (0xFB50, 0xFDFF),
                 (0xFE70, 0xFEFF))  # fmt: skip


_ABJAD = re.compile("[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in _ABJAD_RANGES) + "]")


def has_abjad(text: str) -> bool:
    """Whether the text is written (partly) in Arabic, Persian or Hebrew letters, which leave
    most vowels unwritten: such a name is compared by its consonants."""
    return not text.isascii() and _ABJAD.search(text) is not None


_ICU = threading.local()  # an ICU transliterator is not safe to share between threads


def _icu_latin(text: str) -> str:
    transliterator = getattr(_ICU, "any_latin", None)
    if transliterator is None:
        transliterator = icu.Transliterator.createInstance("Any-Latin; Latin-ASCII")
        _ICU.any_latin = transliterator
    return str(transliterator.transliterate(text))


def transliterate(text: str) -> str:
    """Romanise the letters of the supported scripts (the tables here; ICU's Any-Latin for
    the others: Chinese, Korean, Japanese, Thai, Armenian, Georgian ...); Latin text passes
    unchanged."""
    if not any(ord(ch) in _TABLE for ch in text):
        return _icu_latin(text) if has_non_latin(text) else text
    # The Arabic definite article is written joined to the word: split it off so that
    # "التكريتي" compares like "al-Tikriti".
    words = [
        f"al {w[2:]}" if w.startswith(_ARABIC_ARTICLE) and len(w) > 3 else w for w in text.split()
    ]
    text = " ".join(words)
    for digraph, latin in _GREEK_DIGRAPHS:
        text = text.replace(digraph, latin)
    text = text.translate(_TABLE)
    return _icu_latin(text) if has_non_latin(text) else text
