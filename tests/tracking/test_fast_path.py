"""The click and open path's own promises (app/tracking/clicks.py, router.py): what it
keeps of a campaign, that it answers before the application's routing, and the server
settings production runs it with (`coalition serve`)."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.campaigns.models import CampaignStatus, CampaignVariant
from app.cli import serve_options, serve_workers
from app.core.settings import get_settings
from app.members.models import Contact
from app.tracking import clicks
from app.tracking.models import ResponseEvent
from app.tracking.signing import Purpose
from tests.tracking.conftest import ENGLISH_LINKS, link, make_campaign, make_delivery

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def test_a_campaign_still_editable_is_read_afresh_at_every_click(
    public: TestClient, session: Session, contact: Contact
) -> None:
    campaign = make_campaign(session, status=CampaignStatus.scheduled)
    delivery = make_delivery(session, campaign, contact)
    first = public.get(f"{link(delivery, Purpose.click)}/1", headers={"User-Agent": BROWSER})

    english = next(v for v in campaign.variants if v.language == "en")
    english.body = "Only [one link](https://www.example.org/changed) now."
    session.add(english)
    session.flush()
    second = public.get(f"{link(delivery, Purpose.click)}/1", headers={"User-Agent": BROWSER})

    assert first.headers["location"] == ENGLISH_LINKS[0]
    assert second.headers["location"] == "https://www.example.org/changed"


def test_a_launched_campaigns_links_are_kept_and_never_mixed_with_another(
    public: TestClient, session: Session, contact: Contact
) -> None:
    # Same id, another launch (SQLite gives a deleted row's id again; tests roll back):
    # kept facts are per launch, so another campaign's links never come out.
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, contact)
    public.get(f"{link(delivery, Purpose.click)}/1", headers={"User-Agent": BROWSER})
    assert campaign.launched_at is not None
    campaign.launched_at += timedelta(seconds=1)
    for variant in session.scalars(
        select(CampaignVariant).where(col(CampaignVariant.campaign_id) == campaign.id)
    ):
        variant.body = "[elsewhere](https://www.example.org/relaunched)"
    session.flush()

    response = public.get(f"{link(delivery, Purpose.click)}/1", headers={"User-Agent": BROWSER})

    assert response.headers["location"] == "https://www.example.org/relaunched"


def test_clicks_are_answered_before_routing(
    public: TestClient, session: Session, contact: Contact, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = make_delivery(session, make_campaign(session), contact)
    calls: list[str] = []
    real = clicks.follow_click

    def counted(*args: object, **kwargs: object) -> str:
        calls.append("click")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(clicks, "follow_click", counted)
    from app.tracking import router

    routed: list[str] = []
    monkeypatch.setattr(router, "answer_in_thread", _spy(router.answer_in_thread, routed))

    response = public.get(f"{link(delivery, Purpose.click)}/2", headers={"User-Agent": BROWSER})

    assert (response.status_code, response.headers["location"]) == (303, ENGLISH_LINKS[1])
    assert calls == ["click"]
    assert routed == ["click_answer"]
    # The security headers still wrap the answer.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(session.scalars(select(ResponseEvent)).all()) == 1


def _spy(real: object, seen: list[str]) -> object:
    async def spy(function: object, *args: object) -> object:
        seen.append(getattr(function, "__name__", "?"))
        return await real(function, *args)  # type: ignore[operator]

    return spy


def test_serve_runs_as_production_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    options = serve_options("0.0.0.0", 8000, 4)

    assert options | {"host": "0.0.0.0"} == options
    assert (options["loop"], options["http"]) == ("uvloop", "httptools")
    assert options["proxy_headers"] is True
    assert options["access_log"] is True
    assert (options["workers"], options["reload"]) == (4, False)
    assert serve_options("127.0.0.1", 8000, 4, reload=True)["workers"] == 1


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"WEB_WORKERS": "3"}, 3),
        # Production: one per core.
        (
            {
                "THROTTLE_BACKEND": "redis",
                "DATABASE_URL": "postgresql+psycopg://u@h/d",
            },
            "cores",
        ),
        # The embedded default: in-process throttle counts, SQLite's one writer.
        ({}, 1),
    ],
)
def test_serve_workers_default(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: int | str
) -> None:
    for name in ("WEB_WORKERS", "THROTTLE_BACKEND", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    get_settings.cache_clear()
    try:
        assert serve_workers(None) == (6 if expected == "cores" else expected)
        assert serve_workers(2) == 2
    finally:
        get_settings.cache_clear()
