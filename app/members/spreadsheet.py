"""Import and export of the member registry as CSV, one row per contact.

Columns
-------

The first row names the columns; their order is free, and only the columns present in
a file are applied. `organization_name` and `country` are required; every other column
may be left out. An organisation with no contacts is one row whose contact columns are
empty. Rows of the same organisation repeat its columns, and must agree on them.

Organisation columns (repeated on each of its contact rows):

===============================  ==========================================================
``organization_name``            name (required). Matched case-insensitively.
``organization_acronym``         acronym
``country``                      ISO 3166-1 alpha-3 code, e.g. ``KEN`` (required)
``organization_type``            ngo, bar_association, academic, faith_based, network,
                                 media, other
``focus_areas``                  tags separated by ``;``, e.g. ``victims-rights;apic``
``languages``                    ISO 639-1 codes separated by ``;``, most used first,
                                 e.g. ``fr;en``
``membership_status``            applicant, active, lapsed, suspended, archived
``joined_on``                    date, ``YYYY-MM-DD``
``website``                      ``http://`` or ``https://`` address
``address``                      postal address (may span several lines)
``notes``                        free text
``custom:<key>``                 one column per custom field an admin defined (and, on
                                 export, per key still stored on an organisation): text,
                                 a number, a date ``YYYY-MM-DD`` or one of the choices
===============================  ==========================================================

Contact columns (empty on the row of an organisation without contacts):

===============================  ==========================================================
``contact_name``                 the person's name
``contact_email``                email; with the organisation, identifies the contact
``contact_role``                 focal_point, director, communications, legal, other
``contact_language``             preferred language, ISO 639-1 code
``contact_subscription_status``  subscribed, unsubscribed, paused
``contact_paused_until``         date, ``YYYY-MM-DD``
``contact_consent_at``           when consent was given, ISO 8601, e.g.
                                 ``2024-03-01T09:30:00+00:00`` (no zone: read as UTC)
``contact_consent_method``       how consent was given, free text
``contact_bounce_status``        ok, soft, hard
``contact_hard_bounce_count``    whole number, 0 to 2147483647
``contact_soft_bounce_count``    whole number, 0 to 2147483647
``contact_last_bounced_at``      when the last bounce happened, ISO 8601
===============================  ==========================================================

Import rules
------------

- An organisation matches an existing one with the same name (ignoring case) and
  country among those the importer may see; otherwise it is created. Where several
  share the name and country, a row whose membership_status is ``archived`` matches
  only an archived one and any other row only one that is not archived; if that leaves
  none or more than one, the row is rejected naming their ids (an archived row never
  updates a current organisation, nor the other way round). A contact matches the
  organisation's contact with the same email (ignoring case); otherwise it is
  created. Nothing is deleted: contacts missing from the file stay.
- An empty cell clears an optional field (acronym, focus areas, joined_on, website,
  address, notes, custom fields, paused_until, consent). Fields that always have a
  value (organisation type, membership status, languages, contact name, role,
  language, subscription status, bounce columns) keep their current value when the
  cell is empty, or take their default on a new record.
- Bounce columns restore the bounce state on a new contact, and may raise it on an
  existing one, but never lower what the registry holds: an import cannot make a
  bounced address mailable again.
- Each row is checked with the same rules as the API. A row that fails is rejected as
  a whole (nothing of it is applied) and reported with its number, counted as a
  spreadsheet does (the header is row 1), and a reason naming the column; the other
  rows are applied. A later row that disagrees with an earlier row of the same
  organisation on an organisation column, or repeats a contact, is rejected; so is a
  row with a value the database refuses.
- Files are UTF-8, with or without a byte-order mark, at most 20 MB. Columns are
  separated by commas; semicolon- or tab-separated files (as some spreadsheet locales
  save them) are recognised from the header row. Unknown columns are an error, so that
  a misspelt column is never silently ignored.
- Importing the same file twice changes nothing the second time.

Export writes the same columns, organisations in name order and contacts in the order
they were added, so that exporting and importing into an empty registry reproduces it.
Organisations merged into another are left out, archived or not asked for: their
contacts, notes and other content now live in the organisation they were merged into,
and a file cannot express a merge. Custom field definitions are not part of the file:
define them before importing. Two organisations with the same name in the same country
cannot be told apart by a file, except an archived one from one that is not, and only
when both already exist: importing into an empty registry creates one of them.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (after
any number of ``'``) is written with a ``'`` in front, so that a spreadsheet does not
run it as a formula; import removes that one ``'`` again.
"""

import csv
import functools
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from types import SimpleNamespace
from typing import IO, Annotated, Any, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import JSON, Dialect, Table, func, insert, text
from sqlalchemy import Enum as SAEnum
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import selectinload
from sqlmodel import Session, SQLModel, col, select

from app.accounts.principal import Principal
from app.accounts.scoping import visible_organizations
from app.core.audit import AuditEntry, changed_fields, record_changes
from app.core.db import refresh_planner_statistics, session_scope
from app.core.errors import DomainError, ValidationFailed
from app.core.types import UTCDateTime, jsonable, utcnow
from app.countries.models import Country
from app.members import service
from app.members.custom_fields import list_custom_fields, validate_custom_values
from app.members.models import (
    REGISTRY_TABLES,
    BounceStatus,
    Contact,
    CustomFieldDefinition,
    MembershipStatus,
    Organization,
    OrganizationFocusArea,
    OrganizationLanguage,
)
from app.members.schemas import (
    ContactCreate,
    ContactUpdate,
    ImportRejection,
    ImportReport,
    OrganizationCreate,
    OrganizationFilter,
    OrganizationUpdate,
)
from app.members.service import BOUNCE_FIELDS

MAX_FILE_BYTES = 20 * 1024 * 1024
EXPORT_CHUNK_SIZE = 500
CUSTOM_PREFIX = "custom:"
REQUIRED_COLUMNS = ("organization_name", "country")

