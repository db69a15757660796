"""The links every alert carries, built one way for sends, previews and tests.

Each names the delivery by its token signed for that one purpose (app/tracking/signing.py),
so that a link works only for what it was made for, and only for its own delivery.
"""

from collections.abc import Callable
from functools import lru_cache

from app.campaigns.tokens import RecipientLinks, TrackingLinks
from app.core.settings import get_settings
from app.tracking.signing import Purpose, link_signer


def delivery_links(token: str, *, tracking: bool = True) -> RecipientLinks:
    """Report an action, unsubscribe (also the one-click List-Unsubscribe URL), and
    preferences; and, with `tracking` (for alerts that count clicks or opens), the bases
    of the click and open links."""
    settings = get_settings()
    return _link_maker(settings.secret_key, settings.public_base_url)(token, tracking)


class _LinkMaker:
    """Every message signs five links: the signers and the bases of the URLs are looked
    up once per process, not five times per message (a tenth of a send's Python)."""

    def __init__(self, secret_key: str, public_base_url: str) -> None:
        base = public_base_url.rstrip("/")

        def maker(purpose: Purpose, suffix: str = "") -> Callable[[str], str]:
            prefix = f"{base}/{_PATHS[purpose]}/"
            sign = link_signer(secret_key, purpose).sign
            return lambda token: prefix + sign(token) + suffix

        self._report = maker(Purpose.act)
        self._unsubscribe = maker(Purpose.unsubscribe)
        self._preferences = maker(Purpose.preferences)
        self._click = maker(Purpose.click)
        self._open = maker(Purpose.open, ".gif")

    def __call__(self, token: str, tracking: bool) -> RecipientLinks:
        return RecipientLinks(
            report=self._report(token),
            unsubscribe=self._unsubscribe(token),
            preferences=self._preferences(token),
            tracking=TrackingLinks(click=self._click(token), open_image=self._open(token))
            if tracking
            else None,
        )


# Where each purpose's link leads (app/tracking/router.py).
_PATHS = {
    Purpose.act: "act",
    Purpose.unsubscribe: "unsubscribe",
    Purpose.preferences: "preferences",
    Purpose.click: "r",
    Purpose.open: "o",
}


@lru_cache(maxsize=4)
def _link_maker(secret_key: str, public_base_url: str) -> _LinkMaker:
    return _LinkMaker(secret_key, public_base_url)


# Previews and test sends show where a recipient's links lead, acting for nobody: their
# pages say so and record nothing.
PREVIEW_TOKEN = "preview"  # noqa: S105  (not a secret: it names no delivery)
