"""Who an alert goes to: the audience filter, the recipients it selects, and their counts.

One query decides the recipients (`recipient_rows`); the preview counts it and the launch
will copy it into delivery rows, so the count shown before launch is the number of
messages a launch at that moment creates.

- Lists mean "any of"; fields combine with "and"; an empty filter is every eligible
  contact. Treaty-status fields apply to the organisation's country.
- Organisations that are archived (deleted or merged away) never receive alerts;
  `membership_status` defaults to active members only.
- An address that appears under several organisations is one recipient: the first
  eligible contact (lowest id) carries it.
- Contacts matched but not mailed are counted under the first reason that applies, in
  this order: suppressed (the address is on the suppression list), bounced (hard
  bounce), unsubscribed, paused (until a date not yet reached, or indefinitely),
  topic_opt_out (opted out of one of the alert's topics). An address is counted as
  excluded only when none of its contacts is eligible.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import Integer, and_, case, exists, false, func, literal, not_, or_, select, text
from sqlalchemy.sql import Select, Subquery
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from app.accounts.principal import Principal
from app.accounts.scoping import visible_organizations
from app.core.db import among_ids_parameter
from app.countries.models import (
    ApicStatus,
    Country,
    ImplementingLegislation,
    KampalaStatus,
    RomeStatuteStatus,
)
from app.countries.regions import RegionSlug
from app.countries.service import require_country
from app.delivery.suppressions import suppressed_address
from app.members.models import (
    BounceStatus,
    Contact,
    ContactRole,
    ContactTopicOptOut,
    MembershipStatus,
    Organization,
    OrganizationFocusArea,
    OrganizationLanguage,
    OrganizationType,
    SubscriptionStatus,
)
from app.members.schemas import CountryCode, FocusArea, LanguageCode, unique_values

_MAX_VALUES = 300  # more countries than exist; bounds what one request can ask for


def _no_archived(values: list[MembershipStatus]) -> list[MembershipStatus]:
    if MembershipStatus.archived in values:
        raise ValueError("archived organisations never receive alerts")
    return values


class AudienceFilter(BaseModel):
    """Who gets an alert. Every field is a list of accepted values ("any of")."""

    model_config = ConfigDict(extra="forbid")

    regions: Annotated[list[RegionSlug], AfterValidator(unique_values)] = Field(
        default_factory=list, max_length=5
    )
    countries: Annotated[list[CountryCode], AfterValidator(unique_values)] = Field(
        default_factory=list, max_length=_MAX_VALUES, description="ISO 3166-1 alpha-3 codes"
    )
    rome_statute_status: Annotated[list[RomeStatuteStatus], AfterValidator(unique_values)] = Field(
        default_factory=list
    )
    apic_status: Annotated[list[ApicStatus], AfterValidator(unique_values)] = Field(
        default_factory=list
    )
    kampala_status: Annotated[list[KampalaStatus], AfterValidator(unique_values)] = Field(
        default_factory=list
    )
    implementing_legislation: Annotated[
        list[ImplementingLegislation], AfterValidator(unique_values)
    ] = Field(default_factory=list)
    organization_types: Annotated[list[OrganizationType], AfterValidator(unique_values)] = Field(
        default_factory=list
    )
    focus_areas: Annotated[list[FocusArea], AfterValidator(unique_values)] = Field(
        default_factory=list, max_length=_MAX_VALUES
    )
    membership_status: Annotated[
        list[MembershipStatus], AfterValidator(unique_values), AfterValidator(_no_archived)
    ] = Field(
        default_factory=lambda: [MembershipStatus.active],
        description="Defaults to active members only; an empty list means any status",
    )
    languages: Annotated[list[LanguageCode], AfterValidator(unique_values)] = Field(
        default_factory=list,
        max_length=_MAX_VALUES,
        description="The contact's preferred language (ISO 639-1)",
    )
    contact_roles: Annotated[list[ContactRole], AfterValidator(unique_values)] = Field(
        default_factory=list
    )


# The filter fields that test the country's treaty status, each with its column.
_STATUS_FIELDS: dict[str, Any] = {
    "rome_statute_status": Country.rome_statute_status,
    "apic_status": Country.apic_status,
    "kampala_status": Country.kampala_status,
    "implementing_legislation": Country.implementing_legislation,
}
UNKNOWN = "unknown"


class ExclusionReason(StrEnum):
    """Why a matched contact is not mailed, in the order the reasons are checked."""

    suppressed = "suppressed"
    bounced = "bounced"
    unsubscribed = "unsubscribed"
    paused = "paused"
    topic_opt_out = "topic_opt_out"


@dataclass(frozen=True)
class LanguageChoice:
    """The variants an alert has: each recipient gets her preferred language if there is
    a variant in it, else her organisation's first working language that has one, else
    the default. Without variants (a bare filter), everyone counts in her own language."""

    languages: tuple[str, ...] = ()
    default: str | None = None


def check_filter(session: Session, audience: AudienceFilter, *, location: str = "body") -> None:
    """Refuse country codes the registry does not know (the rest is checked by the schema)."""
    for code in audience.countries:
        require_country(session, code, field="countries", location=location)


def recipient_rows(
    principal: Principal,
    audience: AudienceFilter,
    *,
    topics: Sequence[str] = (),
    languages: LanguageChoice = LanguageChoice(),
    today: date | None = None,
) -> Select[Any]:
    """One row per distinct address the filter matches, within what the principal may see:
    contact_id, email, organization_id, country_iso3, region_slug, language, via_unknown
    (matched only through an `unknown` status) and exclusion (None when it is mailed)."""
    matched = _matched(principal, audience, topics, languages, today or date.today())
    columns = [
        matched.c.contact_id,
        matched.c.email,
        matched.c.organization_id,
        matched.c.country_iso3,
        matched.c.region_slug,
        matched.c.language,
        matched.c.via_unknown,
    ]
    # The exclusion is tested once per contact, as a rank (0: mailed, then the reasons in
    # order) that both orders the window and names the reason. Ordering by the reason's
    # name instead made PostgreSQL inline the whole test, suppression hash included, in
    # each branch of the ranking: six times per contact.
    ranked = select(
        *columns,
        matched.c.exclusion_rank,
        func.row_number()
        .over(
            partition_by=matched.c.email,
            # Eligible contacts first; among the excluded, the strongest reason first.
            order_by=(matched.c.exclusion_rank, matched.c.contact_id),
        )
        .label("address_rank"),
    ).subquery("ranked")
    return select(
        *(ranked.c[column.name] for column in columns),
        _reason_of_rank(ranked.c.exclusion_rank).label("exclusion"),
    ).where(ranked.c.address_rank == 1)


def mailed_recipient_rows(
    principal: Principal,
    audience: AudienceFilter,
    *,
    topics: Sequence[str] = (),
    languages: LanguageChoice = LanguageChoice(),
    today: date | None = None,
) -> Select[Any]:
    """The rows of `recipient_rows` whose exclusion is None (contact_id, email, language),
    for the launch snapshot, computed without ranking the excluded contacts.

    The same recipients: an address is mailed when one of its matched contacts is
    eligible, and then by the eligible contact with the lowest id; which excluded
    contact an unmailed address would be counted under does not matter here. Leaving
    the ranking of reasons out keeps the exclusion test (with its suppression lookup)
    evaluated once per contact instead of once per reason, and sorts only eligible
    contacts, which at a million recipients is most of the snapshot's SELECT."""
    matched = _matched(
        principal, audience, topics, languages, today or date.today(), eligible_only=True
    )
    eligible = select(
        matched.c.contact_id,
        matched.c.email,
        matched.c.language,
        func.row_number()
        .over(partition_by=matched.c.email, order_by=matched.c.contact_id)
        .label("address_rank"),
    ).subquery("eligible")
    return select(eligible.c.contact_id, eligible.c.email, eligible.c.language).where(
        eligible.c.address_rank == 1
    )


