"""The in-memory screening index: built once from loaded lists, then read-only.

Every listed name (primary and aliases) becomes a *record*: its normalised tokens, its
entity and which alias it is. Candidate retrieval never scans the records:

- the **vocabulary** of all tokens has a deletion-neighbourhood index (each token and each
  one-letter deletion of it) and a phonetic-key index, so a query token finds the listed
  spellings within about two edits or with the same sound key, verified with
  ``token_similarity``;
- a **token-pair index** holds, for every unordered pair of distinct tokens of a record,
  the record's number (sorted, packed 64-bit keys in an ``array``, looked up by bisection).
  A multi-word query retrieves only records sharing at least two (fuzzy) tokens with it,
  in any order, so a missing middle name still retrieves while a shared surname alone
  ("Smith") does not;
- records of a single token (organisations such as "HAMAS", one-word aliases) sit in a
  **single-token index**, the only place a one-word query looks, with the **initials** of
  longer organisation names ("NIORDC" for "National Iranian Oil Refining and Distribution
  Company");
- a **token index** (record numbers per token, sorted packed keys like the pairs) is the
  fallback when a query shares fewer than two words with any listed name ("A. D. Pershada",
  "Hameedul Hassan"): only tokens rare enough to be evidence (``max_token_postings``) are
  looked up there;
- a **consonant-skeleton index** of the vocabulary finds the spellings of a name written in
  Arabic, Persian or Hebrew letters, which leave most vowels out ("mhmd" -> "muhammad").

Records are numbered shortest first, so when a pair is very common the postings kept
(``max_postings_per_key``) are the closest in length to a two-word query.
"""

from __future__ import annotations

import itertools
import re
import threading
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from compliance.screening.common_names import COMMON_NAME_TOKENS
from compliance.screening.config import ScreeningConfig
from compliance.screening.model import (
    AliasType,
    Entity,
    EntityType,
    SanctionsList,
    entity_version,
)
from compliance.screening.normalise import (
    consonant_skeleton,
    letter_skeleton,
    normalise_name,
    phonetic_key,
    second_surname,
)
from compliance.screening.similarity import (
    MIN_SOUND_KEY,
    letter_similarities,
    token_similarities,
    token_similarity_array,
)

_MAX_PAIR_TOKENS = 8  # tokens of a record that take part in pairs (long company names)
_MIN_DELETE_LEN = 4  # shorter tokens are only looked up exactly or by sound key
_MIN_PHONETIC_LEN = 3
_PAIR_EXPANSIONS = 6  # spellings per query token combined into pair lookups
_CACHE_LIMIT = 100_000
_CAP_HALVINGS = 5  # the postings cap of the weakest pairs of spellings: 1/32 of the full
_PAIR_CACHE_LIMIT = 2_000_000  # record numbers kept for pairs of query spellings (~16 MB)
# A token in at least this share of all names (and this many) counts as a common name.
_COMMON_SHARE = 0.002
_COMMON_MIN_COUNT = 25
# A token in this many names is a name in its own right, not a one-off misspelling.
_KNOWN_MIN_COUNT = 3


@dataclass(frozen=True, slots=True)
class ListInfo:
    source: str
    version: str
    published: str | None
    files: tuple[str, ...]
    entity_count: int


ENTITY_TYPES = tuple(EntityType)  # ``rec_kind`` codes
_KIND_CODES = {kind: code for code, kind in enumerate(ENTITY_TYPES)}

_WORDS = re.compile(r"[^\W\d_]+")
_ACRONYM_SKIP = frozenset({"and", "of", "the", "for", "de", "del", "la", "y", "et", "&"})


def _initials_key(tokens: Sequence[str]) -> int:
    """A 32-bit key of the first letters of all tokens but the last, and the last token."""
    text = "".join(t[0] for t in tokens[:-1]) + "|" + tokens[-1]
    return zlib.crc32(text.encode())


def _slash_parts(name: str) -> list[str]:
    """The two names of a listed alias written "ADF/NALU": single words of three letters or
    more on both sides. Anything else is one name ("MAERSK A/S", "J/V CORPORATION",
    "HARAKAT UL-JIHAD-I-ISLAMI/BANGLADESH": the part after the slash is no name alone)."""
    parts = name.strip().split("/")
    if len(parts) != 2 or any(len(p) < 3 or not p.isalnum() for p in parts):
        return []
    return parts


def _deletions(token: str) -> set[str]:
    keys = {token}
    if len(token) >= _MIN_DELETE_LEN:
        keys.update(token[:i] + token[i + 1 :] for i in range(len(token)))
    return keys


