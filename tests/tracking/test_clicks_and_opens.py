"""/r/… and /o/…: where a click may lead, what is recorded, and what counts as a
scanner (each rule on its own)."""

import logging
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.campaigns.models import Campaign
from app.core.types import utcnow
from app.delivery.links import PREVIEW_TOKEN
from app.delivery.models import Delivery
from app.members.models import Contact
from app.tracking.models import ResponseEvent, ResponseKind
from app.tracking.router import RedactTrackingLinks
from app.tracking.signing import Purpose, sign
from tests.tracking.conftest import (
    ENGLISH_LINKS,
    FRENCH_LINKS,
    link,
    make_campaign,
    make_delivery,
)

GMAIL_IMAGE_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
FULLWIDTH_ONE = "\uff11"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


def events(session: Session, delivery: Delivery, kind: ResponseKind) -> list[ResponseEvent]:
    session.expire_all()
    return list(
        session.scalars(
            select(ResponseEvent)
            .where(col(ResponseEvent.delivery_id) == delivery.id, col(ResponseEvent.kind) == kind)
            .order_by(col(ResponseEvent.id))
        )
    )


def click(
    public: TestClient, delivery: Delivery, number: int | str, *, user_agent: str = BROWSER
) -> httpx.Response:
    return public.get(
        f"{link(delivery, Purpose.click)}/{number}", headers={"User-Agent": user_agent}
    )


# --- Where a click leads ------------------------------------------------------------------


def test_a_click_goes_to_the_link_written_in_the_recipients_language(
    public: TestClient, session: Session, campaign: Campaign, contact: Contact
) -> None:
    english = make_delivery(session, campaign, contact)
    french = make_delivery(
        session, campaign, make_contact_like(session, contact, "fr@example.org"), language="fr"
    )

    first = click(public, english, 1)
    age_clicks(session, english, timedelta(minutes=3))  # both links at once: a scanner
    second = click(public, english, 2)
    french_first = click(public, french, 1)

    assert first.status_code == 303
    assert first.headers["location"] == ENGLISH_LINKS[0]
    assert second.headers["location"] == ENGLISH_LINKS[1]
    assert french_first.headers["location"] == FRENCH_LINKS[0]
    assert "no-store" in first.headers["cache-control"]
    assert first.headers["referrer-policy"] == "no-referrer"
    recorded = events(session, english, ResponseKind.clicked)
    assert [(e.link_number, e.automated) for e in recorded] == [(1, False), (2, False)]
    assert recorded[0].campaign_id == campaign.id
    assert recorded[0].contact_id == contact.id


def age_clicks(session: Session, delivery: Delivery, by: timedelta) -> None:
    for event in events(session, delivery, ResponseKind.clicked):
        event.occurred_at -= by
    session.flush()


def make_contact_like(session: Session, contact: Contact, email: str) -> Contact:
    from tests.factories import make_contact

    return make_contact(session, contact.organization, email=email, language="fr")


@pytest.mark.parametrize(
    "suffix",
    [
        "1?url=https://evil.example.org",
        "1?next=https%3A%2F%2Fevil.example.org&to=//evil.example.org",
        "1/https://evil.example.org",
        "1%2F..%2F..%2Fhttps%3A%2F%2Fevil.example.org",
        quote("https://evil.example.org", safe=""),
        "https:%2F%2Fevil.example.org",
    ],
)
def test_no_parameter_chooses_the_destination(
    public: TestClient, session: Session, delivery: Delivery, suffix: str
) -> None:
    response = public.get(
        f"{link(delivery, Purpose.click)}/{suffix}", headers={"User-Agent": BROWSER}
    )

    assert "evil" not in response.headers.get("location", "")
    if response.status_code == 303:  # extra query parameters are ignored, not obeyed
        assert response.headers["location"] == ENGLISH_LINKS[0]
    else:
        assert response.status_code == 404


@pytest.mark.parametrize(
    "number", ["0", "3", "4", "-1", "99999", "1.0", FULLWIDTH_ONE, "01x", "", " 1"]
)
def test_a_link_number_out_of_range_is_not_found(
    public: TestClient, session: Session, delivery: Delivery, number: str
) -> None:
    response = click(public, delivery, quote(number))

    assert response.status_code == 404
    assert "location" not in response.headers
    assert events(session, delivery, ResponseKind.clicked) == []


def test_invalid_links_all_get_the_same_page(
    public: TestClient, session: Session, delivery: Delivery, campaign: Campaign, contact: Contact
) -> None:
    signed = sign(delivery.token, Purpose.click)
    other = make_delivery(session, campaign, make_contact_like(session, contact, "o@example.org"))
    token, signature = signed.split(".")
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    attempts = [
        f"/r/{token}.{flipped}/1",  # a flipped character
        f"/r/{sign(delivery.token, Purpose.unsubscribe)}/1",  # another purpose
        f"/r/{other.token}.{signature}/1",  # another delivery's token with this signature
        f"/r/{token}/1",  # no signature
        f"/r/{sign('f' * 32, Purpose.click)}/1",  # well signed, but no such delivery
        f"/r/{sign(PREVIEW_TOKEN, Purpose.click)}/1",  # previews count nothing
        f"/o/{sign(delivery.token, Purpose.click)}.gif",
        f"/o/{token}.gif",
    ]
    responses = [public.get(path, headers={"User-Agent": BROWSER}) for path in attempts]

    assert {response.status_code for response in responses} == {404}
    assert len({response.text for response in responses}) == 1
    assert delivery.token not in responses[0].text
    assert "This link is not valid" in responses[0].text
    session.expire_all()
    assert session.scalars(select(ResponseEvent)).all() == []


