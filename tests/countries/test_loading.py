"""Loading the shipped treaty table: never invents, parses what the sources date."""

from datetime import date

from sqlalchemy import func, select
from sqlmodel import Session

from app.countries.models import Country, CountryStatusChange
from app.countries.treaty_data import (
    TREATY_DATA_FILE,
    load_countries,
    parse_row,
    read_treaty_data,
)


def _country(session: Session, iso3: str) -> Country:
    return session.get_one(Country, iso3)


def test_totals_match_the_provenance_note(session: Session) -> None:
    def counts(column):  # type: ignore[no-untyped-def]
        return dict(session.execute(select(column, func.count()).group_by(column)).all())

    assert session.scalar(select(func.count()).select_from(Country)) == 195
    assert counts(Country.rome_statute_status) == {
        "party": 124,
        "non_signatory": 39,
        "signatory": 29,
        "withdrawn": 2,
        "unknown": 1,
    }
    assert counts(Country.apic_status) == {"party": 72, "signatory": 2, "none": 68, "unknown": 53}
    assert counts(Country.kampala_status) == {"ratified": 42, "unknown": 83, "not_applicable": 70}
    assert counts(Country.implementing_legislation) == {"unknown": 195}
    assert counts(Country.region_slug) == {
        "europe": 53,
        "africa": 49,
        "asia-pacific": 39,
        "americas": 35,
        "mena": 19,
    }


def test_unverified_hungary_stays_unknown_with_its_sourced_dates(session: Session) -> None:
    hungary = _country(session, "HUN")
    assert hungary.rome_statute_status == "unknown"
    assert hungary.rome_statute_date == date(2001, 11, 30)
    assert hungary.withdrawal_notified_on == date(2025, 6, 2)
    assert hungary.withdrawal_effective_on == date(2026, 6, 2)
    assert hungary.apic_status == "unknown"


def test_kampala_dates_are_parsed_from_the_source(session: Session) -> None:
    assert _country(session, "AND").kampala_date == date(2013, 9, 26)
    assert _country(session, "ITA").kampala_date == date(2022, 1, 26)  # the later K: entry
    assert _country(session, "MNG").kampala_date == date(2021, 1, 18)
    ratified = session.scalars(select(Country).where(Country.kampala_status == "ratified")).all()
    assert all(c.kampala_date is not None for c in ratified)
    # Ukraine's source mentions 2024 dates, but its deposit is unconfirmed: no date.
    ukraine = _country(session, "UKR")
    assert ukraine.kampala_status == "unknown"
    assert ukraine.kampala_date is None


def test_withdrawn_states_keep_ratification_and_effective_dates(session: Session) -> None:
    burundi = _country(session, "BDI")
    assert burundi.rome_statute_status == "withdrawn"
    assert burundi.rome_statute_date == date(2004, 9, 21)
    assert burundi.withdrawal_effective_on == date(2017, 10, 27)
    philippines = _country(session, "PHL")
    assert philippines.withdrawal_effective_on == date(2019, 3, 17)


def test_signatories_that_withdrew_signature(session: Session) -> None:
    flagged = session.scalars(
        select(Country.iso3).where(Country.signature_withdrawn.is_(True))  # type: ignore[attr-defined]
    ).all()
    assert set(flagged) == {"USA", "ISR", "SDN", "RUS"}


def test_each_row_source_is_its_first_history_entry(session: Session) -> None:
    entries = session.scalars(
        select(CountryStatusChange).where(CountryStatusChange.country_iso3 == "LVA")
    ).all()
    assert len(entries) == 1
    assert "ASP-PR1044" in entries[0].source
    assert entries[0].changes["kampala_date"] == {"from": None, "to": "2014-09-26"}


def test_second_load_changes_nothing(session: Session) -> None:
    history_before = session.scalar(select(func.count()).select_from(CountryStatusChange))
    report = load_countries(session, list(read_treaty_data()))
    assert (report.created, report.updated, report.differing) == (0, 0, 0)
    assert report.unchanged == 195
    assert session.scalar(select(func.count()).select_from(CountryStatusChange)) == history_before


def test_reload_keeps_staff_corrections_unless_asked(session: Session) -> None:
    senegal = _country(session, "SEN")
    senegal.apic_status = "party"  # type: ignore[assignment]
    session.flush()
    report = load_countries(session, list(read_treaty_data()))
    assert report.differing == 1
    assert _country(session, "SEN").apic_status == "party"
    report = load_countries(session, list(read_treaty_data()), update_existing=True)
    assert report.updated == 1
    assert _country(session, "SEN").apic_status == "unknown"


def test_empty_status_is_unknown_never_invented() -> None:
    row = {
        "iso3": "xxa",
        "country": "Example",
        "cicc_region": "Europe",
        "rome_statute_status": "",
        "rome_statute_date": "",
        "apic_status": "",
        "apic_date": "",
        "kampala_status": "",
        "source": "",
    }
    record = parse_row(row)
    assert record.iso3 == "XXA"
    assert {record.status[k] for k in ("rome_statute_status", "apic_status", "kampala_status")} == {
        "unknown"
    }
    assert record.status["implementing_legislation"] == "unknown"
    assert record.status["kampala_date"] is None


def test_shipped_file_is_the_project_copy() -> None:
    assert TREATY_DATA_FILE.exists()
    assert (TREATY_DATA_FILE.parent / "PROVENANCE.md").exists()