_Number = TypeVar("_Number", bound=np.generic)
# How alike a spelling with one consonant more or fewer is, at least and at most.
_NEAR_SKELETON = (0.72, 0.82)


def _by_consonants(consonants: str, letters_alike: float) -> float:
    """How alike a listed spelling with these same ``consonants`` is: 0.8 to 0.95 (0.75 for
    fewer than three consonants) as the letters written agree more."""
    base = 0.8 if len(consonants) >= 3 else 0.75
    return min(0.95, base + 0.15 * letters_alike)


# From this many spellings of a word on, their similarities are worked out with numpy.
_VECTOR_SPELLINGS = 16
_NO_RECORDS: npt.NDArray[np.uint32] = np.zeros(0, np.uint32)
_NO_RECORDS.flags.writeable = False
# From this many record numbers found on, they are counted with numpy (below, a Counter
# is quicker); from this many pairs of spellings on, their postings are found with numpy.
_VECTOR_COUNT = 200
_VECTOR_PAIRS = 64


def _read_only(values: npt.NDArray[_Number]) -> npt.NDArray[_Number]:
    """``values``, no longer writable: the index's arrays are shared by every query."""
    values.flags.writeable = False
    return values


def _most_found(found: Sequence[npt.NDArray[np.uint32]], limit: int) -> list[int]:
    """The ``limit`` record numbers found most often in ``found``, those found as often in
    the order first found: what ``Counter(...).most_common(limit)`` gives."""
    size = sum(len(f) for f in found)
    if size == 0:
        return []
    if size < _VECTOR_COUNT:
        counts: Counter[int] = Counter()
        for f in found:
            counts.update(f.tolist())
        # what most_common(limit) gives (a stable sort), without its heap
        ordered = sorted(counts.items(), key=itemgetter(1), reverse=True)
        return [rec for rec, _ in ordered[:limit]]
    every = np.concatenate(found)
    # grouped by record, each group in the order found (the postings are runs of rising
    # record numbers, which a stable sort merges)
    order = np.argsort(every, kind="stable")
    grouped = every[order]
    starts = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1])))
    counts_ = np.diff(np.append(starts, size))
    # most found first, then first found: one key, unique per record, smaller is better
    rank = (size - counts_) * size + order[starts]
    if len(rank) > limit:
        best = np.argpartition(rank, limit - 1)[:limit]
        best = best[np.argsort(rank[best])]
    else:
        best = np.argsort(rank)
    return grouped[starts[best]].tolist()  # type: ignore[no-any-return]


