from sqlmodel import Session, func, select

from app.delivery.models import Suppression, SuppressionReason
from app.delivery.suppressions import is_suppressed, suppress, suppression_hash


def test_an_address_is_kept_only_as_a_hash_and_matched_whatever_its_case(
    session: Session,
) -> None:
    suppress(session, " Someone@Example.org ", SuppressionReason.erased)
    assert is_suppressed(session, "someone@example.org")
    assert not is_suppressed(session, "someone.else@example.org")
    stored = session.scalars(select(Suppression)).one()
    assert stored.email_hash == suppression_hash("someone@example.org")
    assert "example" not in stored.email_hash


def test_suppressing_twice_keeps_the_first_reason(session: Session) -> None:
    suppress(session, "x@example.org", SuppressionReason.hard_bounce)
    suppress(session, "X@example.org", SuppressionReason.erased)
    assert session.scalar(select(func.count()).select_from(Suppression)) == 1
    assert session.scalars(select(Suppression)).one().reason is SuppressionReason.hard_bounce
