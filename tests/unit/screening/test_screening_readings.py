"""Readings of a screened name beyond its plain words: legal forms set aside only for
companies, legal forms written glued to a word, two words joined into a listed spelling."""

from __future__ import annotations

from compliance.screening import Entity, EntityType, Screener
from compliance.screening.normalise import normalise_name
from compliance.screening.similarity import token_similarity

from .conftest import Make


def _vessel(source_id: str, name: str) -> Entity:
    return Entity(f"TEST:{source_id}", "TEST", source_id, "v1", EntityType.VESSEL, name)


def _screener(*entities: Entity) -> Screener:
    return Screener([Make.make_list(*entities)])


def test_a_person_keeps_a_surname_spelt_like_a_legal_form() -> None:
    assert normalise_name("Sabrina Sá") == ("sabrina",)  # read as "Sabrina S.A."
    assert normalise_name("Sabrina Sá", legal_forms=False) == ("sabrina", "sa")
    assert normalise_name("SAD, Mohammed", legal_forms=False) == ("muhammad", "sad")


def test_a_surname_spelt_like_a_legal_form_is_not_set_aside_against_a_vessel_or_person() -> None:
    """ "Sabrina Sá" is not the vessel SABRINA, nor "Sabrina" of another family: the legal
    form reading is only for listed companies."""
    for listed in (
        _vessel("1", "SABRINA"),
        Make.person("2", "SABRINA"),
        Make.organisation("3", "SABRINA SHIPPING"),
    ):
        screener = _screener(listed)
        assert screener.screen("Sabrina Sá") == [], listed.name
        assert screener.screen("Sabrina Sá", entity_type=EntityType.PERSON) == []


def test_a_legal_form_of_a_name_of_unknown_kind_is_still_set_aside_for_companies() -> None:
    screener = _screener(Make.organisation("1", "ACME TRADING S.A."), _vessel("2", "ACME TRADING"))
    hits = {h.entity_id: h for h in screener.screen("Acme Trading SA")}
    assert hits["TEST:1"].score == 100.0
    assert "'sa' set aside as a company's legal form" in hits["TEST:1"].breakdown.notes
    assert "TEST:2" not in hits or hits["TEST:2"].score < 100.0


def test_a_listed_person_named_like_a_legal_form_keeps_that_name() -> None:
    """ "SAD, Mohammed" is not every Mohammed."""
    screener = _screener(Make.person("1", "SAD, Mohammed"))
    assert [h.entity_id for h in screener.screen("Mohammed Sad")] == ["TEST:1"]
    assert screener.screen("Mohammed") == []


def test_a_legal_form_written_glued_to_the_name_is_read_apart() -> None:
    screener = _screener(Make.organisation("1", "KHAYBAR COMPANY"))
    hits = screener.screen("KHAYBARCO")
    assert [h.entity_id for h in hits] == ["TEST:1"]
    assert "legal form written joined: 'haybarco' read as 'haybar co'" in hits[0].breakdown.notes
    assert screener.screen("KHAYBARCA") == []  # no legal form glued: not a spelling of it


def test_two_screened_words_joined_can_spell_a_listed_word_differently() -> None:
    screener = _screener(Make.organisation("1", "POSTBANK"))
    hits = screener.screen("Poste Bank")
    assert [h.entity_id for h in hits] == ["TEST:1"]
    assert any("a spelling of 'postbank'" in note for note in hits[0].breakdown.notes)


def test_a_name_in_arabic_letters_finds_its_spelling_among_many_with_the_same_consonants() -> None:
    """ "روين" romanises to "rvyn": consonants r-n, which dozens of listed words share; the
    listed name's own spelling is found however many others come first."""
    closer = [
        "RAN",
        "REN",
        "RIN",
        "RON",
        "RUN",
        "RYN",
        "RAYN",
        "REYN",
        "RIYN",
        "ROYN",
        "RUYN",
        "RYAN",
        "RAVN",
        "ROVN",
        "REVN",
    ]
    others = [Make.person(str(n), f"SALEH {word}") for n, word in enumerate(closer)]
    screener = _screener(Make.person("x", "AL-AZHAR BEN KHALIFA BEN AHMED ROUINE"), *others)
    hits = screener.screen("الأزهر بن خليفة بن احمد روين")
    assert hits and hits[0].entity_id == "TEST:x"
    assert ("rvyn", "rouine") in {
        (m.query_token, m.listed_token) for m in hits[0].breakdown.matched_tokens
    }


