"""Load the shipped country treaty table (data/rome_statute_status.csv).

The file's provenance note (data/PROVENANCE.md) says what is verified. This loader
never invents a status: an empty status is `unknown`, implementing legislation is
`unknown` everywhere, and the only values taken from the free-text `source` column are
dates written there next to the fact they date (Kampala deposits, the ratification of
states that later withdrew, a notified withdrawal) and the signatories that told the
UN they will not ratify.
"""

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from app.core.settings import PROJECT_ROOT
from app.core.types import jsonable
from app.countries.models import (
    ApicStatus,
    Country,
    CountryStatusChange,
    ImplementingLegislation,
    KampalaStatus,
    RomeStatuteStatus,
)
from app.countries.regions import REGION_BY_DATA_NAME
from app.countries.service import apply_status_change

TREATY_DATA_FILE = PROJECT_ROOT / "data" / "rome_statute_status.csv"
DATA_ACTOR = "data:rome_statute_status.csv"

_DATE = r"(\d{4}-\d{2}-\d{2})"
# "K:COA-2019(2013-09-26)" or "K:ONUITALIA-2022+PGA-2022+GIPA-NEWS(2022-01-26; 42nd...)"
_KAMPALA_DEPOSIT = re.compile(r"K:[A-Z0-9+\-]+\(" + _DATE)
# "RS:UNTC-2014(ratified 2004-09-21)+BDI-2017"
_RS_RATIFIED = re.compile(r"RS:[^;]*?\(ratified " + _DATE)
# "HUN-ASP(withdrawal notified 2025-06-02; due effective 2026-06-02)"
_WITHDRAWAL_NOTIFIED = re.compile(r"withdrawal notified " + _DATE)
_WITHDRAWAL_DUE = re.compile(r"due effective " + _DATE)
# "UNSIGN(notified SG it does not intend to become a party)", "UNSIGN(withdrew signature 2016)"
_SIGNATURE_WITHDRAWN = re.compile(r"UNSIGN\(")


class TreatyDataError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"{TREATY_DATA_FILE.name}, line {line}: {message}")


@dataclass(frozen=True)
class CountryRecord:
    iso3: str
    name: str
    region_slug: str
    status: dict[str, Any]
    source: str


def read_treaty_data(path: Path = TREATY_DATA_FILE) -> Iterator[CountryRecord]:
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                yield parse_row(row)
            except (KeyError, ValueError) as error:
                raise TreatyDataError(line, str(error)) from error


def parse_row(row: dict[str, str]) -> CountryRecord:
    source = row["source"].strip()
    rome_status = RomeStatuteStatus(row["rome_statute_status"] or "unknown")
    rome_date = _date(row["rome_statute_date"])
    status: dict[str, Any] = {
        "rome_statute_status": rome_status,
        "rome_statute_date": rome_date,
        "withdrawal_notified_on": _search_date(_WITHDRAWAL_NOTIFIED, source),
        "withdrawal_effective_on": _search_date(_WITHDRAWAL_DUE, source),
        "signature_withdrawn": rome_status is RomeStatuteStatus.signatory
        and bool(_SIGNATURE_WITHDRAWN.search(source)),
        "apic_status": ApicStatus(row["apic_status"] or "unknown"),
        "apic_date": _date(row["apic_date"]),
        "kampala_status": KampalaStatus(row["kampala_status"] or "unknown"),
        "kampala_date": None,
        "implementing_legislation": ImplementingLegislation.unknown,
    }
    if rome_status is RomeStatuteStatus.withdrawn:
        # The file's date for a withdrawn state is when the withdrawal took effect;
        # the ratification date, where known, is written in the source.
        status["withdrawal_effective_on"] = rome_date
        status["rome_statute_date"] = _search_date(_RS_RATIFIED, source)
    elif rome_status is RomeStatuteStatus.unknown and rome_date is None:
        status["rome_statute_date"] = _search_date(_RS_RATIFIED, source)
    if status["kampala_status"] is KampalaStatus.ratified:
        deposits = _KAMPALA_DEPOSIT.findall(source)
        status["kampala_date"] = date.fromisoformat(deposits[-1]) if deposits else None
    region = REGION_BY_DATA_NAME.get(row["cicc_region"])
    if region is None:
        raise ValueError(f"unknown region {row['cicc_region']!r}")
    iso3 = row["iso3"].strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", iso3):
        raise ValueError(f"malformed ISO3 code {iso3!r}")
    return CountryRecord(
        iso3=iso3, name=row["country"].strip(), region_slug=region, status=status, source=source
    )


@dataclass
class LoadReport:
    created: int = 0
    unchanged: int = 0
    updated: int = 0
    differing: int = 0  # existing rows whose status differs from the file (not applied)


def load_countries(
    session: Session,
    records: list[CountryRecord],
    *,
    update_existing: bool = False,
    actor: str = DATA_ACTOR,
) -> LoadReport:
    """Insert the countries that are missing; with `update_existing`, apply the file's
    status to the others as a recorded change. Running it twice changes nothing.

    Existing rows are left alone by default because staff correct statuses by hand
    (with a source) and a reload must not silently undo that.
    """
    existing = {country.iso3: country for country in session.scalars(select(Country)).all()}
    report = LoadReport()
    for record in records:
        country = existing.get(record.iso3)
        if country is None:
            country = Country(iso3=record.iso3, name=record.name, region_slug=record.region_slug)
            for name, value in record.status.items():
                setattr(country, name, value)
            session.add(country)
            session.add(
                CountryStatusChange(
                    country_iso3=record.iso3,
                    changed_by=actor,
                    source=record.source,
                    changes={
                        name: {"from": None, "to": jsonable(value)}
                        for name, value in record.status.items()
                    },
                )
            )
            report.created += 1
            continue
        differs = any(getattr(country, name) != value for name, value in record.status.items())
        if not differs:
            report.unchanged += 1
        elif update_existing:
            apply_status_change(session, country, record.status, actor=actor, source=record.source)
            report.updated += 1
        else:
            report.differing += 1
    session.flush()
    return report


def _date(text: str) -> date | None:
    text = text.strip()
    return date.fromisoformat(text) if text else None


def _search_date(pattern: re.Pattern[str], text: str) -> date | None:
    match = pattern.search(text)
    return date.fromisoformat(match.group(1)) if match else None
