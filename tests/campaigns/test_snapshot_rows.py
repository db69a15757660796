"""The launch snapshot's query (`mailed_recipient_rows`) selects exactly the preview's
mailed recipients (`recipient_rows` with no exclusion), in every case of
test_audience.py, with languages, topics and a shared address whose older contact is
excluded: the count shown before launch stays the number of rows written."""

from typing import Any

import pytest
from sqlmodel import Session, select

from app.campaigns.audience import (
    AudienceFilter,
    LanguageChoice,
    mailed_recipient_rows,
    recipient_rows,
)
from app.members.models import BounceStatus, SubscriptionStatus
from tests.campaigns.test_audience import CASES
from tests.factories import STAFF
from tests.world import World

OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("bare", {}),
    ("languages", {"languages": LanguageChoice(("en", "fr", "ar"), "fr")}),
    ("topics", {"topics": ["apic"], "languages": LanguageChoice(("es", "en"), "en")}),
]


def _preview_rows(session: Session, audience: AudienceFilter, **options: Any) -> set[Any]:
    rows = recipient_rows(STAFF, audience, **options).subquery()
    return set(
        session.execute(
            select(rows.c.contact_id, rows.c.email, rows.c.language).where(
                rows.c.exclusion.is_(None)
            )
        ).all()
    )


def _snapshot_rows(session: Session, audience: AudienceFilter, **options: Any) -> set[Any]:
    return set(session.execute(mailed_recipient_rows(STAFF, audience, **options)).all())


@pytest.mark.parametrize("options", [o[1] for o in OPTIONS], ids=[o[0] for o in OPTIONS])
@pytest.mark.parametrize("filters", [case[1] for case in CASES], ids=[case[0] for case in CASES])
def test_the_snapshot_selects_the_previews_mailed_rows(
    session: Session, world: World, filters: dict[str, Any], options: dict[str, Any]
) -> None:
    audience = AudienceFilter.model_validate(filters)
    expected = _preview_rows(session, audience, **options)
    assert _snapshot_rows(session, audience, **options) == expected
    assert len({row.email for row in expected}) == len(expected)  # one row per address


@pytest.mark.parametrize(
    "exclude",
    [
        lambda contact: setattr(contact, "subscription_status", SubscriptionStatus.unsubscribed),
        lambda contact: setattr(contact, "bounce_status", BounceStatus.hard),
    ],
    ids=["unsubscribed", "hard bounce"],
)
def test_a_shared_address_goes_to_the_eligible_contact_when_the_older_is_excluded(
    session: Session, world: World, exclude: Any
) -> None:
    # A and P share an address; A (the older contact) carries it until she is excluded.
    assert world.contacts["A"].email == world.contacts["P"].email
    exclude(world.contacts["A"])
    session.flush()
    rows = _snapshot_rows(session, AudienceFilter())
    ids = {row.contact_id for row in rows}
    assert world.contacts["P"].id in ids
    assert world.contacts["A"].id not in ids
    assert rows == _preview_rows(session, AudienceFilter())
    # Both excluded: the address is not mailed at all.
    world.contacts["P"].subscription_status = SubscriptionStatus.unsubscribed
    session.flush()
    emails = {row.email for row in _snapshot_rows(session, AudienceFilter())}
    assert world.contacts["A"].email not in emails
