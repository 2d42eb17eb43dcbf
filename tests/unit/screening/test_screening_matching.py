"""Name normalisation and matching: what hits, what does not, and why."""

from __future__ import annotations

import pytest

from compliance.screening import (
    AliasType,
    Entity,
    EntityType,
    Hit,
    SanctionsList,
    Screener,
    ScreeningConfig,
)
from compliance.screening.dates import parse_date_of_birth, parse_partial_date
from compliance.screening.model import PartialDate
from compliance.screening.normalise import normalise_name, phonetic_key
from compliance.screening.similarity import token_similarity


def _ids(hits: list[Hit]) -> list[str]:
    return [h.entity_id for h in hits]


def _hit(screener: Screener, name: str, entity_id: str, **kwargs: object) -> Hit:
    hits = screener.screen(name, **kwargs)  # type: ignore[arg-type]
    found = [h for h in hits if h.entity_id == entity_id]
    assert found, f"{name!r} did not hit {entity_id}: {[(h.entity_id, h.score) for h in hits]}"
    return found[0]


# ---- normalisation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "tokens"),
    [
        ("PUTIN, Vladimir Vladimirovich", ("vladimir", "vladimirovich", "putin")),
        ("Владимир Владимирович Путин", ("vladimir", "vladimirovich", "putin")),
        ("Ιωάννης Παπαδόπουλος", ("ioannis", "papadopoulos")),
        ("صدام حسين التكريتي", ("sdam", "husayn", "tkryty")),
        ("Müller-Lüdenscheidt, Jürgen", ("jurgen", "muller", "ludenscheidt")),
        ("Dr. Mohamed ElBaradei", ("muhammad", "elbaradei")),
        ("Sheikh Mohammed bin Rashid Al-Maktoum", ("muhammad", "bin", "rashid", "maktoum")),
        ("Haji Abd al-Rahman", ("abdulrahman",)),
        ("ANGLO-CARIBBEAN CO., LTD.", ("anglo", "caribbean")),
        ("OOO Romashka", ("romashka",)),
        ("PUBLIC JOINT STOCK COMPANY SBERBANK OF RUSSIA", ("sberbank", "russia")),
        ("GRUPO MUNDO MARINO, S.A.", ("grupo", "mundo", "marino")),
        ("DELOS REYES, Feliciano Semborio, Jr.", ("feliciano", "semborio", "delos", "reyes")),
        ("O'Brien, Seán", ("sean", "obrien")),
    ],
)
def test_normalise_name(raw: str, tokens: tuple[str, ...]) -> None:
    assert normalise_name(raw) == tokens


def test_organisation_commas_are_not_surname_first() -> None:
    assert normalise_name("LA RIVIERA, PANAMA, S.A.", surname_first=False) == (
        "riviera",
        "panama",
    )
    assert normalise_name("ACME, LTD.") == ("acme",)


@pytest.mark.parametrize(
    "spellings",
    [
        ("Mohammed", "Muhammad", "Mohamed", "Mohammad", "Muhammed", "Mohamad"),
        ("Hussein", "Husayn", "Hussain", "Husain", "Hossein"),
        ("Osama", "Usama", "Usamah"),
        ("Abdel Rahman", "Abd al-Rahman", "Abdul Rahman", "Abdulrahman", "Abdurrahman"),
    ],
)
def test_spelling_variants_fold_to_one_key(spellings: tuple[str, ...]) -> None:
    assert len({normalise_name(s) for s in spellings}) == 1


def test_phonetic_key_groups_transliterations() -> None:
    assert phonetic_key("ismail") == phonetic_key("esmail") == phonetic_key("ismaeel")
    assert phonetic_key("qadhafi") == phonetic_key("kadafi")
    assert phonetic_key("tikriti") == phonetic_key("tkryty")
    assert phonetic_key("putin") != phonetic_key("platini")


def test_sounding_alike_makes_a_match_only_when_the_letters_are_close() -> None:
    """Same sound key and close letters: a spelling ("kais" / "qais"). Same sound key and
    half the letters different: two names ("dubois" / "dabisi", "smith" / "samet")."""
    assert token_similarity("kais", "qais") == pytest.approx(0.8)
    assert token_similarity("omar", "umar") == pytest.approx(0.8)
    assert phonetic_key("dubois") == phonetic_key("dabisi")
    assert token_similarity("dubois", "dabisi") < 0.8
    assert token_similarity("smith", "samet") < 0.8


