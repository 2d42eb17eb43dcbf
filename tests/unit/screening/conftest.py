"""Fixtures for the screening tests: the real list files in tests/data, hand-made
entities. Paths come from this file, never from the working directory; test modules that
need a path compute it from their own ``__file__`` and import nothing from here."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.screening import (
    Alias,
    AliasType,
    DateOfBirth,
    Entity,
    EntityType,
    PartialDate,
    SanctionsList,
    Screener,
    load_directory,
)

# The list files the project carries for its tests (tests/data/sanctions/SOURCES.md)
DATA = Path(__file__).resolve().parents[2] / "data" / "sanctions"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "ofac_sdn.csv").is_file():
        pytest.fail(
            f"the sanctions list files of the tests are missing from {DATA} "
            "(see tests/data/sanctions/SOURCES.md)",
            pytrace=False,
        )
    return DATA


@pytest.fixture(scope="session")
def bundled_lists(data_dir: Path) -> list[SanctionsList]:
    return load_directory(data_dir)


@pytest.fixture(scope="session")
def bundled_screener(bundled_lists: list[SanctionsList]) -> Screener:
    return Screener(bundled_lists)


class Make:
    """Hand-made entities and lists."""

    @staticmethod
    def person(
        source_id: str,
        name: str,
        *aliases: str,
        dob: str | None = None,
        nationalities: tuple[str, ...] = (),
        source: str = "TEST",
        version: str = "v1",
    ) -> Entity:
        dobs = ()
        if dob is not None:
            parts = [int(p) for p in dob.split("-")]
            dobs = (DateOfBirth(PartialDate(*parts)),)
        return Entity(
            entity_id=f"{source}:{source_id}",
            source=source,
            source_id=source_id,
            list_version=version,
            entity_type=EntityType.PERSON,
            name=name,
            aliases=tuple(Alias(a, AliasType.AKA) for a in aliases),
            dates_of_birth=dobs,
            nationalities=nationalities,
        )

    @staticmethod
    def organisation(source_id: str, name: str, *aliases: str, source: str = "TEST") -> Entity:
        return Entity(
            entity_id=f"{source}:{source_id}",
            source=source,
            source_id=source_id,
            list_version="v1",
            entity_type=EntityType.ENTITY,
            name=name,
            aliases=tuple(Alias(a, AliasType.AKA) for a in aliases),
        )

    @staticmethod
    def make_list(*entities: Entity, source: str = "TEST", sha: str = "0" * 64) -> SanctionsList:
        return SanctionsList(source, sha, None, (), tuple(entities))


@pytest.fixture(scope="session")
def make() -> type[Make]:
    return Make


@pytest.fixture(scope="session")
def small_list() -> SanctionsList:
    """A hand-made list with the classic cases (names of real public figures)."""
    p, o = Make.person, Make.organisation
    return Make.make_list(
        p("1", "PUTIN, Vladimir Vladimirovich", dob="1952-10-07", nationalities=("RU",)),
        p("2", "LAVROV, Sergei Viktorovich", dob="1950-03-21"),
        p("3", "AL-ZAWAHIRI, Ayman Muhammad", dob="1951-06-19", nationalities=("EG",)),
        p("4", "Mohammed Ahmed Al-Rashid", dob="1970"),
        p("5", "SMITH, Abdullah Karim"),
        p("6", "GARCIA LOPEZ, Maria"),
        p("7", "KIM, Jong Un", dob="1984-01-08"),
        p("8", "Ioannis Papadopoulos"),
        o("20", "SBERBANK OF RUSSIA PJSC", "SBERBANK"),
        o("21", "ROSOBORONEXPORT OAO"),
        o("22", "HAMAS"),
    )


@pytest.fixture(scope="session")
def small_screener(small_list: SanctionsList) -> Screener:
    return Screener([small_list])