def _matched(
    principal: Principal,
    audience: AudienceFilter,
    topics: Sequence[str],
    languages: LanguageChoice,
    today: date,
    *,
    eligible_only: bool = False,
) -> Subquery:
    """Every contact the filter matches within the principal's scope, with its exclusion
    reason (None when it may be mailed): one row per contact, addresses not yet merged.

    `eligible_only` keeps the contacts with no reason, tested one condition at a time:
    PostgreSQL estimates each from its statistics, where it took "the CASE of the
    reasons is NULL" for 1 contact in 200 and planned the launch snapshot for 41
    recipients instead of 8,000 (a nested loop over every country: half its time)."""
    tests = _exclusion_tests(topics, today) if eligible_only else []
    # Starting from the principal's organisations keeps the scoping in one place.
    return (
        visible_organizations(principal)
        .join(Contact, col(Contact.organization_id) == col(Organization.id))
        .join(Country, col(Country.iso3) == col(Organization.country_iso3))
        .with_only_columns(
            col(Contact.id).label("contact_id"),
            col(Contact.email).label("email"),
            col(Contact.organization_id).label("organization_id"),
            col(Organization.country_iso3).label("country_iso3"),
            col(Country.region_slug).label("region_slug"),
            chosen_language(languages).label("language"),
            _via_unknown(audience).label("via_unknown"),
            _exclusion_reason(topics, today).label("exclusion"),
            # Only the columns a query reads are computed: this or the one above.
            _exclusion_rank(topics, today).label("exclusion_rank"),
        )
        .where(
            col(Organization.membership_status) != MembershipStatus.archived,
            *_filter_conditions(audience),
            # The columns the tests read are NOT NULL: NOT is "the test is not true".
            *(not_(test) for test in tests),
        )
        .subquery("matched")
    )