def test_two_letters_of_arabic_romanised_like_one_sound_are_still_two_letters() -> None:
    """ "طه" (Taha) romanises to "th": the letters t and h, not the one sound of "ثابت"."""
    screener = _screener(Make.person("1", "TAHA MUHYI-AL-DIN MA'RUF"))
    hits = screener.screen("طه محي الدين معروف")
    assert [h.entity_id for h in hits] == ["TEST:1"]
    assert ("th", "taha") in {
        (m.query_token, m.listed_token) for m in hits[0].breakdown.matched_tokens
    }


def test_a_company_named_in_arabic_letters_matches_its_short_words_by_consonants() -> None:
    """Short words of a company must agree letter for letter in Latin script ("ALFA" is not
    "ALTA"), but a name in Arabic letters writes no vowels: "طارق" is "TARIQ"."""
    screener = _screener(
        Make.organisation("1", "TARIQ GIDAR GROUP"), Make.organisation("2", "TARIK GUDAR GROUP")
    )
    assert "TEST:1" in [h.entity_id for h in screener.screen("طارق گیدڑ گروپ")]
    assert [h.entity_id for h in screener.screen("TARK GIDAR GROUP")] == []


def test_a_known_name_beginning_like_an_article_is_not_split() -> None:
    """ "Elena" is a name, not "el" + "ena"."""
    screener = _screener(Make.person("1", "CABDILAAHI FERREIRA, Ena"))
    assert screener.screen("Elena Ferreira") == []


def test_equally_close_spellings_that_sound_alike_come_first() -> None:
    """When more listed spellings are equally close than are kept, the one with the same
    sound ("umran": "omran") is kept before those that only share letters, and the others
    in alphabetical order (never in the order of a set, which changes between processes)."""
    words = ["DURAN", "GUMAN", "HUMAN", "HURAN", "KURAN", "MORAN", "NUMAN", "OMRAN"]
    screener = _screener(*(Make.person(str(n), f"KARIM {w}") for n, w in enumerate(words)))
    index = screener.index
    found = index.expand("umran", 0.8, 2)
    assert "omran" in found
    assert list(index.expand("umran", 0.8, 8)) == sorted(
        index.expand("umran", 0.8, 8), key=lambda w: (w != "omran", w)
    )


def test_a_legal_form_spelt_out_in_single_letters_is_a_legal_form() -> None:
    """ "S A DE C V" is "S.A. de C.V." (not the initials s, a, c and the numeral V)."""
    assert normalise_name("Megaempacadora De Frutas S A De C V", surname_first=False) == (
        "megaempacadora",
        "frutas",
    )
    assert normalise_name("Geofarma S. A.", surname_first=False) == ("geofarma",)
    for initials in ("J R Smith", "A. B. Smith", "P. P. Ivanov", "A. S. Pushkin", "E. V. Ivanova"):
        assert len(normalise_name(initials)) == 3, initials  # initials stay initials
    assert normalise_name("A & S CARRIER INTERNACIONAL, S.A. DE C.V.", surname_first=False) == (
        "a",
        "s",
        "carrier",
        "internacional",
    )
    assert normalise_name("S A Khan", legal_forms=False) == ("s", "a", "han")
    screener = _screener(Make.organisation("1", "GEOFARMA S.A. DE C.V."))
    assert [(h.entity_id, h.score) for h in screener.screen("Geofarma S A De C V")] == [
        ("TEST:1", 100.0)
    ]