# CSV column -> organisation schema field.
ORGANIZATION_COLUMNS: dict[str, str] = {
    "organization_name": "name",
    "organization_acronym": "acronym",
    "country": "country",
    "organization_type": "type",
    "focus_areas": "focus_areas",
    "languages": "languages",
    "membership_status": "membership_status",
    "joined_on": "joined_on",
    "website": "website",
    "address": "address",
    "notes": "notes",
}
# CSV column -> contact schema field (bounce fields are not in the contact schemas:
# only bounce reports change them, so they have their own model below).
CONTACT_COLUMNS: dict[str, str] = {
    "contact_name": "name",
    "contact_email": "email",
    "contact_role": "role",
    "contact_language": "language",
    "contact_subscription_status": "subscription_status",
    "contact_paused_until": "paused_until",
    "contact_consent_at": "consent_at",
    "contact_consent_method": "consent_method",
    "contact_bounce_status": "bounce_status",
    "contact_hard_bounce_count": "hard_bounce_count",
    "contact_soft_bounce_count": "soft_bounce_count",
    "contact_last_bounced_at": "last_bounced_at",
}
# Fields that always have a value: an empty cell keeps it (or takes the default).
_KEEP_WHEN_EMPTY = {
    "name",  # contact name; an organisation's name is required
    "type",
    "membership_status",
    "languages",
    "role",
    "language",
    "subscription_status",
    *BOUNCE_FIELDS,
}
_LIST_FIELDS = {"focus_areas", "languages"}
# Free text is taken as written; codes, dates and numbers are stripped.
_VERBATIM_FIELDS = {"address", "notes", "consent_method"}

_FORMULA_START = re.compile(r"^'*[=+\-@\t\r]")
_ESCAPED_FORMULA = re.compile(r"^'+[=+\-@\t\r]")


# Counts are stored in a 32-bit integer column.
BounceCount = Annotated[int, Field(ge=0, le=2_147_483_647)]


class _BounceState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bounce_status: BounceStatus | None = None
    hard_bounce_count: BounceCount | None = None
    soft_bounce_count: BounceCount | None = None
    last_bounced_at: AwareDatetime | None = None


_NO_BOUNCE_STATE = _BounceState()


# --- reading the file ------------------------------------------------------------------


@dataclass
class ImportFile:
    columns: list[str]
    # (row number as a spreadsheet counts it, cells by column)
    rows: list[tuple[int, dict[str, str]]]
    rejected: list[ImportRejection] = field(default_factory=list)

    @property
    def custom_keys(self) -> list[str]:
        return [c.removeprefix(CUSTOM_PREFIX) for c in self.columns if c.startswith(CUSTOM_PREFIX)]

    @property
    def has_contacts(self) -> bool:
        return "contact_email" in self.columns