def _filter_conditions(audience: AudienceFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if audience.regions:
        conditions.append(col(Country.region_slug).in_(audience.regions))
    if audience.countries:
        conditions.append(col(Organization.country_iso3).in_(audience.countries))
    for name, column in _STATUS_FIELDS.items():
        values = getattr(audience, name)
        if values:
            conditions.append(col(column).in_(values))
    if audience.organization_types:
        conditions.append(col(Organization.type).in_(audience.organization_types))
    if audience.membership_status:
        conditions.append(col(Organization.membership_status).in_(audience.membership_status))
    if audience.focus_areas:
        conditions.append(
            exists().where(
                col(OrganizationFocusArea.organization_id) == col(Organization.id),
                col(OrganizationFocusArea.focus_area).in_(audience.focus_areas),
            )
        )
    if audience.languages:
        conditions.append(col(Contact.language).in_(audience.languages))
    if audience.contact_roles:
        conditions.append(col(Contact.role).in_(audience.contact_roles))
    return conditions


def _via_unknown(audience: AudienceFilter) -> ColumnElement[Any]:
    """True when the country passed a status test only because its value is `unknown`."""
    tests = [
        col(column) == UNKNOWN
        for name, column in _STATUS_FIELDS.items()
        if UNKNOWN in getattr(audience, name)
    ]
    return or_(*tests) if tests else false()


def _exclusion_tests(topics: Sequence[str], today: date) -> list[ColumnElement[bool]]:
    """The test of each ExclusionReason, in its order."""
    opted_out = (
        exists().where(
            col(ContactTopicOptOut.contact_id) == col(Contact.id),
            col(ContactTopicOptOut.topic).in_(topics),
        )
        if topics
        else false()
    )
    still_paused = and_(
        col(Contact.subscription_status) == SubscriptionStatus.paused,
        or_(col(Contact.paused_until).is_(None), col(Contact.paused_until) > today),
    )
    return [
        suppressed_address(col(Contact.email)),
        col(Contact.bounce_status) == BounceStatus.hard,
        col(Contact.subscription_status) == SubscriptionStatus.unsubscribed,
        still_paused,
        opted_out,
    ]


def _exclusion_reason(topics: Sequence[str], today: date) -> ColumnElement[Any]:
    return case(
        *(
            (test, literal(reason.value))
            for test, reason in zip(_exclusion_tests(topics, today), ExclusionReason, strict=True)
        ),
        else_=None,
    )


def _exclusion_rank(topics: Sequence[str], today: date) -> ColumnElement[Any]:
    """0 for a contact who may be mailed, else the position of the first reason (1: suppressed)."""
    return case(
        *(
            (test, literal(rank, Integer))
            for rank, test in enumerate(_exclusion_tests(topics, today), 1)
        ),
        else_=literal(0, Integer),
    )


def _reason_of_rank(rank: ColumnElement[Any]) -> ColumnElement[Any]:
    return case(
        *(
            (rank == position, literal(reason.value))
            for position, reason in enumerate(ExclusionReason, 1)
        ),
        else_=None,
    )


def chosen_language(choice: LanguageChoice) -> ColumnElement[Any]:
    if not choice.languages:
        return cast(ColumnElement[Any], col(Contact.language))
    default = choice.default or choice.languages[0]
    first_working_language = (
        select(col(OrganizationLanguage.language))
        .where(
            col(OrganizationLanguage.organization_id) == col(Contact.organization_id),
            col(OrganizationLanguage.language).in_(choice.languages),
        )
        .order_by(col(OrganizationLanguage.position))
        .limit(1)
        .scalar_subquery()
    )
    return case(
        (col(Contact.language).in_(choice.languages), col(Contact.language)),
        else_=func.coalesce(first_working_language, default),
    )


# --- the preview --------------------------------------------------------------------


class ExcludedCounts(BaseModel):
    unsubscribed: int = 0
    paused: int = 0
    topic_opt_out: int = 0
    bounced: int = 0
    suppressed: int = 0


class AudiencePreview(BaseModel):
    """How many messages a launch at this moment would create, and who is left out."""

    total: int = Field(description="Distinct addresses that would be mailed")
    by_region: dict[str, int]
    by_language: dict[str, int]
    by_country: dict[str, int] = Field(description="Keyed by ISO 3166-1 alpha-3 code")
    matched_via_unknown: int = Field(
        description="Of the total, recipients matched only through an `unknown` treaty status"
    )
    excluded: ExcludedCounts


@dataclass
class _Tally:
    total: int = 0
    via_unknown: int = 0
    by_region: Counter[str] = field(default_factory=Counter)
    by_language: Counter[str] = field(default_factory=Counter)
    by_country: Counter[str] = field(default_factory=Counter)
    excluded: Counter[str] = field(default_factory=Counter)


def audience_preview(
    session: Session,
    principal: Principal,
    audience: AudienceFilter,
    *,
    topics: Sequence[str] = (),
    languages: LanguageChoice = LanguageChoice(),
) -> AudiencePreview:
    check_filter(session, audience)
    _settings_for_counting(session)
    recipients = recipient_rows(principal, audience, topics=topics, languages=languages).subquery()
    # Grouped in the database: a few hundred groups, however many recipients.
    groups = session.execute(
        select(
            recipients.c.region_slug,
            recipients.c.country_iso3,
            recipients.c.language,
            recipients.c.exclusion,
            recipients.c.via_unknown,
            func.count(),
        ).group_by(
            recipients.c.region_slug,
            recipients.c.country_iso3,
            recipients.c.language,
            recipients.c.exclusion,
            recipients.c.via_unknown,
        )
    ).all()
    tally = _Tally()
    for region, country, language, exclusion, via_unknown, count in groups:
        if exclusion is not None:
            tally.excluded[exclusion] += count
            continue
        tally.total += count
        tally.via_unknown += count if via_unknown else 0
        tally.by_region[region] += count
        tally.by_country[country] += count
        tally.by_language[language] += count
    return AudiencePreview(
        total=tally.total,
        by_region=_sorted(tally.by_region),
        by_language=_sorted(tally.by_language),
        by_country=_sorted(tally.by_country),
        matched_via_unknown=tally.via_unknown,
        excluded=ExcludedCounts(**tally.excluded),
    )


def _settings_for_counting(session: Session) -> None:
    """PostgreSQL settings for the preview's one big query, for this transaction only.

    - No JIT: the plan over a million contacts is estimated costly enough to be
      compiled, and compiling it took longer (9 s) than running it.
    - Memory to sort the matched contacts by address (for merging addresses) without
      spilling to disk: 4 MB (the default) sorts a million in temporary files.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))


def _sorted(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items()))


def regions_reached(session: Session, audience: AudienceFilter) -> list[str]:
    """The regions an audience can reach at all (for regional leads' scoping)."""
    query = select(col(Country.region_slug)).distinct()
    if audience.regions:
        query = query.where(col(Country.region_slug).in_(audience.regions))
    if audience.countries:
        query = query.where(col(Country.iso3).in_(audience.countries))
    return sorted(session.scalars(query).all())


def current_exclusions(
    session: Session, contact_ids: Sequence[int], *, topics: Sequence[str] = ()
) -> dict[int, str]:
    """Why each of these contacts may not be mailed now (those absent may be): the same
    rule as the audience, checked again just before sending."""
    if not contact_ids:
        return {}
    statement = _exclusions_statement(session.get_bind().dialect.name, tuple(topics), date.today())
    rows = session.connection().execute(statement, {"exclusion_ids": list(contact_ids)}).all()
    return {contact_id: excluded for contact_id, excluded in rows if excluded is not None}


@lru_cache(maxsize=64)
def _exclusions_statement(dialect: str, topics: tuple[str, ...], today: date) -> Select[Any]:
    """Built once per alert and day, not per batch: the send path checks every batch,
    and building the rule anew cost more than running it."""
    return select(col(Contact.id), _exclusion_reason(topics, today)).where(
        among_ids_parameter(dialect, col(Contact.id), "exclusion_ids")
    )
