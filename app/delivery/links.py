"""The links every alert carries, built one way for sends, previews and tests."""

from app.campaigns.tokens import RecipientLinks
from app.core.settings import get_settings


def delivery_links(token: str) -> RecipientLinks:
    """Report an action, unsubscribe (also the one-click List-Unsubscribe URL), and
    preferences, each naming the delivery by its unguessable token."""
    base = get_settings().public_base_url.rstrip("/")
    return RecipientLinks(
        report=f"{base}/act/{token}",
        unsubscribe=f"{base}/unsubscribe/{token}",
        preferences=f"{base}/preferences/{token}",
    )


# Previews and test sends show where a recipient's links lead, acting for nobody.
PREVIEW_TOKEN = "preview"  # noqa: S105  (not a secret: it names no delivery)