def test_a_spelt_out_legal_form_glued_to_a_short_word_is_read_apart() -> None:
    screener = _screener(Make.organisation("1", "NATIONAL IRANIAN OIL COMPANY PTE LTD"))
    hits = screener.screen("National Iranian Oilcompany Pte Ltd")
    assert [(h.entity_id, h.score) for h in hits] == [("TEST:1", 100.0)]
    tacco = _screener(Make.organisation("1", "TAC TRADING"))
    assert tacco.screen("TACCO TRADING") == []  # "co" needs four letters before it


def test_a_particle_written_joined_to_the_next_word_is_read_apart() -> None:
    screener = _screener(
        Make.organisation("1", "COMERCIALIZADORA DE GANADO Y RENTAS DE CAPITAL S.A."),
        Make.person("2", "DELGADO, Maria"),
    )
    hits = screener.screen("Comercializadora Deganado Y Rentas De Capital S A")
    assert [h.entity_id for h in hits] == ["TEST:1"]
    assert "particle written joined: 'deganado' read as 'de ganado'" in hits[0].breakdown.notes
    # a listed word is never split: "Delgado" is not "del gado"
    assert [h.entity_id for h in screener.screen("Maria Delgado")] == ["TEST:2"]


def test_a_compound_name_written_as_one_word_is_read_in_its_three_parts() -> None:
    """ "Fazlurrehman" is Fazl-ur-Rehman: a first part, the linking "ur", a listed word."""
    screener = _screener(
        Make.person("1", "FAZL-UR-REHMAN KHALIL"), Make.person("2", "REHMAN KHALIL, Abdul")
    )
    hits = screener.screen("Fazlurrehman Khalil")
    assert [h.entity_id for h in hits][:1] == ["TEST:1"]
    assert "screened word 'fazlurrehman' read as 'fazl ur rehman'" in hits[0].breakdown.notes


def test_an_exact_date_of_birth_lets_common_names_with_a_missing_middle_name_hit() -> None:
    """ "Juan Morales" is every other Juan Morales, so the missing "Carlos Cuartes" counts
    fully; with the listed date of birth, day for day, it is this one (a review hit), and
    with another date it is not."""
    screener = _screener(Make.person("1", "CUARTES MORALES, Juan Carlos", dob="1968-11-09"))
    assert screener.screen("Juan Morales") == []
    assert screener.screen("Juan Morales", dob="1968") == []
    hits = screener.screen("Juan Morales", dob="1968-11-09")
    assert [h.entity_id for h in hits] == ["TEST:1"]
    assert any("the date of birth or an ID number agrees" in n for n in hits[0].breakdown.notes)
    assert screener.screen("Juan Morales", dob="1971-03-02") == []
    # the 1st of January stands for an unknown day: it tells no one apart
    january = _screener(Make.person("2", "GARCIA, Maria Jose Fernanda", dob="1980-01-01"))
    assert january.screen("Maria Garcia", dob="1980-01-01") == []


def test_a_different_name_in_the_middle_is_not_a_name_left_out() -> None:
    """ "Abu Hafs al-Masri" leaves nothing out of "Abu Hamza al-Masri": Hafs and Hamza are
    two names, weighing fully, not a missing middle name weighing little."""
    screener = _screener(
        Make.person("1", "AL-MASRI, Abu Hamza"),
        Make.person("2", "ORTEGA SALDIVAR, Juan"),
        Make.person("3", "Rustam Ilyasovich Khalafov"),
    )
    assert screener.screen("AL-MASRI, Abu Hafs") == []
    # left out, a middle name still weighs little
    assert [h.entity_id for h in screener.screen("Abu al-Masri")] == ["TEST:1"]
    # a given name on one side and a second family name on the other are in different
    # places: both are names left out, not one name for another
    assert [h.entity_id for h in screener.screen("Juan Pablo Ortega")] == ["TEST:2"]
    # a patronymic begins with the father's name written as a middle name
    assert [h.entity_id for h in screener.screen("Rustam Ilyas Khalafov")] == ["TEST:3"]
    # between the same two matched words, whichever order the names run in
    reversed_order = _screener(Make.person("1", "Bernard Saad Sergei"))
    assert reversed_order.screen("Sergei Michael Bernard") == []


