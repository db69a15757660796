"""CSV import and export of the member registry (issue 2, point 9)."""

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, delete, event, func, select, update
from sqlalchemy.exc import DataError
from sqlmodel import Session
from typer.testing import CliRunner

from app.accounts.principal import Principal, Role
from app.cli import cli
from app.core.audit import AuditEntry
from app.core.db import session_scope
from app.core.errors import ValidationFailed
from app.members import custom_fields, service, spreadsheet
from app.members.models import (
    BounceStatus,
    Contact,
    ContactRole,
    CustomFieldType,
    MembershipStatus,
    Organization,
    OrganizationFocusArea,
    OrganizationLanguage,
    OrganizationType,
)
from app.members.schemas import CustomFieldCreate, ImportReport, OrganizationFilter
from tests.factories import STAFF, make_contact, make_organization

COLUMNS = [
    *spreadsheet.ORGANIZATION_COLUMNS,
    "custom:staff",
    "custom:tier",
    *spreadsheet.CONTACT_COLUMNS,
]


# --- helpers ---------------------------------------------------------------------------


def csv_bytes(rows: list[dict[str, str]], columns: list[str] | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns or COLUMNS, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def row(**cells: str) -> dict[str, str]:
    values = {
        "organization_name": "Kenyan Section of the ICJ",
        "country": "KEN",
        "organization_type": "bar_association",
        "languages": "en;sw",
        "membership_status": "active",
    }
    values.update(cells)
    return values


def run_import(session: Session, data: bytes, **options: Any) -> ImportReport:
    return spreadsheet.import_members(session, STAFF, data, **options)


def export_text(session: Session, **filters: Any) -> str:
    export = spreadsheet.export_members(session, STAFF, OrganizationFilter(**filters))
    return "".join(export.csv_chunks())


def export_records(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def audit_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def registry_state(session: Session) -> list[dict[str, Any]]:
    """Everything the registry says about its members, without ids or timestamps."""
    session.expire_all()
    state = []
    for organization in session.scalars(select(Organization)).all():
        contacts = sorted(
            (
                {
                    name: getattr(contact, name)
                    for name in (
                        "name",
                        "email",
                        "role",
                        "language",
                        "subscription_status",
                        "paused_until",
                        "consent_at",
                        "consent_method",
                        "bounce_status",
                        "hard_bounce_count",
                        "soft_bounce_count",
                        "last_bounced_at",
                    )
                }
                for contact in organization.contacts
            ),
            key=lambda contact: contact["email"],
        )
        state.append(
            {
                "name": organization.name,
                "acronym": organization.acronym,
                "country": organization.country_iso3,
                "type": organization.type,
                "focus_areas": organization.focus_areas,
                "languages": organization.languages,
                "membership_status": organization.membership_status,
                "joined_on": organization.joined_on,
                "website": organization.website,
                "address": organization.address,
                "notes": organization.notes,
                "custom_fields": organization.custom_fields,
                "contacts": contacts,
            }
        )
    return sorted(state, key=lambda o: (o["name"], o["country"]))


@pytest.fixture
def fields(session: Session) -> None:
    for data in (
        CustomFieldCreate(key="staff", label="Staff", field_type=CustomFieldType.number),
        CustomFieldCreate(
            key="tier", label="Tier", field_type=CustomFieldType.choice, choices=["gold", "silver"]
        ),
        CustomFieldCreate(key="renewal", label="Renewal", field_type=CustomFieldType.date),
        CustomFieldCreate(key="partner_code", label="Code", field_type=CustomFieldType.text),
    ):
        custom_fields.create_custom_field(session, STAFF, data)
    session.flush()


@pytest.fixture
def writes(connection: Connection) -> Iterator[list[str]]:
    """The INSERT, UPDATE and DELETE statements sent while the test runs."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            statements.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    yield statements
    event.remove(connection, "before_cursor_execute", record)


# --- import ----------------------------------------------------------------------------


@pytest.mark.usefixtures("fields")
def test_import_creates_organisations_and_contacts(session: Session) -> None:
    kenya_columns = row(
        organization_acronym="KS-ICJ",
        focus_areas="victims-rights;apic",
        joined_on="2003-05-01",
        website="https://icj-kenya.org",
        address="Nairobi\nP.O. Box 59743",
        **{"custom:staff": "12", "custom:tier": "gold"},
    )
    data = csv_bytes(
        [
            kenya_columns
            | {
                "contact_name": "Wanjiru Kamau",
                "contact_email": "W.Kamau@Example.org",
                "contact_role": "focal_point",
                "contact_language": "sw",
                "contact_consent_at": "2024-03-01T09:30:00",
                "contact_consent_method": "web form",
                "contact_bounce_status": "soft",
                "contact_soft_bounce_count": "2",
            },
            kenya_columns | {"contact_name": "Otieno", "contact_email": "otieno@example.org"},
            {"organization_name": "Avocats Sans Frontières", "country": "BEL"},
        ]
    )
    report = run_import(session, data)

    assert report.rejected_rows == []
    assert (report.rows, report.rejected) == (3, 0)
    assert report.organizations.model_dump() == {"created": 2, "updated": 0, "unchanged": 0}
    assert report.contacts.model_dump() == {"created": 2, "updated": 0, "unchanged": 0}

    kenya = session.scalars(select(Organization).where(Organization.country_iso3 == "KEN")).one()
    assert kenya.type is OrganizationType.bar_association
    assert kenya.focus_areas == ["apic", "victims-rights"]
    assert kenya.languages == ["en", "sw"]
    assert kenya.joined_on == date(2003, 5, 1)
    assert kenya.address == "Nairobi\nP.O. Box 59743"
    assert kenya.custom_fields == {"staff": 12, "tier": "gold"}
    focal, second = sorted(kenya.contacts, key=lambda c: c.name != "Wanjiru Kamau")
    assert focal.email == "w.kamau@example.org"
    assert focal.role is ContactRole.focal_point
    assert focal.consent_at == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)  # no zone: UTC
    assert (focal.bounce_status, focal.soft_bounce_count) == (BounceStatus.soft, 2)
    assert second.role is ContactRole.other  # empty cell: the default
    belgium = session.scalars(select(Organization).where(Organization.country_iso3 == "BEL")).one()
    assert belgium.contacts == []
    assert belgium.membership_status is MembershipStatus.active


REJECTIONS = [
    pytest.param({"country": "XYZ"}, "country", "Unknown country code", id="unknown-country"),
    pytest.param({"country": "Kenya"}, "country", "alpha-3", id="malformed-country"),
    pytest.param({"contact_email": "not-an-email"}, "contact_email", "email", id="bad-email"),
    pytest.param({"organization_type": "club"}, "organization_type", "ngo", id="bad-type"),
    pytest.param({"membership_status": "dormant"}, "membership_status", "", id="bad-status"),
    pytest.param({"contact_role": "boss"}, "contact_role", "focal_point", id="bad-role"),
    pytest.param(
        {"contact_subscription_status": "maybe"}, "contact_subscription_status", "", id="bad-sub"
    ),
    pytest.param({"joined_on": "05/01/2003"}, "joined_on", "date", id="bad-date"),
    pytest.param({"contact_paused_until": "soon"}, "contact_paused_until", "date", id="bad-pause"),
    pytest.param({"contact_consent_at": "yesterday"}, "contact_consent_at", "", id="bad-consent"),
    pytest.param({"languages": "en;english"}, "languages (item 2)", "ISO 639-1", id="bad-lang"),
    pytest.param({"languages": "en;en"}, "languages", "repeat", id="repeated-lang"),
    pytest.param({"focus_areas": "Victims Rights!"}, "focus_areas (item 1)", "tag", id="bad-tag"),
    pytest.param({"website": "icj.org"}, "website", "http", id="bad-website"),
    pytest.param({"custom:staff": "many"}, "custom:staff", "not a number", id="bad-number"),
    pytest.param({"custom:tier": "bronze"}, "custom:tier", "choices", id="bad-choice"),
    pytest.param({"custom:colour": "red"}, "custom:colour", "Unknown custom field", id="custom"),
    pytest.param(
        {"contact_hard_bounce_count": "-1"}, "contact_hard_bounce_count", "", id="bad-count"
    ),
    pytest.param({"contact_bounce_status": "bad"}, "contact_bounce_status", "", id="bad-bounce"),
    pytest.param({"organization_name": ""}, "organization_name", "required", id="no-name"),
    pytest.param(
        {"contact_email": "", "contact_name": "Someone"}, "contact_email", "required", id="no-email"
    ),
    pytest.param({"contact_name": ""}, "contact_name", "", id="new-contact-without-name"),
    pytest.param(
        {"website": "https://example.org/" + "a" * 490}, "website", "500", id="long-website"
    ),
    # No UTC equivalent within datetime's range: a rejected row, not an OverflowError.
    pytest.param(
        {"contact_consent_at": "0001-01-01T00:00:00+01:00"},
        "contact_consent_at",
        "out of the range",
        id="consent-before-year-1",
    ),
    pytest.param(
        {"contact_last_bounced_at": "9999-12-31T23:59:59-01:00"},
        "contact_last_bounced_at",
        "out of the range",
        id="bounce-after-year-9999",
    ),
    # Counts fit the database's integer column (a 500 on PostgreSQL otherwise).
    pytest.param(
        {"contact_hard_bounce_count": "99999999999"},
        "contact_hard_bounce_count",
        "2147483647",
        id="huge-hard-count",
    ),
    pytest.param(
        {"contact_soft_bounce_count": "99999999999"},
        "contact_soft_bounce_count",
        "2147483647",
        id="huge-soft-count",
    ),
]


@pytest.mark.usefixtures("fields")
@pytest.mark.parametrize(("cells", "column", "message"), REJECTIONS)
def test_each_rejection_names_row_and_column(
    session: Session, cells: dict[str, str], column: str, message: str
) -> None:
    bad = row(
        organization_name="Bad Row Organisation",
        contact_name="Bad Person",
        contact_email="bad@example.org",
    )
    bad.update(cells)
    columns = [*COLUMNS, "custom:colour"] if "custom:colour" in cells else COLUMNS
    good = row(contact_name="Good Person", contact_email="good@example.org")
    report = run_import(session, csv_bytes([good, bad], columns))

    assert report.rejected == 1
    [rejection] = report.rejected_rows
    assert rejection.row == 3
    assert rejection.reason.startswith(f"{column}: "), rejection.reason
    assert message in rejection.reason
    assert report.organizations.created == 1
    assert report.contacts.created == 1
    # Nothing of the rejected row was applied; the good row was.
    names = set(session.scalars(select(Organization.name)).all())
    assert names == {"Kenyan Section of the ICJ"}
    emails = set(session.scalars(select(Contact.email)).all())
    assert emails == {"good@example.org"}


def test_rejected_contact_leaves_its_organisation_uncreated(session: Session) -> None:
    data = csv_bytes([row(contact_name="X", contact_email="x@")], COLUMNS[:11] + COLUMNS[13:])
    report = run_import(session, data)
    assert [r.row for r in report.rejected_rows] == [2]
    assert report.organizations.model_dump() == {"created": 0, "updated": 0, "unchanged": 0}
    assert session.scalar(select(func.count()).select_from(Organization)) == 0


def test_rejected_row_leaves_an_existing_organisation_as_it_was(session: Session) -> None:
    organization = make_organization(session, name="Org", country="KEN", website="https://a.org")
    session.flush()
    audits = audit_count(session)
    columns = ["organization_name", "country", "website", "contact_name", "contact_email"]
    # The website change is applied, then the new contact fails (it has no name).
    data = csv_bytes(
        [
            {
                "organization_name": "Org",
                "country": "KEN",
                "website": "https://b.org",
                "contact_email": "new@example.org",
            }
        ],
        columns,
    )
    report = run_import(session, data)
    assert [r.row for r in report.rejected_rows] == [2]
    assert report.rejected_rows[0].reason.startswith("contact_name: Field required")
    assert report.organizations.model_dump() == {"created": 0, "updated": 0, "unchanged": 0}
    session.refresh(organization)
    assert organization.website == "https://a.org"
    assert audit_count(session) == audits


def test_conflicting_organisation_rows_reject_the_later_row(session: Session) -> None:
    data = csv_bytes(
        [
            row(website="https://a.example.org", contact_name="A", contact_email="a@example.org"),
            row(
                website="https://b.example.org",
                organization_type="media",
                contact_name="B",
                contact_email="b@example.org",
            ),
            # An empty "always has a value" cell does not disagree; it keeps the value.
            row(
                website="https://a.example.org",
                organization_type="",
                contact_name="C",
                contact_email="c@example.org",
            ),
        ]
    )
    report = run_import(session, data)
    assert [r.row for r in report.rejected_rows] == [3]
    reason = report.rejected_rows[0].reason
    assert reason.startswith("organization_type, website: differs from row 2"), reason
    organization = session.scalars(select(Organization)).one()
    assert organization.website == "https://a.example.org"
    assert sorted(c.email for c in organization.contacts) == ["a@example.org", "c@example.org"]
    assert report.organizations.created == 1
    assert report.contacts.created == 2


def test_later_row_may_add_a_field_the_earlier_rows_left_empty(session: Session) -> None:
    columns = ["organization_name", "country", "organization_acronym", "organization_type"]
    data = csv_bytes(
        [
            {"organization_name": "Org", "country": "KEN", "organization_type": ""},
            {"organization_name": "Org", "country": "ken", "organization_type": "media"},
        ],
        columns,
    )
    report = run_import(session, data)
    assert report.rejected == 0
    organization = session.scalars(select(Organization)).one()
    assert organization.type is OrganizationType.media
    assert report.organizations.model_dump() == {"created": 1, "updated": 0, "unchanged": 0}


def test_duplicate_email_rows_are_rejected(session: Session) -> None:
    data = csv_bytes(
        [
            row(contact_name="A", contact_email="same@example.org"),
            row(contact_name="A again", contact_email="SAME@example.org"),
            row(organization_name="Other", contact_name="A", contact_email="same@example.org"),
        ]
    )
    report = run_import(session, data)
    assert [(r.row, r.reason[:40]) for r in report.rejected_rows] == [
        (3, "contact_email: same@example.org appears ")
    ]
    assert "row 2" in report.rejected_rows[0].reason
    # The same address at another organisation is another contact.
    assert report.contacts.created == 2


def test_missing_required_columns_reject_the_file(session: Session) -> None:
    with pytest.raises(ValidationFailed, match="Missing required column: country") as caught:
        run_import(session, b"organization_name,website\nX,https://x.org\n")
    assert caught.value.field == "file"
    with pytest.raises(ValidationFailed, match="columns: organization_name, country"):
        run_import(session, b"name,iso\nX,KEN\n")
    with pytest.raises(ValidationFailed, match="Unknown column: colour"):
        run_import(session, b"organization_name,country,colour\nX,KEN,red\n")
    with pytest.raises(ValidationFailed, match="need a contact_email"):
        run_import(session, b"organization_name,country,contact_name\nX,KEN,Y\n")
    with pytest.raises(ValidationFailed, match="named twice: country"):
        run_import(session, b"organization_name,country,country\nX,KEN,KEN\n")
    with pytest.raises(ValidationFailed, match="empty"):
        run_import(session, b"")
    assert session.scalar(select(func.count()).select_from(Organization)) == 0


def test_file_limits_and_encodings(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationFailed, match="not UTF-8"):
        run_import(session, "organization_name,country\nCôte,CIV\n".encode("latin-1"))

    # A BOM (Excel's "CSV UTF-8") and semicolons (continental spreadsheets) are fine.
    bom = "\ufefforganization_name,country\nCôte d'Ivoire Coalition,CIV\n".encode()
    assert run_import(session, bom).organizations.created == 1
    semicolons = 'organization_name;country;focus_areas\nRéseau;SEN;"apic;peace"\n'.encode()
    report = run_import(session, semicolons)
    assert report.organizations.created == 1
    reseau = session.scalars(select(Organization).where(Organization.name == "Réseau")).one()
    assert reseau.focus_areas == ["apic", "peace"]

    monkeypatch.setattr(spreadsheet, "MAX_FILE_BYTES", 50)
    with pytest.raises(ValidationFailed, match="larger than"):
        run_import(session, b"organization_name,country\n" + b"X,KEN\n" * 10)


def test_blank_rows_are_skipped_and_short_rows_rejected(session: Session) -> None:
    data = b"organization_name,country,website\nA,KEN,\n,,\n\nB,KEN\nC,KEN,\n"
    report = run_import(session, data)
    assert report.rows == 3
    assert [(r.row, r.reason) for r in report.rejected_rows] == [
        (5, "has 2 cells but the header has 3 columns (a stray separator or quote?)")
    ]
    assert set(session.scalars(select(Organization.name)).all()) == {"A", "C"}


@pytest.mark.usefixtures("fields")
def test_dry_run_changes_nothing_and_reports_the_same(session: Session) -> None:
    existing = make_organization(session, name="Kenyan Section of the ICJ", country="KEN")
    make_contact(session, existing, name="Old", email="old@example.org")
    session.flush()
    before, audits = registry_state(session), audit_count(session)
    data = csv_bytes(
        [
            row(contact_name="Old", contact_email="old@example.org", contact_role="legal"),
            row(organization_name="New", contact_name="N", contact_email="n@example.org"),
            row(country="XYZ"),
        ]
    )

    dry = run_import(session, data, dry_run=True)

    assert dry.dry_run is True
    assert registry_state(session) == before
    assert audit_count(session) == audits
    # The caller's transaction is still usable, and a real run reports the same.
    real = run_import(session, data)
    assert real.model_dump(exclude={"dry_run"}) == dry.model_dump(exclude={"dry_run"})
    assert real.organizations.model_dump() == {"created": 1, "updated": 1, "unchanged": 0}
    assert registry_state(session) != before


@pytest.mark.usefixtures("fields")
def test_importing_the_same_file_twice_changes_nothing(session: Session, writes: list[str]) -> None:
    organization = row(
        focus_areas="apic",
        notes="First line\nsecond line",
        **{"custom:staff": "3.5", "custom:tier": "silver"},
    )
    data = csv_bytes(
        [
            organization
            | {
                "contact_name": "A",
                "contact_email": "a@example.org",
                "contact_consent_at": "2024-03-01T09:30:00+03:00",
                "contact_bounce_status": "hard",
                "contact_hard_bounce_count": "1",
            },
            organization
            | {
                "contact_name": "B",
                "contact_email": "b@example.org",
                "contact_paused_until": "2030-01-01",
            },
            {"organization_name": "Lonely", "country": "FRA"},
        ]
    )
    first = run_import(session, data)
    assert first.rejected == 0
    session.flush()
    audits = audit_count(session)
    writes.clear()

    second = run_import(session, data)

    assert second.rejected == 0
    assert second.organizations.model_dump() == {"created": 0, "updated": 0, "unchanged": 2}
    assert second.contacts.model_dump() == {"created": 0, "updated": 0, "unchanged": 2}
    assert audit_count(session) == audits
    assert writes == []


@pytest.mark.usefixtures("fields")
def test_update_applies_present_columns_and_empty_cells_clear(session: Session) -> None:
    organization = make_organization(
        session,
        name="Kenyan Section of the ICJ",
        country="KEN",
        acronym="KSICJ",
        type="media",
        website="https://old.example.org",
        notes="keep me",
        custom_fields={"staff": 4},
    )
    contact = make_contact(
        session,
        organization,
        email="a@example.org",
        role="legal",
        consent_method="paper form",
    )
    session.flush()
    columns = [
        "organization_name",
        "country",
        "organization_acronym",
        "organization_type",
        "website",
        "custom:staff",
        "contact_email",
        "contact_role",
        "contact_consent_method",
    ]
    data = csv_bytes(
        [
            {
                "organization_name": "KENYAN SECTION OF THE ICJ",
                "country": "ken",
                "organization_acronym": "",
                "organization_type": "",
                "website": "",
                "custom:staff": "",
                "contact_email": "A@EXAMPLE.ORG",
                "contact_role": "",
                "contact_consent_method": "",
            }
        ],
        columns,
    )
    report = run_import(session, data)
    assert report.rejected_rows == []
    assert report.organizations.updated == 1
    assert report.contacts.updated == 1
    session.refresh(organization)
    session.refresh(contact)
    assert organization.name == "KENYAN SECTION OF THE ICJ"  # matched ignoring case
    assert organization.acronym is None
    assert organization.website is None
    assert organization.custom_fields == {}
    assert organization.type is OrganizationType.media  # empty: kept
    assert organization.notes == "keep me"  # column absent: untouched
    assert contact.role is ContactRole.legal
    assert contact.consent_method is None
    assert session.scalar(select(func.count()).select_from(Organization)) == 1


def test_bounce_state_is_restored_but_never_lowered(session: Session) -> None:
    organization = make_organization(session, name="Org", country="KEN")
    contact = make_contact(session, organization, email="a@example.org")
    contact.bounce_status = BounceStatus.hard
    contact.hard_bounce_count = 3
    contact.soft_bounce_count = 1
    session.flush()
    columns = [
        "organization_name",
        "country",
        "contact_email",
        "contact_bounce_status",
        "contact_hard_bounce_count",
        "contact_soft_bounce_count",
    ]
    lower = {"organization_name": "Org", "country": "KEN", "contact_email": "a@example.org"}
    lower |= {
        "contact_bounce_status": "ok",
        "contact_hard_bounce_count": "0",
        "contact_soft_bounce_count": "0",
    }
    report = run_import(session, csv_bytes([lower], columns))
    assert report.contacts.unchanged == 1
    session.refresh(contact)
    assert (contact.bounce_status, contact.hard_bounce_count) == (BounceStatus.hard, 3)

    higher = lower | {"contact_soft_bounce_count": "5"}
    report = run_import(session, csv_bytes([higher], columns))
    assert report.contacts.updated == 1
    session.refresh(contact)
    assert (contact.bounce_status, contact.soft_bounce_count) == (BounceStatus.hard, 5)
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "contact.bounce_state")
    ).one()
    assert entry.before == {"soft_bounce_count": 1}
    assert entry.after == {"soft_bounce_count": 5}


def test_import_only_matches_and_adds_what_the_principal_may_see(session: Session) -> None:
    kenyan = make_organization(session, name="Org", country="KEN", notes="original")
    session.flush()
    europe_lead = Principal(
        actor="test:lead", role=Role.regional_lead, regions=frozenset({"europe"})
    )
    data = b"organization_name,country,notes\nOrg,KEN,changed\nOrg,FRA,new\n"
    report = spreadsheet.import_members(session, europe_lead, data)
    assert [(r.row, r.reason) for r in report.rejected_rows] == [
        (2, "country: Kenya is outside the regions you manage")
    ]
    assert report.organizations.created == 1
    session.refresh(kenyan)
    assert kenyan.notes == "original"


def test_ambiguous_match_is_rejected(session: Session) -> None:
    first = make_organization(session, name="Twin", country="KEN")
    make_organization(session, name="twin", country="KEN")
    report = run_import(session, b"organization_name,country\nTWIN,KEN\n")
    assert report.rejected_rows[0].reason.startswith("organization_name: 2 organisations")
    # Once one of them is archived, the current one is meant.
    first.membership_status = MembershipStatus.archived
    session.flush()
    assert run_import(session, b"organization_name,country\nTWIN,KEN\n").rejected == 0


def test_an_archived_row_matches_only_an_archived_namesake(session: Session) -> None:
    """Several organisations share a name: an archived row never updates a current one,
    nor a current row an archived one."""
    old = make_organization(session, name="Twin", country="KEN", notes="old")
    current = make_organization(session, name="Twin", country="KEN", notes="current")
    old.membership_status = MembershipStatus.archived
    session.flush()
    data = (
        b"organization_name,country,membership_status,notes\n"
        b"Twin,KEN,archived,old\n"
        b"Twin,KEN,active,current\n"
    )
    report = run_import(session, data)
    assert report.rejected_rows == []
    assert report.organizations.model_dump() == {"created": 0, "updated": 0, "unchanged": 2}
    session.refresh(old)
    session.refresh(current)
    assert (old.membership_status, old.notes) == (MembershipStatus.archived, "old")
    assert (current.membership_status, current.notes) == (MembershipStatus.active, "current")

    changed = data.replace(b"archived,old", b"archived,older").replace(b"current\n", b"now\n")
    report = run_import(session, changed)
    assert report.rejected_rows == []
    assert report.organizations.updated == 2
    session.refresh(old)
    session.refresh(current)
    assert (old.membership_status, old.notes) == (MembershipStatus.archived, "older")
    assert (current.membership_status, current.notes) == (MembershipStatus.active, "now")


def test_no_namesake_on_the_rows_side_is_ambiguous(session: Session) -> None:
    first = make_organization(session, name="Twin", country="KEN")
    second = make_organization(session, name="Twin", country="KEN")
    session.flush()
    archived_row = b"organization_name,country,membership_status\nTwin,KEN,archived\n"
    report = run_import(session, archived_row)
    [rejection] = report.rejected_rows
    assert rejection.reason.startswith("organization_name: 2 organisations"), rejection.reason
    assert f"(ids {first.id} active, {second.id} active)" in rejection.reason
    assert "none of them is archived" in rejection.reason
    assert report.organizations.model_dump() == {"created": 0, "updated": 0, "unchanged": 0}

    first.membership_status = second.membership_status = MembershipStatus.archived
    session.flush()
    current_row = b"organization_name,country,membership_status\nTwin,KEN,active\n"
    [rejection] = run_import(session, current_row).rejected_rows
    assert "all of them are archived" in rejection.reason
    [rejection] = run_import(session, archived_row).rejected_rows
    assert "2 of them are archived" in rejection.reason
    session.refresh(first)
    session.refresh(second)
    assert first.membership_status is second.membership_status is MembershipStatus.archived

    # A single organisation of that name is matched whatever the row says.
    only = make_organization(session, name="Single", country="KEN")
    session.flush()
    report = run_import(
        session, b"organization_name,country,membership_status\nSingle,KEN,archived\n"
    )
    assert report.organizations.updated == 1
    session.refresh(only)
    assert only.membership_status is MembershipStatus.archived


# --- export and the round trip -----------------------------------------------------------


def build_registry(session: Session) -> None:
    kenya = make_organization(
        session,
        name="Kenyan Section of the ICJ",
        country="KEN",
        acronym="ICJ-K",
        type="bar_association",
        focus_areas=["victims-rights", "apic"],
        languages=["sw", "en"],
        joined_on="2003-05-01",
        website="https://icj-kenya.org",
        address='Vihiga Road, "Kileleshwa"\nNairobi',
        notes='=HYPERLINK("http://evil")',  # a formula, escaped on export
        custom_fields={"staff": 12, "tier": "gold", "renewal": "2026-01-31", "partner_code": "-7"},
    )
    focal = make_contact(
        session,
        kenya,
        name="Wanjiru Kamau",
        email="w.kamau@example.org",
        role="focal_point",
        language="sw",
        consent_at="2024-03-01T09:30:00.123456+00:00",
        consent_method="signed form, Nairobi",
    )
    focal.bounce_status = BounceStatus.soft
    focal.soft_bounce_count = 2
    focal.last_bounced_at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    make_contact(
        session,
        kenya,
        name="Otieno",
        email="otieno@example.org",
        subscription_status="paused",
        paused_until="2030-01-01",
    )
    gone = make_contact(
        session, kenya, email="gone@example.org", subscription_status="unsubscribed"
    )
    gone.bounce_status = BounceStatus.hard
    gone.hard_bounce_count = 1
    make_organization(
        session,
        name="Coalition ivoirienne pour la CPI",
        country="CIV",
        languages=["fr"],
        membership_status="lapsed",
        custom_fields={"staff": 2.5},
    )  # no contacts
    same_name = make_organization(session, name="Kenyan Section of the ICJ", country="UGA")
    make_contact(session, same_name, email="w.kamau@example.org")  # same email, other org
    archived = make_organization(
        session, name="المنظمة العربية لحقوق الإنسان", country="JOR", languages=["ar", "en"]
    )
    make_contact(session, archived, name="+Ahmad", email="ahmad@example.org")
    archived.membership_status = MembershipStatus.archived
    session.flush()


def empty_registry(session: Session) -> None:
    session.execute(delete(Contact))
    session.execute(delete(OrganizationFocusArea))
    session.execute(delete(OrganizationLanguage))
    session.execute(update(Organization).values(merged_into_id=None))
    session.execute(delete(Organization))
    session.expunge_all()


@pytest.mark.usefixtures("fields")
def test_export_then_import_into_an_empty_registry_reproduces_it(session: Session) -> None:
    build_registry(session)
    before = registry_state(session)
    exported = export_text(session, include_archived=True)
    assert len(export_records(exported)) == 6  # one row per contact, one for CIV

    empty_registry(session)
    assert registry_state(session) == []
    report = run_import(session, exported.encode())

    assert report.rejected_rows == []
    assert report.organizations.model_dump() == {"created": 4, "updated": 0, "unchanged": 0}
    assert report.contacts.model_dump() == {"created": 5, "updated": 0, "unchanged": 0}
    assert registry_state(session) == before
    assert export_text(session, include_archived=True) == exported
    again = run_import(session, exported.encode())
    assert again.organizations.unchanged == 4
    assert again.contacts.unchanged == 5


@pytest.mark.usefixtures("fields")
def test_export_columns_and_cells(session: Session) -> None:
    build_registry(session)
    text = export_text(session)  # archived left out by default
    header = text.splitlines()[0].split(",")
    assert header == [
        *spreadsheet.ORGANIZATION_COLUMNS,
        "custom:partner_code",
        "custom:renewal",
        "custom:staff",
        "custom:tier",
        *spreadsheet.CONTACT_COLUMNS,
    ]
    records = export_records(text)
    assert [r["organization_name"] for r in records] == [
        "Coalition ivoirienne pour la CPI",
        *["Kenyan Section of the ICJ"] * 4,
    ]
    civ, focal = records[0], records[1]
    assert civ["contact_email"] == ""
    assert civ["custom:staff"] == "2.5"
    assert focal["languages"] == "sw;en"  # in order of preference
    assert focal["focus_areas"] == "apic;victims-rights"
    assert focal["notes"] == '\'=HYPERLINK("http://evil")'  # not a live formula
    assert focal["custom:partner_code"] == "'-7"
    assert focal["contact_consent_at"] == "2024-03-01T09:30:00.123456+00:00"
    assert focal["contact_bounce_status"] == "soft"
    assert (focal["contact_soft_bounce_count"], focal["contact_hard_bounce_count"]) == ("2", "0")


@pytest.mark.usefixtures("fields")
def test_values_of_a_deleted_custom_field_export_and_reimport_unchanged(
    session: Session,
) -> None:
    make_organization(session, name="Org", country="KEN", custom_fields={"partner_code": "P1"})
    custom_fields.delete_custom_field(session, STAFF, "partner_code")
    session.flush()
    text = export_text(session)
    assert export_records(text)[0]["custom:partner_code"] == "P1"
    report = run_import(session, text.encode())
    assert report.rejected == 0
    assert report.organizations.unchanged == 1
    changed = text.replace("P1", "P2")
    report = run_import(session, changed.encode())
    assert report.rejected_rows[0].reason.startswith("custom:partner_code: Unknown custom field")


def test_reimporting_an_export_after_a_merge_leaves_the_survivor_as_it_is(
    session: Session,
) -> None:
    merged = make_organization(session, name="Foo Dup", country="KEN", notes="old record")
    make_contact(session, merged, email="a@example.org")
    survivor = make_organization(
        session, name="Foo Dup", country="KEN", website="https://foo.example.org"
    )
    make_contact(session, survivor, email="b@example.org")
    session.flush()
    service.merge_organizations(session, STAFF, merged.id or 0, survivor.id or 0)
    session.flush()
    before = registry_state(session)

    exported = export_text(session, include_archived=True)
    # The merged organisation is left out: its contacts and notes live in the survivor.
    records = export_records(exported)
    assert [(r["membership_status"], r["contact_email"]) for r in records] == [
        ("active", "a@example.org"),
        ("active", "b@example.org"),
    ]
    assert records[0]["website"] == "https://foo.example.org"
    assert "old record" in records[0]["notes"]

    report = run_import(session, exported.encode())
    assert report.rejected_rows == []
    assert report.organizations.model_dump() == {"created": 0, "updated": 0, "unchanged": 1}
    assert report.contacts.model_dump() == {"created": 0, "updated": 0, "unchanged": 2}
    assert registry_state(session) == before
    session.refresh(survivor)
    assert survivor.membership_status is MembershipStatus.active
    assert survivor.website == "https://foo.example.org"

    empty_registry(session)
    report = run_import(session, exported.encode())
    assert report.rejected_rows == []
    assert report.organizations.created == 1
    assert report.contacts.created == 2
    [state] = registry_state(session)
    assert [o for o in before if o["membership_status"] is MembershipStatus.active] == [state]


def test_a_value_the_database_refuses_rejects_only_its_row(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DataError for one row (a value validation let by) rolls that row back and
    rejects it; the rest of the import goes on. The chunk's bulk insert fails first,
    is rolled back whole, and its rows are applied one by one."""
    insert_chunk = spreadsheet._insert_chunk

    def refused_chunk(session: Session, actor: str, rows: list[Any]) -> None:
        insert_chunk(session, actor, rows)  # inserted, then refused: all rolled back
        if any(r.contact and r.contact.values["email"] == "bad@example.org" for r in rows):
            raise DataError("INSERT INTO contacts ...", {}, Exception("value too long\nDETAIL"))

    monkeypatch.setattr(spreadsheet, "_insert_chunk", refused_chunk)
    add_contact = service.add_contact

    def refused(*args: Any, **kwargs: Any) -> Contact:
        contact = add_contact(*args, **kwargs)  # flushed, with its audit entry
        if contact.email == "bad@example.org":
            raise DataError("INSERT INTO contacts ...", {}, Exception("value too long\nDETAIL"))
        return contact

    monkeypatch.setattr(service, "add_contact", refused)
    audits = audit_count(session)
    data = csv_bytes(
        [
            row(organization_name="Bad Org", contact_name="Bad", contact_email="bad@example.org"),
            row(contact_name="Good", contact_email="good@example.org"),
        ]
    )
    report = run_import(session, data)
    assert [(r.row, r.reason) for r in report.rejected_rows] == [
        (2, "the database refused a value of this row: value too long")
    ]
    assert report.organizations.created == 1
    assert report.contacts.created == 1
    assert set(session.scalars(select(Organization.name)).all()) == {"Kenyan Section of the ICJ"}
    assert set(session.scalars(select(Contact.email)).all()) == {"good@example.org"}
    assert audit_count(session) == audits + 2


def test_an_out_of_range_value_on_postgresql_rejects_only_its_row(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same with a real refusal: PostgreSQL's integer column."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite stores integers of any size")
    raise_bounce_state = service.raise_bounce_state

    def overflow(contact: Contact, **state: Any) -> None:
        raise_bounce_state(contact, **state)
        if contact.email == "bad@example.org":
            contact.hard_bounce_count = 2**40

    monkeypatch.setattr(service, "raise_bounce_state", overflow)
    data = csv_bytes(
        [
            row(contact_name="Bad", contact_email="bad@example.org"),
            row(contact_name="Good", contact_email="good@example.org"),
        ]
    )
    report = run_import(session, data)
    [rejection] = report.rejected_rows
    assert rejection.row == 2
    assert rejection.reason.startswith("the database refused a value of this row: "), rejection
    assert "out of range" in rejection.reason
    assert set(session.scalars(select(Contact.email)).all()) == {"good@example.org"}


def test_export_reads_rows_in_its_own_unit_of_work(session: Session) -> None:
    """The API's session closes when the endpoint returns, before the body is written:
    the planned export must not go back to it."""
    organization = make_organization(session, name="Org", country="KEN", focus_areas=["apic"])
    make_contact(session, organization, email="a@example.org")
    session.flush()
    used_after_close: list[str] = []
    with session_scope(writes=False) as request_session:
        export = spreadsheet.export_members(request_session, STAFF, OrganizationFilter())

    def record(state: Any) -> None:
        used_after_close.append(str(state.statement))

    event.listen(request_session, "do_orm_execute", record)
    text = "".join(export.csv_chunks())
    assert used_after_close == []
    [record_] = export_records(text)
    assert (record_["focus_areas"], record_["contact_email"]) == ("apic", "a@example.org")


def test_export_loads_contacts_in_bulk(
    session: Session, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(30):
        organization = make_organization(
            session, name=f"Org {number:02d}", country="KEN", focus_areas=["apic"]
        )
        for person in range(3):
            make_contact(session, organization, email=f"p{person}-{number}@example.org")
    session.flush()
    session.expunge_all()
    monkeypatch.setattr(spreadsheet, "EXPORT_CHUNK_SIZE", 10)  # three chunks
    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(connection, "before_cursor_execute", count)
    try:
        text = export_text(session)
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert len(export_records(text)) == 90
    # Planning (ids, custom field definitions), then per chunk of ten organisations
    # one query each for them, their contacts, focus areas and languages.
    assert len(selects) <= 2 + 3 * 4, selects


# --- API ----------------------------------------------------------------------------------


def test_api_import_with_dry_run_then_for_real(client: TestClient, session: Session) -> None:
    data = csv_bytes([row(contact_name="A", contact_email="a@example.org"), row(country="XYZ")])
    files = {"file": ("members.csv", data, "text/csv")}

    dry = client.post("/api/organizations/import", files=files, data={"dry_run": "true"})
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["dry_run"] is True
    assert body["organizations"] == {"created": 1, "updated": 0, "unchanged": 0}
    assert body["rejected"] == 1
    assert body["rejected_rows"][0]["row"] == 3
    assert body["rejected_rows"][0]["reason"].startswith("country: Unknown country code")
    assert client.get("/api/organizations").json()["total"] == 0
    as_query = client.post("/api/organizations/import?dry_run=true", files=files)
    assert as_query.json()["dry_run"] is True
    assert client.get("/api/organizations").json()["total"] == 0

    real = client.post("/api/organizations/import", files=files)
    assert real.status_code == 200
    assert real.json()["contacts"]["created"] == 1
    assert client.get("/api/organizations").json()["total"] == 1


def test_api_import_rejects_an_unusable_file_with_422(client: TestClient) -> None:
    response = client.post(
        "/api/organizations/import",
        files={"file": ("members.csv", b"name,website\nX,https://x.org\n", "text/csv")},
    )
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", "file"]
    assert "organization_name, country" in detail["msg"]
    missing_file = client.post("/api/organizations/import")
    assert missing_file.status_code == 422


def test_api_export_with_filters(client: TestClient, session: Session) -> None:
    kenya = make_organization(session, name="Kenyan Org", country="KEN")
    make_contact(session, kenya, email="a@example.org")
    make_organization(session, name="French Org", country="FRA")
    archived = make_organization(session, name="Old Kenyan Org", country="KEN")
    archived.membership_status = MembershipStatus.archived
    session.flush()

    response = client.get("/api/organizations/export.csv", params={"country": "KEN"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="members-\d{4}-\d\d-\d\d\.csv"', disposition)
    assert response.text.startswith("\ufefforganization_name,")
    assert [r["organization_name"] for r in export_records(response.text)] == ["Kenyan Org"]

    with_archived = client.get(
        "/api/organizations/export.csv", params={"country": "KEN", "include_archived": "true"}
    )
    names = [r["organization_name"] for r in export_records(with_archived.text)]
    assert names == ["Kenyan Org", "Old Kenyan Org"]
    by_region = client.get("/api/organizations/export.csv", params={"region": "europe"})
    assert [r["organization_name"] for r in export_records(by_region.text)] == ["French Org"]

    assert client.get("/api/organizations/export.csv", params={"country": "XYZ"}).status_code == 422
    assert client.get("/api/organizations/export.csv", params={"colour": "red"}).status_code == 422


# --- CLI ------------------------------------------------------------------------------------


def test_cli_import_dry_run_then_for_real(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes([row(contact_name="A", contact_email="a@example.org")]))
    runner = CliRunner()

    dry = runner.invoke(cli, ["members", "import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output
    assert session.scalar(select(func.count()).select_from(Organization)) == 0

    real = runner.invoke(cli, ["members", "import", str(path)])
    assert real.exit_code == 0, real.output
    assert "organisations" in real.output
    assert "No rows rejected" in real.output
    assert session.scalar(select(func.count()).select_from(Organization)) == 1


def test_cli_import_exit_codes(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes([row(), row(organization_name="B", country="XYZ")]))
    result = CliRunner().invoke(cli, ["members", "import", str(path)])
    assert result.exit_code == 1
    assert "1 row rejected" in result.output
    assert "Unknown country code" in " ".join(result.output.split())
    # The valid row was saved nonetheless.
    assert session.scalar(select(func.count()).select_from(Organization)) == 1

    path.write_bytes(b"name\nX\n")
    unusable = CliRunner().invoke(cli, ["members", "import", str(path)])
    assert unusable.exit_code == 2
    assert "Missing required columns" in " ".join(unusable.output.split())


def test_cli_export_to_stdout_and_to_a_file(session: Session, tmp_path: Path) -> None:
    organization = make_organization(session, name="Kenyan Org", country="KEN")
    make_contact(session, organization, email="a@example.org")
    archived = make_organization(session, name="Archived Org", country="KEN")
    archived.membership_status = MembershipStatus.archived
    session.flush()
    runner = CliRunner()

    result = runner.invoke(cli, ["members", "export"])
    assert result.exit_code == 0, result.output
    names = [r["organization_name"] for r in export_records(result.stdout)]
    assert names == ["Archived Org", "Kenyan Org"]  # the CLI exports everything

    path = tmp_path / "export.csv"
    result = runner.invoke(cli, ["members", "export", "--output", str(path)])
    assert result.exit_code == 0, result.output
    assert "Exported 2 organisations" in result.output
    assert path.read_bytes().decode() == export_text(session, include_archived=True)