def test_a_short_name_one_letter_apart_from_another_is_another_name() -> None:
    """In four letters one letter is a quarter of the word: "Yuki" is not "Yuri", "Olga" not
    "Oleg". A letter added at the end ("Atar" / "Atari") and longer names one letter apart
    ("Hussein" / "Husseini") stay spellings of one name."""
    assert token_similarity("yuki", "yuri") < 0.8
    assert token_similarity("olga", "oleg") < 0.8
    assert token_similarity("atar", "atari") >= 0.8
    assert token_similarity("hussein", "husseini") >= 0.8
    assert token_similarity("yevgeny", "evgeniy") >= 0.8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12 Jan 1960", PartialDate(1960, 1, 12)),
        ("Sep 1966", PartialDate(1966, 9)),
        ("1984", PartialDate(1984)),
        ("1984-02-29", PartialDate(1984, 2, 29)),
        ("00/00/1975", PartialDate(1975)),
        ("02/11/1958", PartialDate(1958, 11, 2)),
        ("unknown", None),
    ],
)
def test_parse_partial_date(text: str, expected: PartialDate | None) -> None:
    assert parse_partial_date(text) == expected


def test_parse_date_of_birth_ranges_and_circa() -> None:
    dob = parse_date_of_birth("circa 1951")
    assert dob is not None and dob.circa and dob.start == PartialDate(1951)
    dob = parse_date_of_birth("01 Jan 1960 to 31 Dec 1962")
    assert dob is not None and (dob.first_year, dob.last_year) == (1960, 1962)
    assert parse_date_of_birth("1962 to 1960") is None


# ---- matching on a hand-made list ----------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "Vladimir Putin",  # missing patronymic
        "Putin, Vladimir",  # surname first
        "PUTIN Vladimir Vladimirovich",  # word order
        "Vladimir Vladimirovich Putin",
        "Владимир Путин",  # Cyrillic against the Latin listing
        "Владимир Владимирович ПУТИН",
        "Vladimir Puttin",  # typos
        "Vladmir Putin",
        "Wladimir Putin",
        "Mr. Vladimir Putin",  # titles
        "President Vladimir Putin",
    ],
)
def test_putin_variants_hit(small_screener: Screener, query: str) -> None:
    hit = _hit(small_screener, query, "TEST:1")
    assert hit.score >= small_screener.config.threshold
    assert hit.entity_name == "PUTIN, Vladimir Vladimirovich"


def test_full_name_scores_above_missing_middle_name(small_screener: Screener) -> None:
    full = _hit(small_screener, "Vladimir Vladimirovich Putin", "TEST:1")
    short = _hit(small_screener, "Vladimir Putin", "TEST:1")
    typo = _hit(small_screener, "Vladimir Puttin", "TEST:1")
    assert full.score == 100.0
    assert full.score > short.score > typo.score
    assert short.breakdown.unmatched_listed_tokens == ("vladimirovich",)


@pytest.mark.parametrize(
    ("query", "entity_id"),
    [
        ("Sergey Lavrov", "TEST:2"),
        ("Сергей Лавров", "TEST:2"),
        ("Dr Ayman al-Zawahiri", "TEST:3"),
        ("Sheikh Ayman Zawahiri", "TEST:3"),
        ("Muhammad Ahmad Rashid", "TEST:4"),
        ("Mohamed Ahmed Al Rashid", "TEST:4"),
        ("Kim Jong-un", "TEST:7"),
        ("Jong Un Kim", "TEST:7"),
        ("Ιωάννης Παπαδόπουλος", "TEST:8"),
        ("Ioannis Papadopulos", "TEST:8"),
        ("Sberbank of Russia", "TEST:20"),
        ("PJSC Sberbank of Russia", "TEST:20"),
        ("Rosoboronexport", "TEST:21"),
        ("Hamas", "TEST:22"),
    ],
)
def test_transliteration_titles_variants_and_organisations(
    small_screener: Screener, query: str, entity_id: str
) -> None:
    assert _ids(small_screener.screen(query))[:1] == [entity_id]