def test_without_click_tracking_nothing_is_recorded_but_the_link_still_works(
    public: TestClient, session: Session, contact: Contact
) -> None:
    delivery = make_delivery(session, make_campaign(session, track_clicks=False), contact)

    response = click(public, delivery, 2)

    assert response.headers["location"] == ENGLISH_LINKS[1]
    assert events(session, delivery, ResponseKind.clicked) == []


# --- Scanners --------------------------------------------------------------------------------


def test_head_requests_are_automated_and_never_human(
    public: TestClient, session: Session, delivery: Delivery
) -> None:
    response = public.head(f"{link(delivery, Purpose.click)}/1", headers={"User-Agent": BROWSER})

    assert response.status_code == 303
    [event] = events(session, delivery, ResponseKind.clicked)
    assert (event.automated, event.automated_reason) == (True, "HEAD request")


@pytest.mark.parametrize(
    ("user_agent", "reason"),
    [
        ("Mozilla/5.0 (compatible; Barracuda Sentinel (EE))", "scanner: Barracuda"),
        ("Mozilla/5.0 (Windows NT 10.0) Mimecast URL Protect", "scanner: Mimecast"),
        ("Mozilla/5.0 (compatible; BingPreview/1.0b)", "scanner: Microsoft link preview"),
        ("python-requests/2.32.3", "scanner: script (python-requests)"),
        (GMAIL_IMAGE_PROXY, "scanner: Google image proxy"),
        ("", "no user agent"),
    ],
)
def test_known_scanners_are_marked_by_their_user_agent(
    public: TestClient, session: Session, delivery: Delivery, user_agent: str, reason: str
) -> None:
    response = click(public, delivery, 1, user_agent=user_agent)

    assert response.status_code == 303
    [event] = events(session, delivery, ResponseKind.clicked)
    assert (event.automated, event.automated_reason) == (True, reason)
    # The reason names the product; the user agent itself is not kept anywhere.
    assert event.detail is None


def test_a_click_right_after_sending_is_a_scanner(
    public: TestClient, session: Session, campaign: Campaign, contact: Contact
) -> None:
    just_sent = make_delivery(session, campaign, contact, sent_at=utcnow() - timedelta(seconds=3))
    not_yet_recorded = make_delivery(
        session, campaign, make_contact_like(session, contact, "n@example.org"), sent_at=None
    )
    not_yet_recorded.sent_at = None
    session.flush()

    click(public, just_sent, 1)
    click(public, not_yet_recorded, 1)

    [early] = events(session, just_sent, ResponseKind.clicked)
    [before] = events(session, not_yet_recorded, ResponseKind.clicked)
    assert (early.automated, early.automated_reason) == (True, "within 10 s of sending")
    assert (before.automated, before.automated_reason) == (True, "before the send was recorded")


def test_every_link_at_once_marks_all_of_them_afterwards(
    public: TestClient, session: Session, delivery: Delivery
) -> None:
    click(public, delivery, 1)
    assert [e.automated for e in events(session, delivery, ResponseKind.clicked)] == [False]

    click(public, delivery, 2)

    marked = events(session, delivery, ResponseKind.clicked)
    assert [(e.link_number, e.automated) for e in marked] == [(1, True), (2, True)]
    assert {e.automated_reason for e in marked} == {"every link within 2 s"}


def test_links_followed_further_apart_are_a_persons(
    public: TestClient, session: Session, delivery: Delivery
) -> None:
    click(public, delivery, 1)
    age_clicks(session, delivery, timedelta(minutes=5))  # read, then came back for more

    click(public, delivery, 2)
    click(public, delivery, 2)

    assert [e.automated for e in events(session, delivery, ResponseKind.clicked)] == [False] * 3


# --- Opens -----------------------------------------------------------------------------------


def test_an_open_is_counted_with_a_tiny_uncached_image(
    public: TestClient, session: Session, delivery: Delivery
) -> None:
    response = public.get(link(delivery, Purpose.open) + ".gif", headers={"User-Agent": BROWSER})

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert len(response.content) < 100
    assert "no-store" in response.headers["cache-control"]
    [event] = events(session, delivery, ResponseKind.opened)
    assert not event.automated


def test_opens_are_recorded_only_when_the_campaign_counts_them(
    public: TestClient, session: Session, contact: Contact
) -> None:
    delivery = make_delivery(session, make_campaign(session, track_opens=False), contact)

    response = public.get(link(delivery, Purpose.open) + ".gif", headers={"User-Agent": BROWSER})

    assert response.status_code == 200
    assert events(session, delivery, ResponseKind.opened) == []


def test_image_proxies_open_for_people_but_scanners_and_head_do_not(
    public: TestClient, session: Session, delivery: Delivery
) -> None:
    path = link(delivery, Purpose.open) + ".gif"
    gmail = (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    )

    public.get(path, headers={"User-Agent": gmail})
    public.get(path, headers={"User-Agent": "Mozilla/5.0 Proofpoint"})
    public.head(path, headers={"User-Agent": BROWSER})

    recorded = events(session, delivery, ResponseKind.opened)
    assert [(e.automated, e.automated_reason) for e in recorded] == [
        (False, None),
        (True, "scanner: Proofpoint"),
        (True, "HEAD request"),
    ]


def test_the_access_log_never_shows_a_signed_link() -> None:
    signed = sign("0123456789abcdef0123456789abcdef", Purpose.unsubscribe)
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/unsubscribe/{signed}", "1.1", 200),
        None,
    )

    assert RedactTrackingLinks().filter(record)
    assert signed not in record.getMessage()
    assert "/unsubscribe/[redacted]" in record.getMessage()
