"""Through the real send pipeline and the campaigns API: what recipients receive with
tracking on and off, and what previews and test sends show."""

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.delivery.links import PREVIEW_TOKEN
from app.delivery.models import OutboxMessage
from app.delivery.sender import send_campaign_batch
from app.tracking.models import ResponseEvent
from app.tracking.signing import Purpose, sign
from tests.campaigns.test_campaigns_api import create
from tests.delivery.test_pipeline import EVERYONE, deliveries, launched
from tests.tracking.conftest import ENGLISH_BODY, ENGLISH_LINKS, path_of
from tests.world import World

WITH_LINKS: dict[str, Any] = {
    "variants": [{"language": "en", "subject": "Ratify APIC", "body": ENGLISH_BODY}],
}


def received_html(session: Session, address: str) -> str:
    session.expire_all()
    message = session.scalars(
        select(OutboxMessage)
        .where(col(OutboxMessage.to_address) == address)
        .order_by(col(OutboxMessage.id).desc())
    ).first()
    assert message is not None
    assert message.html_body is not None
    return message.html_body.replace("&amp;", "&")


def hrefs(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]*)"', html)


def test_a_sent_alert_counts_clicks_and_opens_when_asked(
    client: TestClient, client_as: Any, public: TestClient, session: Session, world: World
) -> None:
    campaign_id = launched(
        client, client_as, **EVERYONE, **WITH_LINKS, tracking={"clicks": True, "opens": True}
    )
    send_campaign_batch(campaign_id, worker="w")
    row = next(r for r in deliveries(session, campaign_id) if r.email == "a@example.org")
    html = received_html(session, "a@example.org")
    click_base = f"/r/{sign(row.token, Purpose.click)}"

    first, second = hrefs(html)[:2]
    assert path_of(first) == f"{click_base}/1"
    assert path_of(second) == f"{click_base}/2"
    assert ENGLISH_LINKS[0] not in html
    assert f"/o/{sign(row.token, Purpose.open)}.gif" in html
    # The link in the message works, and leads where staff wrote.
    followed = public.get(path_of(second), headers={"User-Agent": "Mozilla/5.0 Firefox/133.0"})
    assert followed.headers["location"] == ENGLISH_LINKS[1]


def test_with_tracking_off_the_sent_links_are_untouched(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    campaign_id = launched(
        client, client_as, **EVERYONE, **WITH_LINKS, tracking={"clicks": False, "opens": False}
    )
    send_campaign_batch(campaign_id, worker="w")
    html = received_html(session, "a@example.org")

    assert hrefs(html)[:2] == list(ENGLISH_LINKS)
    assert "/r/" not in html
    assert "/o/" not in html
    assert "<img" not in html


def test_previews_and_test_sends_show_where_links_lead_and_record_nothing(
    client: TestClient, public: TestClient, session: Session, world: World
) -> None:
    campaign = create(client, **WITH_LINKS, tracking={"clicks": True, "opens": True})

    preview = client.get(f"/api/campaigns/{campaign['id']}/preview").json()
    sent = client.post(f"/api/campaigns/{campaign['id']}/test", json={"to": ["tester@example.org"]})

    assert sent.status_code == 200
    for html in (
        preview["html"].replace("&amp;", "&"),
        received_html(session, "tester@example.org"),
    ):
        assert hrefs(html)[:2] == list(ENGLISH_LINKS)
        assert "/r/" not in html
        assert "/o/" not in html
        report_link = next(href for href in hrefs(html) if "/act/" in href)
        assert path_of(report_link) == f"/act/{sign(PREVIEW_TOKEN, Purpose.act)}"
        page = public.get(path_of(report_link))
        assert "This link is from a preview" in page.text
    session.expire_all()
    assert session.scalars(select(ResponseEvent)).all() == []