def test_two_words_joined_are_not_a_listed_word_they_only_begin() -> None:
    """ "Korvan Hoo" joined is "korvanhoo", which sounds and begins like "korvan" but is not
    it letter for letter; "Korvan Dertos" is nearly "KORVANDERTO"."""
    screener = _screener(Make.organisation("1", "KORVAN"), Make.organisation("2", "KORVANDERTO"))
    assert screener.screen("Korvan Hoo") == []
    assert [h.entity_id for h in screener.screen("Korvan Dertos")] == ["TEST:2"]


def test_an_article_dropped_from_the_screened_name_is_found_joined_in_the_listed_one() -> None:
    screener = _screener(Make.person("1", "ALARIFI, Naif Hassan"))
    hits = screener.screen("AL-ARIFI, Naif Hassan")
    assert [(h.entity_id, h.score) for h in hits] == [("TEST:1", 100.0)]
    assert "article joined as listed: 'arifi' read as 'alarifi'" in hits[0].breakdown.notes


def test_ukrainian_and_russian_forms_of_a_given_name_are_one_name() -> None:
    screener = _screener(Make.person("1", "VYSOTSKY, Vladimir Yurievich"))
    hits = screener.screen("VYSOTSKYI, Volodymyr Yuriyovych")
    assert [h.entity_id for h in hits] == ["TEST:1"]
    assert normalise_name("Олена Зеленська") == ("elena", "zelenska")


def test_each_part_of_a_listed_name_written_with_a_slash_is_a_name() -> None:
    """ "ADF/NALU" is two names; "MAERSK A/S", "J/V CORPORATION" and "HARAKAT
    UL-JIHAD-I-ISLAMI/BANGLADESH" are each one name: the part after the slash is no name
    alone."""
    screener = _screener(
        Make.organisation("1", "ALLIED DEMOCRATIC FORCES", "ADF/NALU"),
        Make.organisation("2", "MAERSK A/S"),
        Make.organisation("3", "J/V CORPORATION"),
        Make.organisation("4", "HARAKAT UL-JIHAD-I-ISLAMI/BANGLADESH"),
    )
    assert [h.entity_id for h in screener.screen("NALU")] == ["TEST:1"]
    for word in ("S", "V", "V Corporation", "Bangladesh"):
        assert screener.screen(word) == [], word


def test_a_legal_form_set_aside_counts_against_listed_names_of_unknown_kind() -> None:
    """Listed names of unknown kind are indexed with legal forms set aside, as companies
    are: "ZDAS (HK) Company" is the listed ZDAS (HK) COMPANY whatever the kind."""
    unknown = Entity("TEST:1", "TEST", "1", "v1", EntityType.UNKNOWN, "ZDAS (HK) COMPANY")
    hits = _screener(unknown).screen("ZDAS (HK) Company")
    assert [(h.entity_id, h.score) for h in hits] == [("TEST:1", 100.0)]


def test_abd_with_its_article_written_joined_is_one_name_as_with_it_apart() -> None:
    assert normalise_name("'ABD ALSALAM, Ashraf") == normalise_name("'ABD AL-SALAM, Ashraf")
    assert normalise_name("Abd Allah Azzam") == ("abdullah", "azzam")
    assert normalise_name("Abd Alim Khan")[0] == "abdulalim"  # "alim" is the name itself


def test_a_first_single_letter_y_is_an_initial_not_the_spanish_and() -> None:
    assert normalise_name("Y. Chol Kim") == ("y", "chol", "kim")
    assert normalise_name("Juan y Maria") == ("juan", "maria")
    screener = _screener(Make.person("1", "KIM, Yong Chol"))
    hits = screener.screen("Y. Chol Kim")
    assert [h.entity_id for h in hits] == ["TEST:1"]
    matched = {(m.query_token, m.listed_token) for m in hits[0].breakdown.matched_tokens}
    assert ("y", "yong") in matched


