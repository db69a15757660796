"""Reading the outbox: what the product has sent, or (embedded default) kept to show."""

from sqlmodel import Session, col, select

from app.delivery.models import OutboxMessage


def recent_messages(session: Session, *, limit: int = 50) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
            .limit(limit)
        ).all()
    )