@pytest.mark.parametrize(
    "query",
    [
        "John Smith",  # shares only "Smith" with SMITH, Abdullah Karim
        "Abdullah Smith",  # common given name + surname, a listed middle name missing
        "Maria Garcia",  # shares the common "Maria", "Garcia" with GARCIA LOPEZ, Maria
        "Maria Lopez",
        "Mohammad Ahmed",  # two of three very common tokens of Mohammed Ahmed Al-Rashid
        "Vladimir Popov",  # one shared given name
        "Putin",  # a one-word query never matches part of a longer name
        "Kim",
        "Hamas Charity Fund",  # one word of three
        "Sberbank Rossii",
    ],
)
def test_common_and_partial_names_do_not_hit(small_screener: Screener, query: str) -> None:
    assert small_screener.screen(query) == []


def test_common_names_need_corroboration(make: type) -> None:
    screener = Screener([make.make_list(make.person("9", "Maria Elena GARCIA", dob="1970"))])
    assert screener.screen("Maria Garcia") == []
    # a distinctive name with a missing middle name is still a hit
    screener = Screener([make.make_list(make.person("9", "Marianela Elena GARCIAZABAL"))])
    assert _ids(screener.screen("Marianela Garciazabal")) == ["TEST:9"]


def test_dob_raises_and_lowers_the_score(
    small_screener: Screener, small_list: SanctionsList
) -> None:
    plain = _hit(small_screener, "Vladimir Putin", "TEST:1")
    exact = _hit(small_screener, "Vladimir Putin", "TEST:1", dob="1952-10-07")
    year = _hit(small_screener, "Vladimir Putin", "TEST:1", dob="1952")
    near = _hit(small_screener, "Vladimir Putin", "TEST:1", dob="1953-01-01")
    assert exact.score > year.score > plain.score == near.score
    assert exact.breakdown.dob_factor == ScreeningConfig().dob_exact_bonus
    assert any("exact (1952-10-07)" in note for note in exact.breakdown.notes)
    # a clear mismatch takes the score below the threshold
    assert small_screener.screen("Vladimir Putin", dob="1980-01-01") == []
    # ...but only lowers it: with a lower threshold the hit is there, with its reason
    lenient = Screener([small_list], config=ScreeningConfig(threshold=60, min_name_score=60))
    far = _hit(lenient, "Vladimir Putin", "TEST:1", dob="1980-01-01")
    assert far.breakdown.dob_factor == -ScreeningConfig().dob_mismatch_penalty
    assert far.score < plain.score


def test_dob_corroborates_a_common_name(make: type) -> None:
    screener = Screener([make.make_list(make.person("9", "Maria Elena GARCIA", dob="1970-05-04"))])
    assert screener.screen("Maria Garcia") == []  # name alone: too weak
    hit = _hit(screener, "Maria Garcia", "TEST:9", dob="1970-05-04")  # same date of birth
    assert any("common" in note for note in hit.breakdown.notes)
    assert screener.screen("Maria Garcia", dob="1971-05-04") == []
    assert screener.screen("Maria Garcia", dob="1985") == []


def test_nationality_and_entity_type_factors(small_screener: Screener) -> None:
    plain = _hit(small_screener, "Vladimir Putin", "TEST:1")
    same = _hit(small_screener, "Vladimir Putin", "TEST:1", countries=["Russian Federation"])
    other = _hit(small_screener, "Vladimir Putin", "TEST:1", countries=["FR"])
    assert same.score > plain.score > other.score
    assert small_screener.screen("Vladimir Putin", entity_type=EntityType.ENTITY) == []
    person = _hit(small_screener, "Vladimir Putin", "TEST:1", entity_type=EntityType.PERSON)
    assert person.score == plain.score