def test_two_words_in_arabic_letters_make_one_listed_word_only_when_they_should() -> None:
    """ "رحمت الله" is the compound name Rahmatullah; "رها الوندی" (Raha Alvandi) is a given
    name and a family name, not "Ruhinda", whose consonants they happen to share."""
    screener = _screener(Make.person("1", "RAHMATULLAH SHAH NAWAZ"), Make.person("2", "RUHINDA"))
    assert [h.entity_id for h in screener.screen("رحمت الله شاه نواز")] == ["TEST:1"]
    assert screener.screen("رها الوندی") == []


def test_a_short_word_is_not_a_spelling_of_a_longer_name_it_begins() -> None:
    """ "Mans" begins "Mansha" but is not it: a shared beginning counts for a short word only
    when the longer adds one letter ("Atar" / "Atari")."""
    assert token_similarity("mans", "mansha") < 0.8
    assert token_similarity("atar", "atari") >= 0.8
    screener = _screener(Make.person("1", "MANSHA, Muhammad Ashraf"))
    assert screener.screen("Mohamed Mans") == []


def test_abd_keeps_a_name_that_itself_begins_like_an_article() -> None:
    """ "Abdul Aleem" is Abdulaleem: "aleem" is a name of its own, not "al" + "eem"."""
    assert normalise_name("Khalid Abdul Aleem") == normalise_name("ABDULALEEM, Khalid")
    assert normalise_name("Yusuf Abdul Elahi") == normalise_name("ABDULELAHI, Yusuf")


def test_readings_that_change_a_persons_word_need_the_name_to_say_so() -> None:
    """A person's word is not read as another listed word by adding an article the name
    never had ("Bert" as "Albert"), taking off a particle ("Lebedev" as "le bedev") or a
    legal form ("Pacheco" as "pache co")."""
    screener = _screener(
        Make.person("1", "JONES, Albert"),
        Make.person("2", "BEDEV, Ivan"),
        Make.person("3", "PACHE, Jose Luis"),
        Make.person("4", "ALARIFI, Naif Hassan"),
    )
    assert screener.screen("Bert Jones") == []
    assert screener.screen("Ivan Lebedev") == []
    assert screener.screen("Jose Luis Pacheco") == []
    assert screener.screen("Jose Luis Pacheco", entity_type=EntityType.PERSON) == []
    assert [h.entity_id for h in screener.screen("Naif Hassan al-Arifi")] == ["TEST:4"]


def test_short_company_words_in_arabic_letters_need_their_consonants() -> None:
    """ "نار" (Nar) and "نير" are not NOOR: two consonants are too few to tell."""
    screener = _screener(Make.organisation("1", "NOOR TRADING"))
    assert screener.screen("نار ترادينغ") == []
    assert screener.screen("نير ترادينغ") == []


def test_a_name_of_abd_is_read_apart_only_where_a_listed_name_could_be() -> None:
    """ "Abdul Akhund" is normalised "abdulakhund" (listed names too): it may be "abdul" and
    "akhund" (a listed name ending in ABDUL is not merged), never "abdulah" and "und"."""
    screener = _screener(
        Make.person("1", "ABDULAH, Amir"),
        Make.person("2", "ABDUL, Makki"),
        Make.person("3", "AZHAR, Abdul Rauf"),
        # "und" in enough listed names to be a word of its own
        *(Make.organisation(f"U{n}", f"{name} UND PARTNER") for n, name in enumerate("ABC")),
    )
    assert "TEST:1" not in {h.entity_id for h in screener.screen("Abdul Akhund")}
    assert [h.entity_id for h in screener.screen("Abdul Raufazhar")] == ["TEST:3"]
    assert [h.entity_id for h in screener.screen("Abdul Makki")] == ["TEST:2"]
