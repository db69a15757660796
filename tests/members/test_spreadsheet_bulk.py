"""The importer's bulk path (issue 8, item 8): new organisations and their contacts are
validated row by row but written a chunk at a time, with the audit log the services
write, and the same report and rejections as row by row."""

from typing import Any

import pytest
from sqlalchemy import Connection, event, func, select, text
from sqlmodel import Session

from app.core.audit import AuditEntry
from app.core.types import jsonable
from app.members import service, spreadsheet
from app.members.models import Contact, Organization
from app.members.schemas import OrganizationCreate
from tests.factories import STAFF
from tests.members.test_spreadsheet import COLUMNS, csv_bytes, row, run_import


def many_rows(organizations: int, contacts: int = 2, prefix: str = "Member") -> bytes:
    rows = [
        row(
            organization_name=f"{prefix} {number:03d}",
            focus_areas="apic;victims-rights" if number % 2 else "",
            contact_name=f"Person {person}",
            contact_email=f"p{person}@member{number}.example.org",
            contact_consent_at="2024-03-01T09:30:00+00:00",
        )
        for number in range(organizations)
        for person in range(contacts)
    ]
    return csv_bytes(rows)


def statements_for(session: Session, connection: Connection, data: bytes) -> int:
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        report = run_import(session, data)
    finally:
        event.remove(connection, "before_cursor_execute", record)
    assert report.rejected == 0
    return len(sent)


def test_new_rows_take_a_few_statements_per_chunk_not_per_row(
    session: Session, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spreadsheet, "BULK_ROWS", 10**9)  # no ANALYZE in the count
    few = statements_for(session, connection, many_rows(2, prefix="Few"))
    many = statements_for(session, connection, many_rows(150))  # 300 rows, one chunk
    assert session.scalar(select(func.count()).select_from(Organization)) == 152
    assert session.scalar(select(func.count()).select_from(Contact)) == 304
    # Row by row, 300 rows took about 1,800 statements (six a row).
    assert many <= few + 5, (few, many)


def test_chunks_are_inserted_as_they_fill(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spreadsheet, "BULK_CHUNK_ROWS", 7)
    progress: list[tuple[int, int]] = []
    report = spreadsheet.import_members(
        session, STAFF, many_rows(20), progress=lambda done, total: progress.append((done, total))
    )
    assert report.organizations.created == 20
    assert report.contacts.created == 40
    assert progress[-1] == (40, 40)
    assert [done for done, _ in progress] == sorted({done for done, _ in progress})
    assert len(progress) >= 40 // 7  # the bar moves with each chunk


def test_bulk_audit_entries_are_those_the_services_write(session: Session) -> None:
    reference = service.create_organization(
        session, STAFF, OrganizationCreate(name="Reference", country="FRA")
    )
    session.flush()
    data = csv_bytes(
        [
            row(focus_areas="victims-rights;apic", contact_name="A", contact_email="A@example.org"),
            row(
                focus_areas="victims-rights;apic",
                contact_name="B",
                contact_email="b@example.org",
                contact_bounce_status="hard",
                contact_hard_bounce_count="2",
            ),
        ]
    )
    report = run_import(session, data)
    assert report.rejected == 0
    session.expire_all()
    organization = session.scalars(
        select(Organization).where(Organization.name == "Kenyan Section of the ICJ")
    ).one()
    a, b = sorted(organization.contacts, key=lambda contact: contact.email)
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.organization_id == organization.id)
        .order_by(AuditEntry.id)
    ).all()
    assert [(e.action, e.target_id, e.note) for e in entries] == [
        ("organization.create", str(organization.id), None),
        ("contact.create", str(a.id), None),
        ("contact.create", str(b.id), None),
        ("contact.bounce_state", str(b.id), "import"),
    ]
    assert entries[0].after == jsonable(service.snapshot(organization))
    assert entries[1].after == jsonable(service.contact_snapshot(a))
    # Created as the file's other columns say, then the bounce state raised.
    assert entries[2].after == {
        **jsonable(service.contact_snapshot(b)),
        "bounce_status": "ok",
        "hard_bounce_count": 0,
    }
    assert (entries[3].before, entries[3].after) == (
        {"bounce_status": "ok", "hard_bounce_count": 0},
        {"bounce_status": "hard", "hard_bounce_count": 2},
    )
    assert {e.actor for e in entries} == {STAFF.actor}
    # An empty `before` is stored as the services store it (JSON null, not SQL NULL).
    stored_as = session.execute(
        text("SELECT target_id, before IS NULL FROM audit_entries WHERE action LIKE '%.create'")
    ).all()
    assert {is_null for _, is_null in stored_as} == {
        is_null for target, is_null in stored_as if target == str(reference.id)
    }


def test_a_later_row_adding_a_field_updates_an_organisation_made_in_bulk(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row the bulk path cannot take (it changes an organisation made earlier in the
    same import) is applied on its own after the rows before it are written."""
    monkeypatch.setattr(spreadsheet, "BULK_CHUNK_ROWS", 2)
    columns = ["organization_name", "country", "website", "contact_name", "contact_email"]
    data = csv_bytes(
        [
            {
                "organization_name": "Org",
                "country": "KEN",
                "website": "",
                "contact_name": "A",
                "contact_email": "a@example.org",
            },
            {
                "organization_name": "Other",
                "country": "FRA",
                "website": "",
                "contact_name": "B",
                "contact_email": "b@example.org",
            },
            {
                "organization_name": "Org",
                "country": "KEN",
                "website": "",
                "contact_name": "C",
                "contact_email": "c@example.org",
            },
        ],
        columns,
    )
    first = run_import(session, data)
    assert first.rejected == 0
    assert first.organizations.model_dump() == {"created": 2, "updated": 0, "unchanged": 0}
    assert first.contacts.created == 3
    organization = session.scalars(select(Organization).where(Organization.name == "Org")).one()
    assert sorted(c.email for c in organization.contacts) == ["a@example.org", "c@example.org"]


def test_rows_of_existing_and_new_organisations_mixed(session: Session) -> None:
    data = csv_bytes(
        [
            row(organization_name="Old", contact_name="A", contact_email="a@example.org"),
            row(organization_name="New", contact_name="B", contact_email="b@example.org"),
        ]
    )
    assert run_import(session, data).rejected == 0
    mixed = csv_bytes(
        [
            row(organization_name="Old", contact_name="A2", contact_email="a@example.org"),
            row(organization_name="Newer", contact_name="C", contact_email="c@example.org"),
            row(organization_name="Old", contact_name="D", contact_email="d@example.org"),
            row(organization_name="Newer", contact_name="E", contact_email="bad@"),
            row(organization_name="Newer", contact_name="F", contact_email="f@example.org"),
        ]
    )
    report = run_import(session, mixed)
    assert [(r.row, r.reason.split(":")[0]) for r in report.rejected_rows] == [(5, "contact_email")]
    assert report.organizations.model_dump() == {"created": 1, "updated": 0, "unchanged": 1}
    assert report.contacts.model_dump() == {"created": 3, "updated": 1, "unchanged": 0}
    newer = session.scalars(select(Organization).where(Organization.name == "Newer")).one()
    assert sorted(c.email for c in newer.contacts) == ["c@example.org", "f@example.org"]


def test_columns_cover_the_file_used_here() -> None:
    assert set(COLUMNS) >= {"organization_name", "contact_email", "contact_bounce_status"}
