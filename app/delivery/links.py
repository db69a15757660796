"""The links every alert carries, built one way for sends, previews and tests.

Each names the delivery by its token signed for that one purpose (app/tracking/signing.py),
so that a link works only for what it was made for, and only for its own delivery.
"""

from app.campaigns.tokens import RecipientLinks, TrackingLinks
from app.core.settings import get_settings
from app.tracking.signing import Purpose, sign


def delivery_links(token: str, *, tracking: bool = True) -> RecipientLinks:
    """Report an action, unsubscribe (also the one-click List-Unsubscribe URL), and
    preferences; and, with `tracking` (for alerts that count clicks or opens), the bases
    of the click and open links."""
    base = get_settings().public_base_url.rstrip("/")
    return RecipientLinks(
        report=f"{base}/act/{sign(token, Purpose.act)}",
        unsubscribe=f"{base}/unsubscribe/{sign(token, Purpose.unsubscribe)}",
        preferences=f"{base}/preferences/{sign(token, Purpose.preferences)}",
        tracking=TrackingLinks(
            click=f"{base}/r/{sign(token, Purpose.click)}",
            open_image=f"{base}/o/{sign(token, Purpose.open)}.gif",
        )
        if tracking
        else None,
    )


# Previews and test sends show where a recipient's links lead, acting for nobody: their
# pages say so and record nothing.
PREVIEW_TOKEN = "preview"  # noqa: S105  (not a secret: it names no delivery)