def read_import_file(source: bytes | IO[bytes]) -> ImportFile:
    """Decode and split the file; file-level problems raise ValidationFailed on `file`."""
    data = source if isinstance(source, bytes) else source.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValidationFailed(
            f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: split it into "
            "several files",
            field="file",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationFailed(
            f"The file is not UTF-8 text (byte {error.start + 1}): save it as "
            "'CSV UTF-8' from the spreadsheet",
            field="file",
        ) from None
    if not text.strip():
        raise ValidationFailed("The file is empty", field="file")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = next(reader)
        columns = [name.strip().lower() for name in header]
        _check_columns(columns)
        rows: list[tuple[int, dict[str, str]]] = []
        rejected: list[ImportRejection] = []
        for row_number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # blank rows that spreadsheets leave at the end
            if len(cells) != len(columns):
                rejected.append(
                    ImportRejection(
                        row=row_number,
                        reason=f"has {len(cells)} cells but the header has {len(columns)} "
                        "columns (a stray separator or quote?)",
                    )
                )
                continue
            rows.append(
                (row_number, {c: _unescape(v) for c, v in zip(columns, cells, strict=True)})
            )
    except csv.Error as error:
        raise ValidationFailed(
            f"The file is not readable as CSV near line {reader.line_num}: {error}",
            field="file",
        ) from None
    return ImportFile(columns=columns, rows=rows, rejected=rejected)


def _delimiter(text: str) -> str:
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    counts = {delimiter: header.count(delimiter) for delimiter in (",", ";", "\t")}
    return max(counts, key=lambda delimiter: counts[delimiter])


def _check_columns(columns: list[str]) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ValidationFailed(
            f"Missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
            f"(the first row must name the columns; found: {', '.join(columns) or 'none'})",
            field="file",
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise ValidationFailed(f"Columns named twice: {', '.join(repeated)}", field="file")
    known = set(ORGANIZATION_COLUMNS) | set(CONTACT_COLUMNS)
    unknown = [
        name
        for name in columns
        if name not in known
        and not (name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX))
    ]
    if unknown:
        raise ValidationFailed(
            f"Unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
            "(see docs/import-format.md; custom fields are named custom:<key>)",
            field="file",
        )
    contact_given = [name for name in columns if name in CONTACT_COLUMNS]
    if contact_given and "contact_email" not in columns:
        raise ValidationFailed(
            "Contact columns need a contact_email column: the email identifies the contact",
            field="file",
        )


def _unescape(cell: str) -> str:
    return cell[1:] if _ESCAPED_FORMULA.match(cell) else cell


def _escape(cell: str) -> str:
    return "'" + cell if _FORMULA_START.match(cell) else cell


# --- importing -------------------------------------------------------------------------


class _RowRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


NameKey = tuple[str, str]  # (case-folded name, ISO3)
# The organisation a row is about: its name key and, where several organisations the
# importer may see share that key, whether the row is archived (None otherwise).
OrgKey = tuple[str, str, bool | None]


@dataclass
class _OrganizationRow:
    key: OrgKey
    # schema field (or "custom:<key>") -> validated value, only for the columns given
    values: dict[str, Any]


@dataclass
class _ContactRow:
    email: str
    changes: dict[str, Any]  # validated contact fields given in the row
    bounce: _BounceState


@dataclass
class _PlannedOrganization:
    """A new organisation validated and waiting for its chunk's bulk insert."""

    values: dict[str, Any]  # the organisations table's columns
    focus_areas: list[str]
    languages: list[str]
    id: int | None = None  # once inserted


@dataclass
class _PlannedContact:
    """A new contact of an organisation this import creates, validated, waiting."""

    organization: _PlannedOrganization | int  # the plan, or the id of one already made
    values: dict[str, Any]  # the contacts table's columns, bounce state raised
    created: dict[str, Any]  # the audit snapshot of the contact as created
    bounce_before: dict[str, Any]
    bounce_after: dict[str, Any]
    id: int | None = None

    @property
    def organization_id(self) -> int:
        target = self.organization
        return target if isinstance(target, int) else target.id or 0


@dataclass
class _PlannedRow:
    row_number: int
    organization_row: _OrganizationRow
    contact_row: _ContactRow | None
    organization: _PlannedOrganization | None  # set on the row that creates it
    contact: _PlannedContact | None


@dataclass
class _BounceHolder:
    """The bounce fields of a contact being planned, for `service.raise_bounce_state`."""

    email: str
    bounce_status: BounceStatus = BounceStatus.ok
    hard_bounce_count: int = 0
    soft_bounce_count: int = 0
    last_bounced_at: datetime | None = None


@dataclass
class _Seen:
    """What the file said about one organisation so far, for the agreement check."""

    values: dict[str, tuple[Any, int]] = field(default_factory=dict)  # field -> (value, row)


@dataclass
class _Importer:
    session: Session
    principal: Principal
    file: ImportFile
    definitions: list[CustomFieldDefinition]
    existing: dict[NameKey, list[Organization]]
    report: ImportReport
    seen: dict[OrgKey, _Seen] = field(default_factory=dict)
    # Organisations this import has applied rows to, the fields applied, and the outcome.
    applied: dict[OrgKey, Organization] = field(default_factory=dict)
    applied_fields: dict[OrgKey, set[str]] = field(default_factory=dict)
    outcome: dict[OrgKey, str] = field(default_factory=dict)
    contacts: dict[tuple[int, str], Contact] = field(default_factory=dict)
    contact_rows: dict[tuple[OrgKey, str], int] = field(default_factory=dict)
    # New organisations planned for (or made by) the bulk path, and the rows waiting
    # for the next chunk's insert.
    planned: dict[OrgKey, _PlannedOrganization] = field(default_factory=dict)
    pending: list[_PlannedRow] = field(default_factory=list)
    # Countries the principal may place new organisations in (checked once each).
    placeable: set[str] = field(default_factory=set)
    # The organisation cells of the last row and what they parsed to.
    last_organization: tuple[tuple[str, ...], "_OrganizationRow | _RowRejected"] | None = None
    existing_ids: set[int | None] = field(init=False)
    countries: list[Country] = field(init=False)

    def __post_init__(self) -> None:
        self.existing_ids = {o.id for found in self.existing.values() for o in found}
        # Held so that the services' country look-ups are answered from the session
        # (it keeps only weak references to unchanged objects).
        self.countries = list(
            self.session.scalars(
                select(Country).where(col(Country.iso3).in_(_countries(self.file)))
            )
        )

    def run(self, progress: Callable[[int, int], None] | None) -> None:
        """Rows that create organisations, or add contacts to organisations this import
        creates, are validated here and inserted a chunk at a time (a few statements per
        chunk); any other row (one that matches an existing organisation, or adds a
        field to one this import made) is applied on its own, after the rows before it.
        """
        total = len(self.file.rows)
        reported = 0
        for done, (row_number, cells) in enumerate(self.file.rows, start=1):
            try:
                organization_row, contact_row = self.parse_row(row_number, cells)
                if not self.plan_row(row_number, organization_row, contact_row):
                    self.insert_planned()
                    self.apply_row(organization_row, contact_row)
            except _RowRejected as rejection:
                self.reject(row_number, rejection.reason)
            if len(self.pending) >= BULK_CHUNK_ROWS:
                self.insert_planned()
            if progress is not None and done - len(self.pending) > reported:
                reported = done - len(self.pending)
                progress(reported, total)
        self.insert_planned()
        if progress is not None and total > reported:
            progress(total, total)
        counts = self.report.organizations
        for outcome in self.outcome.values():
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        self.report.rejected_rows.sort(key=lambda rejection: rejection.row)
        self.report.rejected = len(self.report.rejected_rows)

    def reject(self, row_number: int, reason: str) -> None:
        self.report.rejected_rows.append(ImportRejection(row=row_number, reason=reason))

    def parse_row(
        self, row_number: int, cells: dict[str, str]
    ) -> tuple[_OrganizationRow, _ContactRow | None]:
        organization_row = self.parse_organization(cells)
        self.check_agreement(organization_row, row_number)
        contact_row = self.parse_contact(cells) if self.file.has_contacts else None
        if contact_row is not None:
            earlier = self.contact_rows.setdefault(
                (organization_row.key, contact_row.email), row_number
            )
            if earlier != row_number:
                raise _RowRejected(
                    f"contact_email: {contact_row.email} appears already in row {earlier} "
                    "for the same organisation"
                )
        return organization_row, contact_row

    def apply_row(
        self, organization_row: _OrganizationRow, contact_row: _ContactRow | None
    ) -> None:
        savepoint = self.session.begin_nested()
        stage = "organization"
        try:
            organization, organization_outcome = self.apply_organization(organization_row)
            stage = "contact"
            contact_outcome = None
            if contact_row is not None:
                contact, contact_outcome = self.apply_contact(organization, contact_row)
            savepoint.commit()
        except DomainError as error:
            savepoint.rollback()
            raise _RowRejected(_domain_reason(error, stage)) from None
        except IntegrityError:
            savepoint.rollback()
            raise _RowRejected("conflicts with a change made at the same time; retry") from None
        except DataError as error:
            # A value validation let by but the database refuses (out of range, too
            # long...): this row is rejected, the import goes on.
            savepoint.rollback()
            raise _RowRejected(_data_error_reason(error)) from None
        except BaseException:
            savepoint.rollback()
            raise
        key = organization_row.key
        self.applied[key] = organization
        self.applied_fields.setdefault(key, set()).update(organization_row.values)
        previous = self.outcome.get(key)
        if previous is None or (previous == "unchanged" and organization_outcome == "updated"):
            self.outcome[key] = organization_outcome
        if contact_row is not None and contact_outcome is not None:
            self.contacts[(organization.id or 0, contact.email)] = contact
            counts = self.report.contacts
            setattr(counts, contact_outcome, getattr(counts, contact_outcome) + 1)

    # --- the bulk path

    def plan_row(
        self, row_number: int, organization_row: _OrganizationRow, contact_row: _ContactRow | None
    ) -> bool:
        """Validate a row for the bulk path and queue it; False if it must be applied on
        its own. Raises _RowRejected with the same reasons as the row-by-row path."""
        key = organization_row.key
        known = self.planned.get(key) or self.applied.get(key)
        planned: _PlannedOrganization | None = None
        if known is None:
            if self.match(key) is not None:
                return False  # an existing organisation: matched and updated on its own
            planned = self.plan_organization(organization_row)
            target: _PlannedOrganization | int = planned
        else:
            if set(organization_row.values) - self.applied_fields.get(key, set()):
                return False  # a field the earlier rows left out: an update
            if isinstance(known, Organization):
                if known.id in self.existing_ids:
                    return False  # its stored contacts are matched on their own
                target = known.id or 0
            else:
                target = known if known.id is None else known.id
        contact = None if contact_row is None else self.plan_contact(target, contact_row)
        if planned is not None:
            self.planned[key] = planned
            self.applied_fields[key] = set(organization_row.values)
        self.pending.append(
            _PlannedRow(row_number, organization_row, contact_row, planned, contact)
        )
        return True

    def plan_organization(self, row: _OrganizationRow) -> _PlannedOrganization:
        """What `service.create_organization` checks and stores, without a statement."""
        try:
            data = OrganizationCreate(**_schema_values(row.values))
        except ValidationError as error:
            raise _RowRejected(_pydantic_reason(error, ORGANIZATION_COLUMNS)) from None
        try:
            if data.country not in self.placeable:
                service._require_placeable_country(self.session, self.principal, data.country)
                self.placeable.add(data.country)
            custom_fields = validate_custom_values(
                self.definitions,
                data.custom_fields,
                require=data.membership_status is not MembershipStatus.applicant,
            )
        except DomainError as error:
            raise _RowRejected(_domain_reason(error, "organization")) from None
        return _PlannedOrganization(
            values={
                "name": data.name,
                "acronym": data.acronym or None,
                "country_iso3": data.country,
                "type": data.type,
                "membership_status": data.membership_status,
                "joined_on": data.joined_on,
                "website": data.website,
                "address": data.address,
                "notes": data.notes,
                "custom_fields": custom_fields,
                "merged_into_id": None,
            },
            focus_areas=sorted(set(data.focus_areas)),
            languages=list(data.languages),
        )

    def plan_contact(
        self, organization: _PlannedOrganization | int, row: _ContactRow
    ) -> _PlannedContact:
        """What `service.add_contact` and `apply_bounce_state` check and store. The
        organisation is new in this import, so the file's duplicate check is the only
        one its emails need."""
        if "name" not in row.changes:
            try:
                ContactCreate(**row.changes)
            except ValidationError as error:
                raise _RowRejected(_pydantic_reason(error, CONTACT_COLUMNS)) from None
        # The row's values passed ContactUpdate, whose fields have ContactCreate's types:
        # take ContactCreate's defaults for the others rather than check every value
        # (and each email address, the slowest check) a second time.
        values = {**_CONTACT_DEFAULTS, **row.changes}
        values["email"] = values["email"].lower()
        holder = _BounceHolder(email=values["email"])
        before = {name: getattr(holder, name) for name in BOUNCE_FIELDS}
        # The audit snapshot the service takes right after the insert (the organisation's
        # id is filled in once it has one).
        created = service.contact_snapshot(
            cast(
                Contact,
                SimpleNamespace(**values, **before, organization_id=None, topics_opted_out=[]),
            )
        )
        service.raise_bounce_state(cast(Contact, holder), **row.bounce.model_dump())
        after = {name: getattr(holder, name) for name in BOUNCE_FIELDS}
        return _PlannedContact(
            organization=organization,
            values={**values, **after},
            created=created,
            bounce_before=before,
            bounce_after=after,
        )

    def insert_planned(self) -> None:
        """Insert the queued rows in a few statements, in a savepoint. If the database
        refuses any value, the chunk is rolled back and its rows are applied one by
        one, so that only the row it refuses is rejected."""
        rows, self.pending = self.pending, []
        if not rows:
            return
        savepoint = self.session.begin_nested()
        try:
            _insert_chunk(self.session, self.principal.actor, rows)
            savepoint.commit()
        except (DataError, IntegrityError):
            savepoint.rollback()
            self.replay_one_by_one(rows)
            return
        except BaseException:
            savepoint.rollback()
            raise
        counts = self.report.contacts
        for row in rows:
            if row.organization is not None:
                self.outcome.setdefault(row.organization_row.key, "created")
            if row.contact is not None:
                counts.created += 1

    def replay_one_by_one(self, rows: list[_PlannedRow]) -> None:
        for row in rows:
            if row.organization is not None:
                key = row.organization_row.key
                self.planned.pop(key, None)
                self.applied_fields.pop(key, None)
        for row in rows:
            try:
                self.apply_row(row.organization_row, row.contact_row)
            except _RowRejected as rejection:
                self.reject(row.row_number, rejection.reason)

    # --- organisations

    def parse_organization(self, cells: dict[str, str]) -> _OrganizationRow:
        """The row's organisation columns, validated. The rows of one organisation
        usually follow each other and repeat its cells: those are checked once."""
        cells_given = tuple(
            cells[column]
            for column in (*ORGANIZATION_COLUMNS, *self.file.columns)
            if column in cells
            and (column in ORGANIZATION_COLUMNS or column.startswith(CUSTOM_PREFIX))
        )
        if self.last_organization is not None and self.last_organization[0] == cells_given:
            outcome = self.last_organization[1]
        else:
            try:
                outcome = self.validate_organization(cells)
            except _RowRejected as rejection:
                outcome = rejection
            self.last_organization = (cells_given, outcome)
        if isinstance(outcome, _RowRejected):
            raise _RowRejected(outcome.reason)
        return outcome

    def validate_organization(self, cells: dict[str, str]) -> _OrganizationRow:
        values: dict[str, Any] = {}
        for column, name in ORGANIZATION_COLUMNS.items():
            if column not in cells:
                continue
            raw = cells[column]
            text = raw if name in _VERBATIM_FIELDS else raw.strip()
            if not raw.strip():
                if name in ("name", "country"):
                    raise _RowRejected(f"{column}: required")
                if name in _KEEP_WHEN_EMPTY:
                    continue
                values[name] = [] if name in _LIST_FIELDS else None
            elif name in _LIST_FIELDS:
                values[name] = [part.strip() for part in text.split(";") if part.strip()]
            else:
                values[name] = text
        custom = self.custom_cells(cells)
        try:
            parsed = OrganizationUpdate(**values, custom_fields=custom or None)
        except ValidationError as error:
            raise _RowRejected(_pydantic_reason(error, ORGANIZATION_COLUMNS)) from None
        validated = parsed.model_dump(exclude_unset=True, exclude={"custom_fields"})
        for custom_key, value in custom.items():
            validated[CUSTOM_PREFIX + custom_key] = value
        name_key = ((parsed.name or "").casefold(), parsed.country or "")
        archived: bool | None = None
        if len(self.existing.get(name_key, [])) > 1:
            archived = parsed.membership_status is MembershipStatus.archived
        return _OrganizationRow(key=(*name_key, archived), values=validated)

    def custom_cells(self, cells: dict[str, str]) -> dict[str, Any]:
        defined = {definition.key for definition in self.definitions}
        custom: dict[str, Any] = {}
        for key in self.file.custom_keys:
            text = cells[CUSTOM_PREFIX + key].strip()
            if key not in defined and not text:
                continue  # an undefined field left empty: nothing to say about it
            custom[key] = text or None
        return custom

    def check_agreement(self, row: _OrganizationRow, row_number: int) -> None:
        seen = self.seen.setdefault(row.key, _Seen())
        differing: dict[int, list[str]] = {}
        for name, value in row.values.items():
            if name in seen.values and seen.values[name][0] != value:
                differing.setdefault(seen.values[name][1], []).append(_column_of(name))
        if differing:
            earlier, columns = min(differing.items())
            raise _RowRejected(
                f"{', '.join(columns)}: differs from row {earlier} for the same "
                "organisation; rows of one organisation must agree on its columns"
            )
        for name, value in row.values.items():
            seen.values.setdefault(name, (value, row_number))

    def apply_organization(self, row: _OrganizationRow) -> tuple[Organization, str]:
        organization = (
            self.applied.get(row.key) or self.created_in_bulk(row.key) or self.match(row.key)
        )
        if organization is None:
            return self.create_organization(row), "created"
        done = self.applied_fields.get(row.key, set())
        values = {name: value for name, value in row.values.items() if name not in done}
        if not values:
            return organization, "unchanged"
        changes = _schema_values(values)
        if "custom_fields" in changes:
            changes["custom_fields"] = self.changed_custom_values(
                organization, changes["custom_fields"]
            )
        data = OrganizationUpdate(**changes)
        changed = service.apply_organization_changes(
            self.session, self.principal, organization, data.model_dump(exclude_unset=True)
        )
        return organization, "updated" if changed else "unchanged"

    def created_in_bulk(self, key: OrgKey) -> Organization | None:
        planned = self.planned.get(key)
        if planned is None or planned.id is None:
            return None
        return self.session.get_one(Organization, planned.id)

    def changed_custom_values(
        self, organization: Organization, values: dict[str, Any]
    ) -> dict[str, Any]:
        """Leave out values equal to what is stored for a field no longer defined, so that
        re-importing an export does not trip over values kept from a deleted field."""
        defined = {definition.key for definition in self.definitions}
        return {
            key: value
            for key, value in values.items()
            if key in defined
            or _format_custom(organization.custom_fields.get(key)) != (value or "")
        }

    def create_organization(self, row: _OrganizationRow) -> Organization:
        changes = _schema_values(row.values)
        try:
            data = OrganizationCreate(**changes)
        except ValidationError as error:
            raise _RowRejected(_pydantic_reason(error, ORGANIZATION_COLUMNS)) from None
        organization = service.create_organization(self.session, self.principal, data)
        return organization

    def match(self, key: OrgKey) -> Organization | None:
        """The one existing organisation the row is about, or None for a new one.

        Where several share the name and country, an archived row matches only an
        archived one and any other row only one that is not archived: an export that
        holds both an old, archived namesake and the current organisation re-imports
        without either overwriting the other.
        """
        name, country, archived = key
        candidates = self.existing.get((name, country), [])
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        same_side = [
            o for o in candidates if (o.membership_status is MembershipStatus.archived) == archived
        ]
        if len(same_side) == 1:
            return same_side[0]
        ids = ", ".join(f"{o.id} {o.membership_status.value}" for o in candidates)
        if same_side:
            state = "archived" if archived else "not archived"
            why = f"{len(same_side)} of them are {state}, so the row cannot tell which it is"
        elif archived:
            why = "none of them is archived, and an archived row only updates an archived one"
        else:
            why = (
                "all of them are archived, and a row not marked archived only updates one "
                "that is not"
            )
        raise _RowRejected(
            f"organization_name: {len(candidates)} organisations have this name in "
            f"{country} (ids {ids}); {why}: merge or rename them first"
        )

    # --- contacts

    def parse_contact(self, cells: dict[str, str]) -> _ContactRow | None:
        given = {c: cells[c] for c in CONTACT_COLUMNS if c in cells}
        if not any(value.strip() for value in given.values()):
            return None
        if not given["contact_email"].strip():
            raise _RowRejected("contact_email: required on a row with contact details")
        values: dict[str, Any] = {}
        for column, raw in given.items():
            name = CONTACT_COLUMNS[column]
            if not raw.strip():
                if name in _KEEP_WHEN_EMPTY:
                    continue
                values[name] = None
            else:
                values[name] = raw if name in _VERBATIM_FIELDS else raw.strip()
        bounce_values = {name: values.pop(name) for name in BOUNCE_FIELDS if name in values}
        if isinstance(values.get("consent_at"), str):
            values["consent_at"] = _assume_utc(values["consent_at"], "contact_consent_at")
        if isinstance(bounce_values.get("last_bounced_at"), str):
            bounce_values["last_bounced_at"] = _assume_utc(
                bounce_values["last_bounced_at"], "contact_last_bounced_at"
            )
        try:
            parsed = ContactUpdate(**values)
            bounce = _BounceState(**bounce_values) if bounce_values else _NO_BOUNCE_STATE
        except ValidationError as error:
            raise _RowRejected(_pydantic_reason(error, CONTACT_COLUMNS)) from None
        changes = parsed.model_dump(exclude_unset=True)
        changes["email"] = changes["email"].lower()
        return _ContactRow(email=changes["email"], changes=changes, bounce=bounce)

    def apply_contact(self, organization: Organization, row: _ContactRow) -> tuple[Contact, str]:
        contact = self.contacts.get((organization.id or 0, row.email))
        if contact is None:
            contact = self.stored_contact(organization, row.email)
        if contact is None:
            try:
                data = ContactCreate(**row.changes)
            except ValidationError as error:
                raise _RowRejected(_pydantic_reason(error, CONTACT_COLUMNS)) from None
            contact = service.add_contact(self.session, self.principal, organization, data)
            apply_bounce_state(self.session, self.principal, contact, row.bounce)
            return contact, "created"
        # The email is the match key, equal to the stored one: leave it out.
        changes = {name: value for name, value in row.changes.items() if name != "email"}
        changed = service.apply_contact_changes(self.session, self.principal, contact, changes)
        changed = apply_bounce_state(self.session, self.principal, contact, row.bounce) or changed
        return contact, "updated" if changed else "unchanged"

    def stored_contact(self, organization: Organization, email: str) -> Contact | None:
        """A contact the organisation had before this import (contacts it creates are
        in `self.contacts`; the relationship does not see them)."""
        if organization.id not in self.existing_ids:
            return None
        return next((c for c in organization.contacts if c.email == email), None)


def apply_bounce_state(
    session: Session, principal: Principal, contact: Contact, state: _BounceState
) -> bool:
    """Take the file's bounce state where it is worse than the stored one; never lower it."""
    before = {name: getattr(contact, name) for name in BOUNCE_FIELDS}
    service.raise_bounce_state(contact, **state.model_dump())
    changed = record_changes(
        session,
        actor=principal.actor,
        action="contact.bounce_state",
        target_type="contact",
        target_id=contact.id,
        organization_id=contact.organization_id,
        before=before,
        after={name: getattr(contact, name) for name in BOUNCE_FIELDS},
        note="import",
    )
    if changed:
        contact.updated_at = utcnow()
        session.flush()
    return changed


# Imports that add at least this many rows refresh the planner's statistics.
BULK_ROWS = 1000
# Rows validated before each bulk insert: a few statements per chunk instead of about
# six per row (savepoint, organisation, its tags, email check, contact, audit).
BULK_CHUNK_ROWS = 1000


# What ContactCreate fills in for a column the file leaves out (the topics have no
# column: a new contact opts out of none).
_CONTACT_DEFAULTS = {
    name: info.default
    for name, info in ContactCreate.model_fields.items()
    if not info.is_required() and name != "topics_opted_out"
}


def _table(model: type[SQLModel]) -> Table:
    return model.metadata.tables[str(model.__tablename__)]


def _insert_with_ids(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows with ids chosen first, and return the ids in order.

    An INSERT ... RETURNING cannot be used: on SQLite, SQLAlchemy sends it one row at a
    time to keep the ids in order; on PostgreSQL, a thousand-row INSERT spends more time
    in the driver parsing its placeholders than in the server. PostgreSQL's ids come
    from the table's sequence; SQLite's follow the largest one, as SQLite's own would
    (its one writer holds the lock; a clash would be an IntegrityError, and the chunk
    would then be applied row by row).
    """
    if session.get_bind().dialect.name == "postgresql":
        ids = list(
            session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"table": table.name, "n": len(rows)},
            ).all()
        )
    else:
        largest = session.scalar(select(func.max(table.c.id))) or 0
        ids = list(range(largest + 1, largest + 1 + len(rows)))
    _insert_rows(session, table, [{**row, "id": id_} for row, id_ in zip(rows, ids, strict=True)])
    return ids


def _insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys, in one statement.

    On PostgreSQL with COPY (ids drawn from the sequence beforehand): an executemany
    costs some 70 us of Python per row in SQLAlchemy's and the driver's parameter
    handling, a multi-row INSERT ... RETURNING as much again parsing its placeholders;
    COPY a few. The database's refusals come back as SQLAlchemy's DataError and
    IntegrityError, as from any other statement.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    import psycopg
    from psycopg import sql

    columns = list(rows[0])
    dialect = session.get_bind().dialect
    converters = [_copy_converter(table.c[name].type, dialect) for name in columns]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(
                    [
                        value if convert is None else convert(value)
                        for convert, value in zip(
                            converters, [row[name] for name in columns], strict=True
                        )
                    ]
                )
    except psycopg.DataError as error:
        raise DataError(str(statement.as_string(driver)), None, error) from error
    except psycopg.IntegrityError as error:
        raise IntegrityError(str(statement.as_string(driver)), None, error) from error


def _unchanged(value: Any) -> Any:
    return value


def _json_default(value: Any) -> Any:
    """Dates and enums as `jsonable` writes them (a StrEnum is a str already)."""
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_json_dumps = functools.partial(json.dumps, default=_json_default)


def _copy_converter(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """What COPY needs instead of SQLAlchemy's bind processing, by column type."""
    from psycopg.types.json import Json

    if isinstance(column_type, JSON):
        # None too: SQLAlchemy's JSON type stores it as JSON null.
        return lambda value: Json(value, dumps=_json_dumps)
    if isinstance(column_type, SAEnum):
        return lambda member: None if member is None else member.value
    if isinstance(column_type, UTCDateTime):
        return lambda moment: column_type.process_bind_param(moment, dialect)
    return None


def _insert_chunk(session: Session, actor: str, rows: list[_PlannedRow]) -> None:
    """Organisations, their tags and languages, contacts and the audit log of a chunk,
    each in one statement (core inserts: the ORM would split a batch wherever the set
    of None values changes). The audit entries are those the services write."""
    now = utcnow()
    organizations = [row.organization for row in rows if row.organization is not None]
    if organizations:
        ids = _insert_with_ids(
            session,
            _table(Organization),
            [{**o.values, "created_at": now, "updated_at": now} for o in organizations],
        )
        for organization, organization_id in zip(organizations, ids, strict=True):
            organization.id = organization_id
        focus_rows = [
            {"organization_id": o.id, "focus_area": tag}
            for o in organizations
            for tag in o.focus_areas
        ]
        language_rows = [
            {"organization_id": o.id, "position": position, "language": language}
            for o in organizations
            for position, language in enumerate(o.languages)
        ]
        _insert_rows(session, _table(OrganizationFocusArea), focus_rows)
        _insert_rows(session, _table(OrganizationLanguage), language_rows)
    contacts = [row.contact for row in rows if row.contact is not None]
    if contacts:
        ids = _insert_with_ids(
            session,
            _table(Contact),
            [
                {
                    **c.values,
                    "organization_id": c.organization_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for c in contacts
            ],
        )
        for contact, contact_id in zip(contacts, ids, strict=True):
            contact.id = contact_id
    entries: list[dict[str, Any]] = []
    # What the audit log stores: COPY's JSON dumps dates and enums itself (see
    # `_copy_converter`), faster than converting every snapshot first.
    as_json = _unchanged if session.get_bind().dialect.name == "postgresql" else jsonable

    def entry(
        action: str,
        target_type: str,
        target_id: int | None,
        organization_id: int | None,
        before: dict[str, Any] | None,
        after: dict[str, Any],
        note: str | None = None,
    ) -> None:
        entries.append(
            {
                "at": now,
                "actor": actor,
                "action": action,
                "target_type": target_type,
                "target_id": str(target_id),
                "organization_id": organization_id,
                "before": None if before is None else as_json(before),
                "after": as_json(after),
                "note": note,
            }
        )

    for row in rows:
        planned = row.organization
        if planned is not None:
            view = SimpleNamespace(
                **planned.values, focus_areas=planned.focus_areas, languages=planned.languages
            )
            entry(
                "organization.create",
                "organization",
                planned.id,
                planned.id,
                None,
                service.snapshot(cast(Organization, view)),
            )
        made = row.contact
        if made is not None:
            organization_id = made.organization_id
            entry(
                "contact.create",
                "contact",
                made.id,
                organization_id,
                None,
                {**made.created, "organization_id": organization_id},
            )
            old, new = changed_fields(made.bounce_before, made.bounce_after)
            if new:
                entry(
                    "contact.bounce_state",
                    "contact",
                    made.id,
                    organization_id,
                    old,
                    new,
                    "import",
                )
    _insert_rows(session, _table(AuditEntry), entries)


def import_members(
    session: Session,
    principal: Principal,
    source: bytes | IO[bytes],
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import a member CSV (format in the module docstring); see the report for rejects.

    Runs inside a savepoint, so a dry run (or an unexpected error) leaves the caller's
    transaction as it was and usable.
    """
    import_file = read_import_file(source)
    report = ImportReport(dry_run=dry_run, rows=len(import_file.rows) + len(import_file.rejected))
    report.rejected_rows.extend(import_file.rejected)
    savepoint = session.begin_nested()
    try:
        importer = _Importer(
            session=session,
            principal=principal,
            file=import_file,
            definitions=list_custom_fields(session),
            existing=_existing_organizations(session, principal, import_file),
            report=report,
        )
        importer.run(progress)
    except BaseException:
        savepoint.rollback()
        raise
    if dry_run:
        savepoint.rollback()
        return report
    savepoint.commit()
    if report.organizations.created + report.contacts.created >= BULK_ROWS:
        refresh_planner_statistics(session, REGISTRY_TABLES)
    return report


def _existing_organizations(
    session: Session, principal: Principal, import_file: ImportFile
) -> dict[NameKey, list[Organization]]:
    """The organisations a file may match, in one query (with their contacts in another).

    Names are compared case-folded in Python: SQLite's lower() only folds ASCII.
    """
    countries = _countries(import_file)
    query = (
        service.filtered_organizations(
            session, principal, OrganizationFilter(include_archived=True)
        )
        .where(col(Organization.country_iso3).in_(countries))
        .order_by(col(Organization.id))
    )
    if import_file.has_contacts:
        query = query.options(selectinload(Organization.contacts))  # type: ignore[arg-type]
    found: dict[NameKey, list[Organization]] = {}
    for organization in session.scalars(query):
        key = (organization.name.casefold(), organization.country_iso3)
        found.setdefault(key, []).append(organization)
    return found


def _countries(import_file: ImportFile) -> set[str]:
    return {cells["country"].strip().upper() for _, cells in import_file.rows}


def _schema_values(values: dict[str, Any]) -> dict[str, Any]:
    """Flat validated values (custom fields as `custom:<key>`) back into schema shape."""
    result: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name, value in values.items():
        if name.startswith(CUSTOM_PREFIX):
            custom[name.removeprefix(CUSTOM_PREFIX)] = value
        else:
            result[name] = value
    if custom:
        result["custom_fields"] = custom
    return result


def _assume_utc(text: str, column: str) -> Any:
    """Spreadsheets drop time zones: a date-time without one is read as UTC. Others are
    turned into UTC, as stored, so that the same instant is not taken for a change."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text  # let the schema report it
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise _RowRejected(f"{column}: is out of the range of dates that can be stored") from None


def _data_error_reason(error: DataError) -> str:
    """The driver's first line says what was refused (e.g. "integer out of range")."""
    detail = str(error.orig).strip().splitlines()
    return "the database refused a value of this row" + (f": {detail[0]}" if detail else "")


def _column_of(name: str) -> str:
    if name.startswith(CUSTOM_PREFIX):
        return name
    return next(column for column, field in ORGANIZATION_COLUMNS.items() if field == name)


def _pydantic_reason(error: ValidationError, columns: dict[str, str]) -> str:
    by_field = {name: column for column, name in columns.items()}
    reasons = []
    for item in error.errors():
        location = item["loc"]
        name = str(location[0]) if location else ""
        if name == "custom_fields" and len(location) > 1:
            column = CUSTOM_PREFIX + str(location[1])
        else:
            column = by_field.get(name, name)
            if len(location) > 1 and isinstance(location[1], int):
                column += f" (item {location[1] + 1})"
        message = str(item["msg"]).removeprefix("Value error, ")
        reasons.append(f"{column}: {message}")
    return "; ".join(reasons)


def _domain_reason(error: DomainError, stage: str) -> str:
    name = error.field_name or ""
    if name.startswith("custom_fields."):
        column = CUSTOM_PREFIX + name.removeprefix("custom_fields.")
    elif stage == "contact":
        column = next((c for c, f in CONTACT_COLUMNS.items() if f == name), "contact")
    else:
        column = next(
            (c for c, f in ORGANIZATION_COLUMNS.items() if f == name), name or "organization"
        )
    return f"{column}: {error.message}"


# --- exporting -------------------------------------------------------------------------


@dataclass
class MemberExport:
    """An export planned (filters checked, rows counted) but not yet written.

    It holds ids and keys only, not the session that planned it: the rows are read in
    units of work of their own while the file is written, which for a download is after
    the request's session has closed.
    """

    principal: Principal
    organization_ids: list[int]
    custom_keys: list[str]
    filename: str

    @property
    def columns(self) -> list[str]:
        return [
            *ORGANIZATION_COLUMNS,
            *(CUSTOM_PREFIX + key for key in self.custom_keys),
            *CONTACT_COLUMNS,
        ]

    def organizations(self) -> Iterator[Organization]:
        """In name order, a chunk at a time: one query for the organisations, and one
        each for their contacts, focus areas and languages."""
        for start in range(0, len(self.organization_ids), EXPORT_CHUNK_SIZE):
            yield from self.load_chunk(self.organization_ids[start : start + EXPORT_CHUNK_SIZE])

    def load_chunk(self, chunk: list[int]) -> list[Organization]:
        """Read in a short read-only unit of work, ended before the rows are written,
        so that no connection is held while a slow client reads the download. The
        organisations come back detached, with everything the rows need loaded."""
        with session_scope(writes=False) as session:
            loaded = {
                organization.id: organization
                for organization in session.scalars(
                    visible_organizations(self.principal)
                    .where(
                        col(Organization.id).in_(chunk),
                        col(Organization.merged_into_id).is_(None),
                    )
                    # The export has no column for topic opt-outs: do not load them.
                    .options(
                        selectinload(Organization.contacts).lazyload(  # type: ignore[arg-type]
                            Contact.topic_opt_out_rows  # type: ignore[arg-type]
                        )
                    )
                )
            }
        return [loaded[organization_id] for organization_id in chunk if organization_id in loaded]

    def rows(self) -> Iterator[list[str]]:
        for organization in self.organizations():
            yield from self.organization_rows(organization)

    def organization_rows(self, organization: Organization) -> Iterator[list[str]]:
        organization_cells = [
            organization.name,
            organization.acronym or "",
            organization.country_iso3,
            organization.type.value,
            ";".join(organization.focus_areas),
            ";".join(organization.languages),
            organization.membership_status.value,
            _format(organization.joined_on),
            organization.website or "",
            organization.address or "",
            organization.notes or "",
            *(_format_custom(organization.custom_fields.get(key)) for key in self.custom_keys),
        ]
        if not organization.contacts:
            yield [*organization_cells, *([""] * len(CONTACT_COLUMNS))]
        for contact in organization.contacts:
            yield [
                *organization_cells,
                contact.name,
                contact.email,
                contact.role.value,
                contact.language,
                contact.subscription_status.value,
                _format(contact.paused_until),
                _format(contact.consent_at),
                contact.consent_method or "",
                contact.bounce_status.value,
                str(contact.hard_bounce_count),
                str(contact.soft_bounce_count),
                _format(contact.last_bounced_at),
            ]

    def csv_chunks(
        self, *, bom: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> Iterator[str]:
        """The CSV text, a few hundred rows at a time. `bom` helps Excel see UTF-8."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if bom:
            buffer.write("\ufeff")
        writer.writerow(self.columns)
        total = len(self.organization_ids)
        for done, organization in enumerate(self.organizations(), start=1):
            for row in self.organization_rows(organization):
                writer.writerow([_escape(cell) for cell in row])
            if progress is not None:
                progress(done, total)
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()


def export_members(
    session: Session, principal: Principal, filters: OrganizationFilter
) -> MemberExport:
    """Plan an export of the organisations matching `filters` that `principal` may see.

    Filters are checked here, before any byte is written, so that a bad filter is a
    clear error and not a broken download. `session` is used only here; the rows are
    read later in units of work of their own (see `MemberExport`). Organisations merged
    into another are left out: their contacts and content live in the survivor.
    """
    query = service.filtered_organizations(session, principal, filters).where(
        col(Organization.merged_into_id).is_(None)
    )
    ordered = session.execute(
        query.with_only_columns(col(Organization.id), col(Organization.custom_fields)).order_by(
            col(Organization.name), col(Organization.id)
        )
    ).all()
    custom_keys = {definition.key for definition in list_custom_fields(session)}
    for _, values in ordered:
        custom_keys.update(values or {})
    return MemberExport(
        principal=principal,
        organization_ids=[organization_id for organization_id, _ in ordered],
        custom_keys=sorted(custom_keys),
        filename=f"members-{date.today().isoformat()}.csv",
    )


def _format(value: date | datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _format_custom(value: Any) -> str:
    """Numbers as Python writes them (shortest form that reads back equal)."""
    return "" if value is None else str(value)