def test_hit_explains_itself(small_screener: Screener) -> None:
    hit = _hit(small_screener, "Vladimir Puttin", "TEST:1", dob="1952-10-07", countries=["RU"])
    b = hit.breakdown
    assert hit.matched_name == "PUTIN, Vladimir Vladimirovich"
    assert hit.alias_type is AliasType.PRIMARY
    assert hit.source == "TEST" and hit.list_version == "v1"
    assert len(hit.entity_version) == 64
    pairs = {(m.query_token, m.listed_token) for m in b.matched_tokens}
    assert pairs == {("vladimir", "vladimir"), ("puttin", "putin")}
    assert 0.85 < next(m.similarity for m in b.matched_tokens if m.listed_token == "putin") < 1
    assert b.dob_factor > 0 and b.nationality_factor > 0 and b.entity_type_factor == 0
    assert hit.score == pytest.approx(min(100.0, b.name_score + b.dob_factor + 3.0), abs=0.02)
    assert 0 < b.token_sort_ratio <= 100 and 0 < b.token_set_ratio <= 100
    text = hit.explain()
    assert "puttin~putin" in text and "date of birth +8.0" in text


def test_alias_match_is_reported_with_its_type(small_screener: Screener) -> None:
    hit = _hit(small_screener, "Sberbank", "TEST:20")
    assert hit.matched_name == "SBERBANK" and hit.alias_type is AliasType.AKA


def test_weak_alias_is_penalised(make: type) -> None:
    from compliance.screening import Alias, Entity

    entity = Entity(
        "TEST:50", "TEST", "50", "v1", EntityType.PERSON, "Abdulkarim Testname",
        aliases=(Alias("Abu Testi Karimov", AliasType.WEAK),),
    )  # fmt: skip
    hit = _hit(Screener([make.make_list(entity)]), "Abu Testi Karimov", "TEST:50")
    assert hit.alias_type is AliasType.WEAK
    assert hit.score == 100 - ScreeningConfig().weak_alias_penalty
    without = Screener([make.make_list(entity)], config=ScreeningConfig(include_weak_aliases=False))
    assert without.screen("Abu Testi Karimov") == []


# ---- matching on the real bundled lists ----------------------------------------------


@pytest.mark.parametrize(
    ("query", "entity_id"),
    [
        ("Usama bin Laden", "OFAC-SDN:6365"),
        ("Osama Bin Ladin", "OFAC-SDN:6365"),
        ("Saddam Hussein", "OFAC-SDN:7843"),
        ("Kim Jong Un", "OFAC-SDN:20157"),
        ("Ismail Haniyeh", "OFAC-SDN:23627"),
        ("Иван Церцель", "OFAC-SDN:32277"),  # Cyrillic query, Latin listing
        ("Ivan Stanislavovich Tsertsel", "OFAC-SDN:32277"),  # spelling variant
        ("Banco Nacional de Cuba", "OFAC-SDN:306"),
        ("National Bank of Cuba", "OFAC-SDN:306"),
        ("BNC", "OFAC-SDN:306"),  # a weak alias from the remarks
        ("SADDAM HUSSEIN AL-TIKRITI", "UN-SC:IQi.001"),
        ("Eric Badege", "UN-SC:CDi.001"),
        ("Eric Badege", "OFAC-SDN:15718"),
    ],
)
def test_real_list_hits(bundled_screener: Screener, query: str, entity_id: str) -> None:
    assert entity_id in _ids(bundled_screener.screen(query))


def test_real_list_dob_from_remarks(bundled_screener: Screener) -> None:
    plain = _hit(bundled_screener, "Ivan Tsertsel", "OFAC-SDN:32277")
    exact = _hit(bundled_screener, "Ivan Tsertsel", "OFAC-SDN:32277", dob="1966-09-08")
    assert exact.score > plain.score
    assert "OFAC-SDN:32277" not in _ids(bundled_screener.screen("Ivan Tsertsel", dob="1990"))


def test_real_list_pep(bundled_screener: Screener) -> None:
    hit = _hit(bundled_screener, "Maria Garcia Lopez", "OPENSANCTIONS:Q789012")
    assert hit.is_pep
    assert _ids(bundled_screener.screen("Maria Garcia")) == []


@pytest.mark.parametrize(
    "query",
    ["Maria Garcia", "Jose Martinez", "Peter Miller", "Anna Schmidt", "John Brown", "Li Wang"],
)
def test_real_list_common_names_do_not_hit(bundled_screener: Screener, query: str) -> None:
    assert bundled_screener.screen(query) == []