class ScreeningIndex:
    """Read-only after ``build``; safe to query from many threads at once."""

    def __init__(self) -> None:  # use ScreeningIndex.build
        self.entities: list[Entity] = []
        self.lists: tuple[ListInfo, ...] = ()
        self.rec_entity = array("I")
        self.rec_alias = array("i")  # -1: primary name, else index into entity.aliases
        self.rec_tokens: list[str] = []  # normalised tokens joined by single spaces
        self.rec_second_surname = array("B")  # 1: "FAMILY1 FAMILY2, Given" (last token)
        # the entity's type (its position in ``ENTITY_TYPES``): scoring needs it for every
        # name retrieved, the entity itself only for the few that score well
        self.rec_kind = array("B")
        self._token_keys = array("I")
        self._token_recs = array("I")
        self._acronyms: dict[str, list[int]] = {}
        self._beginnings: dict[str, list[int]] = {}
        self._initials_keys = array("Q")
        self._initials_recs = array("I")
        self._skeletons: dict[str, list[int]] = {}
        self._skeleton_deletes: dict[str, list[int]] = {}
        self._skeleton_cache: dict[tuple[str, int], dict[str, float]] = {}
        self._abjad_cache: dict[tuple[str, float, int, float, int], dict[str, float]] = {}
        self._reach_cache: dict[tuple[str, float], bool] = {}
        self.vocab: dict[str, int] = {}
        self.vocab_tokens: list[str] = []
        self.common_tokens: frozenset[str] = COMMON_NAME_TOKENS
        self._known: frozenset[str] = frozenset()
        self._pair_keys = array("Q")
        self._pair_recs = array("I")
        # the same two arrays seen by numpy (no copy): all pairs of two words' spellings
        # are looked up in one vectorised search
        self._pair_keys_np: npt.NDArray[np.uint64] = np.zeros(0, np.uint64)
        self._pair_recs_np: npt.NDArray[np.uint32] = np.zeros(0, np.uint32)
        self._single: dict[int, npt.NDArray[np.uint32]] = {}
        self._width = 2
        self._rec_bits = 2
        self._deletes: dict[str, list[int]] = {}
        self._phonetic: dict[str, list[int]] = {}
        self._sounds: list[str] = []  # the phonetic key of each vocabulary token, by id
        self._expansions: dict[tuple[str, float, int, float], dict[str, float]] = {}
        self._pairs: dict[tuple[tuple[int, ...], tuple[int, ...], int], npt.NDArray[np.uint32]] = {}
        self._pair_cache_size = 0  # record numbers held in _pairs, bounded
        self._versions: dict[int, str] = {}
        self._lock = threading.Lock()

    # ---- building -------------------------------------------------------------------

    @classmethod
    def build(
        cls, lists: Iterable[SanctionsList], config: ScreeningConfig | None = None
    ) -> ScreeningIndex:
        config = config or ScreeningConfig()
        index = cls()
        lists = list(lists)
        index.lists = tuple(
            ListInfo(lst.source, lst.version, lst.published, lst.files, len(lst.entities))
            for lst in lists
        )
        records: list[tuple[tuple[str, ...], int, int, bool]] = []
        for lst in lists:
            for entity in lst.entities:
                index._add_entity_names(entity, config, records)
        records.sort(key=lambda r: len(r[0]))  # stable: shortest names get the lowest numbers
        index._index_records(records)
        index._index_vocabulary()
        return index

    def _add_entity_names(
        self,
        entity: Entity,
        config: ScreeningConfig,
        records: list[tuple[tuple[str, ...], int, int, bool]],
    ) -> None:
        number = len(self.entities)
        self.entities.append(entity)
        surname_first = entity.entity_type in (EntityType.PERSON, EntityType.UNKNOWN)
        seen: set[tuple[str, ...]] = set()
        for alias_no, (name, alias_type) in enumerate(entity.all_names(), start=-1):
            if alias_type is AliasType.WEAK and not config.include_weak_aliases:
                continue
            for written in (name, *_slash_parts(name)):
                tokens = normalise_name(
                    written,
                    surname_first=surname_first,
                    legal_forms=entity.entity_type is not EntityType.PERSON,
                )
                if tokens and tokens not in seen:
                    seen.add(tokens)
                    two_families = surname_first and len(tokens) >= 3 and second_surname(written)
                    records.append((tokens, number, alias_no, two_families))

    def _initials_of(self, tokens: tuple[str, ...], entity_no: int, alias_no: int) -> set[str]:
        """An organisation name's initials: of its normalised words and of the words as
        written, legal form included, less "and", "of", "the" (NIOC: National Iranian Oil
        Company)."""
        found: set[str] = set()
        if len(tokens) >= 3:
            found.add("".join(t[0] for t in tokens if not t.isdigit()))
        entity = self.entities[entity_no]
        written = entity.name if alias_no < 0 else entity.aliases[alias_no].name
        words = [w for w in _WORDS.findall(written.lower()) if w not in _ACRONYM_SKIP]
        if len(words) >= 3:
            found.add("".join(w[0] for w in words))
        return {f for f in found if len(f) >= 3}

    def written_words(
        self, rec: int, entity_no: int | None = None, alias_no: int | None = None
    ) -> list[str]:
        """The words of a listed name as written (lower case, letters only), less "and",
        "of", "the" and the like: what its initials and word beginnings are made of."""
        if entity_no is None or alias_no is None:
            entity_no, alias_no = self.rec_entity[rec], self.rec_alias[rec]
        entity = self.entities[entity_no]
        written = entity.name if alias_no < 0 else entity.aliases[alias_no].name
        return [w for w in _WORDS.findall(written.lower()) if w not in _ACRONYM_SKIP]

    def _index_records(self, records: list[tuple[tuple[str, ...], int, int, bool]]) -> None:
        vocab = self.vocab
        rec_bits = max(len(records), 2).bit_length()
        initials_keys = array("Q")
        token_ids: list[tuple[int, ...]] = []
        person_types = (EntityType.PERSON, EntityType.UNKNOWN)
        for tokens, entity_no, alias_no, two_families in records:
            ids: list[int] = []
            for token in tokens:
                tid = vocab.get(token)
                if tid is None:
                    tid = vocab[token] = len(vocab)
                ids.append(tid)
            token_ids.append(tuple(ids))
            self.rec_entity.append(entity_no)
            self.rec_alias.append(alias_no)
            self.rec_tokens.append(" ".join(tokens))
            self.rec_second_surname.append(two_families)
            self.rec_kind.append(_KIND_CODES[self.entities[entity_no].entity_type])
            rec = len(self.rec_entity) - 1
            if self.entities[entity_no].entity_type not in person_types:
                for initials in self._initials_of(tokens, entity_no, alias_no):
                    self._acronyms.setdefault(initials, []).append(rec)
                words = self.written_words(rec, entity_no, alias_no)
                if len(words) >= 2 and len(words[0]) >= 2 and len(words[1]) >= 2:
                    key = words[0][:2] + words[1][:2]
                    self._beginnings.setdefault(key, []).append(rec)
            elif len(tokens) >= 2:
                initials_keys.append((_initials_key(tokens) << rec_bits) | rec)
        self.vocab_tokens = list(vocab)
        frequency: Counter[int] = Counter()
        for record_ids in token_ids:
            frequency.update(set(record_ids))
        self._known = frozenset(
            self.vocab_tokens[t] for t, n in frequency.items() if n >= _KNOWN_MIN_COUNT
        )
        floor = max(_COMMON_MIN_COUNT, _COMMON_SHARE * len(records))
        frequent = {self.vocab_tokens[t] for t, n in frequency.items() if n >= floor}
        self.common_tokens = COMMON_NAME_TOKENS | frequent
        width = max(len(vocab), 2)
        ordered_initials = sorted(initials_keys)
        del initials_keys
        initials_mask = (1 << rec_bits) - 1
        self._initials_keys = array("Q", [v >> rec_bits for v in ordered_initials])
        self._initials_recs = array("I", [v & initials_mask for v in ordered_initials])
        del ordered_initials
        if (width * width).bit_length() + rec_bits > 64:
            raise ValueError("too many distinct tokens and names for the pair index")
        self._width, self._rec_bits = width, rec_bits
        packed = array("Q")
        append = packed.append
        for rec, rec_ids in enumerate(token_ids):
            for tid in set(rec_ids):
                append((tid << rec_bits) | rec)
        ordered = sorted(packed)
        mask = (1 << rec_bits) - 1
        self._token_keys = array("I", [v >> rec_bits for v in ordered])
        self._token_recs = array("I", [v & mask for v in ordered])
        del packed, ordered
        packed = array("Q")
        append = packed.append
        singles: dict[int, list[int]] = {}
        for rec, rec_ids in enumerate(token_ids):
            distinct = sorted(set(rec_ids[:_MAX_PAIR_TOKENS]))
            if len(distinct) < 2:
                singles.setdefault(distinct[0], []).append(rec)
                continue
            for x, a in enumerate(distinct):
                base = a * width
                for b in distinct[x + 1 :]:
                    append(((base + b) << rec_bits) | rec)
        ordered = sorted(packed)
        del packed
        mask = (1 << rec_bits) - 1
        self._pair_keys = array("Q", [v >> rec_bits for v in ordered])
        self._pair_recs = array("I", [v & mask for v in ordered])
        self._pair_keys_np = _read_only(np.frombuffer(self._pair_keys, dtype=np.uint64))
        self._pair_recs_np = _read_only(np.frombuffer(self._pair_recs, dtype=np.uint32))
        self._single = {
            tid: _read_only(np.array(recs, dtype=np.uint32)) for tid, recs in singles.items()
        }

    def _index_vocabulary(self) -> None:
        sounds = self._sounds
        for tid, token in enumerate(self.vocab_tokens):
            for key in _deletions(token):
                self._deletes.setdefault(key, []).append(tid)
            sound = phonetic_key(token)
            sounds.append(sound)
            if len(sound) >= _MIN_PHONETIC_LEN:
                self._phonetic.setdefault(sound, []).append(tid)
            if not token.isdigit():
                skeleton = consonant_skeleton(token)
                self._skeletons.setdefault(skeleton, []).append(tid)
                if len(skeleton) >= 5:
                    for i in range(len(skeleton)):
                        deleted = skeleton[:i] + skeleton[i + 1 :]
                        self._skeleton_deletes.setdefault(deleted, []).append(tid)

    # ---- querying -------------------------------------------------------------------

    @property
    def name_count(self) -> int:
        return len(self.rec_tokens)

    def __len__(self) -> int:
        return len(self.entities)

    def expand(
        self, token: str, min_similarity: float, limit: int, known_penalty: float = 0.0
    ) -> dict[str, float]:
        """Listed spellings similar to ``token``, best first: {listed token: similarity}.

        A token that is itself a listed or common name ("davis") is less likely to be a
        misspelling of another ("david"): its other spellings lose ``known_penalty``.
        """
        key = (token, min_similarity, limit, known_penalty)
        cached = self._expansions.get(key)
        if cached is not None:
            return cached
        found: dict[str, float] = {}
        if token in self.vocab:
            found[token] = 1.0
        candidates: set[int] = set()
        deletes = self._deletes
        for deletion in _deletions(token):
            if (spellings := deletes.get(deletion)) is not None:
                candidates.update(spellings)
        sound = phonetic_key(token)
        if len(sound) >= _MIN_PHONETIC_LEN and (same := self._phonetic.get(sound)) is not None:
            candidates.update(same)
        penalty = known_penalty if self.is_known_name(token) else 0.0
        vocab_tokens, sounds = self.vocab_tokens, self._sounds
        ids = [tid for tid in candidates if vocab_tokens[tid] != token]
        others = [vocab_tokens[tid] for tid in ids]
        # Two names in their own right ("dubois", "dabisi") that only sound alike are two
        # names, not one name's spellings: their letters must be close.
        alike = [not (penalty and self.is_known_name(other)) for other in others]
        other_sound: dict[str, bool] = {token: True}  # does it sound like the token?
        if len(others) < _VECTOR_SPELLINGS:
            for tid, other, sim in zip(
                ids, others, token_similarities(token, others, alike), strict=True
            ):
                same_sound = other_sound[other] = sounds[tid] == sound
                if penalty and not same_sound:  # "davis"/"david", not "hijazi"/"hejazi"
                    sim -= penalty
                if sim >= min_similarity:
                    found[other] = sim
        else:  # the same, many spellings at once
            alike_sound = np.fromiter((sounds[tid] == sound for tid in ids), np.bool_, len(ids))
            keyed = alike_sound if len(sound) >= MIN_SOUND_KEY else np.zeros(len(ids), np.bool_)
            sims = token_similarity_array(token, others, np.array(alike, np.bool_), keyed)
            if penalty:
                sims = np.where(alike_sound, sims, sims - penalty)
            for k in np.flatnonzero(sims >= min_similarity).tolist():
                other = others[k]
                found[other] = float(sims[k])
                other_sound[other] = bool(alike_sound[k])
        # equally close spellings: those with the same sound key first ("umran": "omran"
        # before "urban"), then in alphabetical order, so that which are kept never depends
        # on the order of a set (Python's string hashing differs from process to process)
        best = dict(
            sorted(found.items(), key=lambda kv: (-kv[1], not other_sound[kv[0]], kv[0]))[:limit]
        )
        if len(self._expansions) >= _CACHE_LIMIT:
            self._expansions.clear()
        self._expansions[key] = best
        return best

    def expand_skeleton(self, token: str, limit: int) -> dict[str, float]:
        """Listed spellings of a token romanised from Arabic, Persian or Hebrew letters: the
        same consonants or, from four consonants on, one more or one fewer; the closer the
        letters, the more similar. Cached."""
        key = (token, limit)
        cached = self._skeleton_cache.get(key)
        if cached is not None:
            return cached
        found: dict[str, float] = {}
        skeleton = consonant_skeleton(token)
        if (letters := letter_skeleton(token)) != skeleton:
            # a two-letter spelling ("th", "sh") may be two letters of the script: the
            # listed names with those consonants too
            two = [self.vocab_tokens[tid] for tid in self._skeletons.get(letters, ())]
            for other, sim in zip(two, letter_similarities(token, two), strict=True):
                found[other] = _by_consonants(letters, sim)
        if skeleton:
            # same consonants: 0.8 to 0.95 as the letters written agree more ("jlal" is
            # closer to "jalal" than to "julia"); one consonant more or fewer: 0.72 to 0.82
            vocab_tokens = self.vocab_tokens
            same = [vocab_tokens[tid] for tid in self._skeletons.get(skeleton, ())]
            for other, sim in zip(same, letter_similarities(token, same), strict=True):
                found[other] = max(found.get(other, 0.0), _by_consonants(skeleton, sim))
            if len(skeleton) >= 4:
                near: set[int] = set(self._skeleton_deletes.get(skeleton, ()))
                for i in range(len(skeleton)):
                    near.update(self._skeletons.get(skeleton[:i] + skeleton[i + 1 :], ()))
                others = [vocab_tokens[tid] for tid in near]
                others = [other for other in others if other not in found]
                low, _ = _NEAR_SKELETON
                for other, sim in zip(others, letter_similarities(token, others), strict=True):
                    found[other] = low + 0.1 * sim
        best = dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])
        if len(self._skeleton_cache) >= _CACHE_LIMIT:
            self._skeleton_cache.clear()
        self._skeleton_cache[key] = best
        return best

    def skeleton_spelling_reaches(self, token: str, least: float) -> bool:
        """Does ``expand_skeleton`` find a listed spelling of ``token`` at least ``least``
        alike? The same answer without ranking every spelling (a word joined from two is
        asked once and seldom again): only the spellings with its consonants can reach more
        than a spelling with one consonant more or fewer."""
        key = (token, least)
        if (cached := self._reach_cache.get(key)) is not None:
            return cached
        reaches = self._skeleton_reaches(token, least)
        if len(self._reach_cache) >= _CACHE_LIMIT:
            self._reach_cache.clear()
        self._reach_cache[key] = reaches
        return reaches

    def _skeleton_reaches(self, token: str, least: float) -> bool:
        if _NEAR_SKELETON[0] < least <= _NEAR_SKELETON[1]:
            return any(sim >= least for sim in self.expand_skeleton(token, 1).values())
        skeleton = consonant_skeleton(token)
        letters = letter_skeleton(token)
        consonants = [skeleton] if letters == skeleton else [letters, skeleton]
        for key in consonants:
            if not key or not (ids := self._skeletons.get(key)):
                continue
            if least <= _by_consonants(key, 0.0):  # the least a spelling by them reaches
                return True
            words = [self.vocab_tokens[tid] for tid in ids]
            if any(_by_consonants(key, sim) >= least for sim in letter_similarities(token, words)):
                return True
        if least <= _NEAR_SKELETON[0] and len(skeleton) >= 4:
            if self._skeleton_deletes.get(skeleton):
                return True
            return any(
                self._skeletons.get(skeleton[:i] + skeleton[i + 1 :]) for i in range(len(skeleton))
            )
        return False

    def expand_abjad(
        self,
        token: str,
        min_similarity: float,
        limit: int,
        known_penalty: float,
        skeleton_limit: int,
    ) -> dict[str, float]:
        """The listed spellings of a word romanised from Arabic, Persian or Hebrew letters:
        those ``expand`` finds and those ``expand_skeleton`` finds, each at the better of
        its two similarities, best first (retrieval takes the first spellings of each
        word). Cached."""
        key = (token, min_similarity, limit, known_penalty, skeleton_limit)
        cached = self._abjad_cache.get(key)
        if cached is not None:
            return cached
        found = dict(self.expand(token, min_similarity, limit, known_penalty))
        for other, sim in self.expand_skeleton(token, skeleton_limit).items():
            found[other] = max(sim, found.get(other, 0.0))
        best = dict(sorted(found.items(), key=lambda kv: -kv[1]))
        if len(self._abjad_cache) >= _CACHE_LIMIT:
            self._abjad_cache.clear()
        self._abjad_cache[key] = best
        return best

    def token_postings(self, token: str, cap: int) -> array[int] | None:
        """The records holding ``token``, or None when more than ``cap`` do (too common to
        be evidence on its own)."""
        tid = self.vocab.get(token)
        if tid is None:
            return array("I")
        keys = self._token_keys
        lo = bisect_left(keys, tid)
        hi = bisect_right(keys, tid, lo, min(len(keys), lo + cap + 1))
        if hi - lo > cap:
            return None
        return self._token_recs[lo:hi]

    def initials_records(self, tokens: Sequence[str], cap: int) -> array[int]:
        """Person names whose given names start with the letters of ``tokens[:-1]`` and
        whose last name is ``tokens[-1]`` ("H. A. S. Mohammad")."""
        key = _initials_key(tokens)
        keys = self._initials_keys
        lo = bisect_left(keys, key)
        hi = bisect_right(keys, key, lo, min(len(keys), lo + cap))
        return self._initials_recs[lo:hi]

    def beginnings_records(self, word: str, cap: int) -> list[int]:
        """Organisation names that ``word`` could join the beginnings of the words of
        ("INGRANRES": INversiones GRANda REStrepo): those whose first word starts with its
        first two letters and whose second word with two of its later letters, in order.
        Unverified."""
        found: list[int] = []
        for at in range(2, len(word) - 1):
            found.extend(self._beginnings.get(word[:2] + word[at : at + 2], ())[:cap])
        return found

    def acronym_records(self, token: str) -> list[int]:
        """Organisation names (three words or more) whose initials spell ``token``."""
        return self._acronyms.get(token, [])

    def is_known_name(self, token: str) -> bool:
        """A common name, or one that several listed names use."""
        return token in COMMON_NAME_TOKENS or token in self._known

    def _postings(self, a: int, b: int, cap: int) -> array[int]:
        if a > b:
            a, b = b, a
        key = a * self._width + b
        keys = self._pair_keys
        lo = bisect_left(keys, key)
        if lo == len(keys) or keys[lo] != key:
            return array("I")
        hi = bisect_right(keys, key, lo, min(len(keys), lo + cap))
        return self._pair_recs[lo:hi]

    def _pair_postings(
        self, pairs: Sequence[tuple[tuple[int, ...], tuple[int, ...]]], cap: int
    ) -> list[npt.NDArray[np.uint32]]:
        """For each pair of query tokens (the ids of their spellings), the records of every
        pair of a spelling of one with a spelling of the other, in lookup order (the
        spellings of the first token outermost; repeats kept: they count shared tokens);
        the shortest names first, at most ``cap`` for the best spellings and fewer for
        weaker ones. Cached: the spellings of common given and family names pair up again
        and again."""
        found = [self._pairs.get((first, second, cap)) for first, second in pairs]
        todo = [k for k, f in enumerate(found) if f is None]
        if todo:
            looked = self._lookup_pairs([pairs[k] for k in todo], cap)
            with self._lock:
                for k, records in zip(todo, looked, strict=True):
                    found[k] = records = _read_only(records)  # shared by later queries
                    self._pair_cache_size += len(records) + 1
                    if self._pair_cache_size > _PAIR_CACHE_LIMIT:
                        self._pairs.clear()
                        self._pair_cache_size = len(records) + 1
                    self._pairs[(*pairs[k], cap)] = records
        return found  # type: ignore[return-value]  # every None was filled

    def _lookup_pairs(
        self, pairs: Sequence[tuple[tuple[int, ...], tuple[int, ...]]], cap: int
    ) -> list[npt.NDArray[np.uint32]]:
        """``_pair_postings`` without the cache. Few pairs of spellings are looked up one
        by one; many in one vectorised search of all their keys."""
        grids = [len(first) * len(second) for first, second in pairs]
        if sum(grids) < _VECTOR_PAIRS or not len(self._pair_keys):
            return [self._lookup_few(first, second, cap) for first, second in pairs]
        # every pair of spellings of every pair of query tokens, the first token's
        # spellings outermost: pair p, its spellings x (of the first) and y (of the second)
        sizes = np.array(grids, dtype=np.int64)
        lengths = np.array([(len(f), len(s)) for f, s in pairs], dtype=np.int64).reshape(-1, 2)
        seconds = lengths[:, 1]
        firsts = np.fromiter(itertools.chain.from_iterable(f for f, _ in pairs), np.int64)
        others = np.fromiter(itertools.chain.from_iterable(s for _, s in pairs), np.int64)
        bounds = np.concatenate(([0], np.cumsum(sizes)))
        count = int(bounds[-1])
        p = np.repeat(np.arange(len(pairs)), sizes)
        r = np.arange(count) - bounds[p]
        x, y = np.divmod(r, seconds[p])
        first_at = np.concatenate(([0], np.cumsum(lengths[:, 0])))
        second_at = np.concatenate(([0], np.cumsum(seconds)))
        a = firsts[first_at[p] + x]
        b = others[second_at[p] + y]
        wanted = (np.minimum(a, b) * self._width + np.maximum(a, b)).astype(np.uint64)
        # weaker spellings bring fewer names: the cap halves with each rank below the best
        # spelling of either word
        caps = np.where(a != b, cap >> np.minimum(x + y, _CAP_HALVINGS), 0)
        order = np.argsort(wanted)
        in_order = wanted[order]  # sorted: each search starts where the one before ended
        listed = self._pair_keys_np
        starts = np.searchsorted(listed, in_order, side="left")
        # most pairs of spellings are in no name: the ends of the others only
        there = np.flatnonzero(listed[np.minimum(starts, len(listed) - 1)] == in_order)
        ends = starts.copy()
        ends[there] = np.searchsorted(listed, in_order[there], side="right")
        lo = np.empty(count, dtype=np.int64)
        hi = np.empty(count, dtype=np.int64)
        lo[order] = starts
        hi[order] = ends
        found = np.minimum(hi - lo, caps)
        ends = np.cumsum(found)
        # every key's records one after the other: record k of them all is record
        # k - (where its key's records start among them all) of its key's postings
        shift = np.repeat(lo - (ends - found), found)
        records = self._pair_recs_np[np.arange(int(ends[-1]), dtype=np.int64) + shift]
        at = np.concatenate(([0], ends))[bounds].tolist()
        return [records[start:end] for start, end in itertools.pairwise(at)]

    def _lookup_few(
        self, first: tuple[int, ...], second: tuple[int, ...], cap: int
    ) -> npt.NDArray[np.uint32]:
        keys, width = self._pair_keys, self._width
        size = len(keys)
        found = []
        for x, a in enumerate(first):
            for y, b in enumerate(second):
                if a == b:
                    continue
                key = a * width + b if a < b else b * width + a
                lo = bisect_left(keys, key)
                if lo < size and keys[lo] == key:
                    most = lo + (cap >> min(x + y, _CAP_HALVINGS))
                    hi = bisect_right(keys, key, lo, min(size, most))
                    if hi > lo:
                        found.append(self._pair_recs_np[lo:hi])
        if not found:
            return _NO_RECORDS
        return found[0] if len(found) == 1 else np.concatenate(found)

    def candidates(
        self,
        expansions: Sequence[Mapping[str, float]],
        *,
        single_min_similarity: float,
        max_postings: int,
        max_candidates: int,
        pair_expansions: int | None = None,
    ) -> list[int]:
        """Record numbers worth scoring, most shared query tokens first (of records sharing
        as many, the one found first). Each of ``expansions`` lists its spellings best
        first, as ``expand`` and ``expand_abjad`` give them."""
        vocab = self.vocab
        per_token = pair_expansions or _PAIR_EXPANSIONS
        ids = [tuple([vocab[t] for t in itertools.islice(exp, per_token)]) for exp in expansions]
        found: list[npt.NDArray[np.uint32]] = []
        if len(expansions) > 1:
            live = [i for i, spellings in enumerate(ids) if spellings]
            if len(live) > _MAX_PAIR_TOKENS:  # a long name: its longest words are enough
                longest = sorted(live, key=lambda i: -max(map(len, expansions[i])))
                live = sorted(longest[:_MAX_PAIR_TOKENS])
            pairs = [(ids[i], ids[j]) for x, i in enumerate(live) for j in live[x + 1 :]]
            found.extend(self._pair_postings(pairs, max_postings))
        for exp in expansions:
            for token, sim in exp.items():  # best first
                if sim < single_min_similarity:
                    break
                if (recs := self._single.get(vocab[token])) is not None:
                    found.append(recs[:max_postings])
        return _most_found(found, max_candidates)

    def records_containing(self, tokens: Sequence[str]) -> list[int]:
        """Records whose normalised tokens include every one of ``tokens`` exactly (at least
        two distinct tokens): is a name, word for word, part of a listed name?"""
        wanted = set(tokens)
        if len(wanted) < 2:
            raise ValueError("need at least two distinct tokens")
        if not wanted <= self.vocab.keys():
            return []
        ids = sorted(self.vocab[t] for t in wanted)
        recs = self._postings(ids[0], ids[1], len(self._pair_keys))
        return [r for r in recs if wanted <= set(self.rec_tokens[r].split())]

    def record(self, rec: int) -> tuple[Entity, str, AliasType, list[str]]:
        """(entity, the listed name, its alias type, its normalised tokens)."""
        entity = self.entities[self.rec_entity[rec]]
        name, alias_type = self.listed_name(rec, entity)
        return entity, name, alias_type, self.rec_tokens[rec].split()

    def listed_name(self, rec: int, entity: Entity | None = None) -> tuple[str, AliasType]:
        """The listed name (as written) and its alias type (``entity``: the record's, if
        the caller has it)."""
        if entity is None:
            entity = self.entities[self.rec_entity[rec]]
        alias_no = self.rec_alias[rec]
        if alias_no < 0:
            return entity.name, AliasType.PRIMARY
        alias = entity.aliases[alias_no]
        return alias.name, alias.alias_type

    def entity_version(self, rec: int) -> str:
        number = self.rec_entity[rec]
        version = self._versions.get(number)
        if version is None:
            version = entity_version(self.entities[number])
            with self._lock:
                self._versions[number] = version
        return version