def test_index_retrieval_is_by_shared_token_pairs(small_screener: Screener) -> None:
    index = small_screener.index
    (rec,) = index.records_containing(["vladimir", "putin"])
    entity, name, alias_type, tokens = index.record(rec)
    assert name == "PUTIN, Vladimir Vladimirovich"
    assert entity.entity_id == "TEST:1" and alias_type is AliasType.PRIMARY
    assert tokens == ["vladimir", "vladimirovich", "putin"]
    assert index.records_containing(["vladimir", "smith"]) == []
    expansions = [index.expand(t, 0.8, 12) for t in ("vladmir", "puttin")]
    assert [list(e) for e in expansions] == [["vladimir"], ["putin"]]
    assert all(0.85 < sim < 1 for e in expansions for sim in e.values())
    found = index.candidates(
        expansions, single_min_similarity=0.9, max_postings=100, max_candidates=10
    )
    assert found == [rec]


def test_a_one_word_name_joining_the_beginnings_of_a_listed_companys_words_is_a_hit() -> None:
    """A one-word "INGRANRES" for INversiones GRANda REStrepo, "IMCOMER" for IMportadora y
    COMERcializadora: the hit says which beginnings were joined. A short word, or one that
    only joins single initials beyond the first word, is no such hit."""
    lists = [
        SanctionsList(
            "TEST",
            "v1",
            None,
            (),
            (
                Entity("T:1", "TEST", "1", "v1", EntityType.ENTITY,
                       "INVERSIONES GRANDA RESTREPO Y CIA S.C.S."),
                Entity("T:2", "TEST", "2", "v1", EntityType.ENTITY,
                       "IMPORTADORA Y COMERCIALIZADORA LTDA."),
                Entity("T:3", "TEST", "3", "v1", EntityType.ENTITY, "ALITE COMPANY"),
            ),
        )
    ]  # fmt: skip
    screener = Screener(lists)
    hits = screener.screen("INGRANRES")
    assert [h.entity_id for h in hits] == ["T:1"]
    assert hits[0].breakdown.matched_tokens[0].how == "word beginnings"
    assert "in + gran + res" in " ".join(hits[0].breakdown.notes)
    assert [h.entity_id for h in screener.screen("Imcomer")] == ["T:2"]
    assert screener.screen("ALCO") == []  # four letters: too short to tell
    assert screener.screen("INGRCSCS") == []  # only initials after the first two letters
    assert screener.screen("INGRANRES", entity_type=EntityType.PERSON) == []


def test_two_names_in_their_own_right_that_only_sound_alike_are_not_one_name(
    make: type,
) -> None:
    """ "Smith" (a common name) and "Samet" (a name three listed people bear) share a sound
    key, but their letters are not close: screening "Olga Smith" does not hit "Samet Olga".
    A spelling that is no name of its own ("Smet") still finds "Samet" by sound."""
    p = make.person
    screener = Screener(
        [
            make.make_list(
                p("1", "Samet Olga"),
                p("2", "Samet Yildiz"),
                p("3", "Samet Demirkol"),
            )
        ]
    )
    assert screener.screen("Olga Smith") == []
    assert [h.entity_id for h in screener.screen("Olga Samet")] == ["TEST:1"]
    assert "TEST:1" in {h.entity_id for h in screener.screen("Olga Smet")}


def test_common_names_matched_through_a_listed_initial_need_a_second_identifier(
    make: type,
) -> None:
    """ "Karen Mohammed Garcia" against a listed "Mohammed K Garcia": three very common names,
    one of them only as an initial: no hit by name alone; the same date of birth makes it
    one, explained."""
    screener = Screener([make.make_list(make.person("1", "Mohammed K Garcia", dob="1970-05-02"))])
    assert screener.screen("Karen Mohammed Garcia") == []
    hits = screener.screen("Karen Mohammed Garcia", dob="1970-05-02")
    assert [h.entity_id for h in hits] == ["TEST:1"]
    assert hits[0].breakdown.capped_at is None
