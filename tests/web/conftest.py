"""A live server for browser tests.

The suite's per-test transaction is invisible to a server running in another thread,
so browser tests get their own database with committed data: a fresh SQLite file, or a
scratch PostgreSQL database when the suite runs on PostgreSQL. The app runs in uvicorn
on a free localhost port, with the session factory bound to that database for the
module's duration and restored afterwards.
"""

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app.accounts.principal import Role
from app.core import migrations
from app.core.db import SessionFactory, create_db_engine
from app.countries.schemas import CountryStatusUpdate
from app.countries.service import update_country_status
from app.countries.treaty_data import load_countries, read_treaty_data
from app.main import create_app
from app.members.models import BounceStatus
from tests.factories import STAFF, TEST_PASSWORD, make_contact, make_organization, make_user

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class LiveServer:
    url: str
    organization_ids: dict[str, int]


@pytest.fixture(scope="module")
def live_database_url(
    database_url: str, engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database of the suite's kind, dropped afterwards. (`engine` makes a missing
    PostgreSQL skip, or fail under REQUIRE_SERVICES=1, as everywhere else.)"""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path_factory.mktemp('live') / 'live.db'}"
        return
    name = f"coalition_web_{secrets.token_hex(4)}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


STAFF_EMAIL = "staff@example.org"

# Screenshots of the main pages, for a person to look at (ignored by git).
SCREENSHOT_DIR = Path(
    os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "artefacts/screenshots")
)


def screenshot(page: Page, name: str) -> None:
    """The whole page as it is now, as artefacts/screenshots/<name>.png."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT_DIR / f"{name}.png", full_page=True)


def sign_in(page: Page, base_url: str, email: str = STAFF_EMAIL) -> None:
    """Through the sign-in page, as a person would."""
    page.goto(f"{base_url}/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def seed_registry(engine: Engine) -> dict[str, int]:
    """A small registry, committed, built through the services."""
    with Session(engine) as session:
        load_countries(session, list(read_treaty_data()))
        amani = make_organization(
            session,
            name="Amani Justice Network",
            acronym="AJN",
            country="KEN",
            type="network",
            languages=["sw", "en"],
            focus_areas=["victims-rights"],
            website="https://amani.example.org",
        )
        make_contact(session, amani, name="Wanjiru Otieno", email="wanjiru@amani.example.org")
        bounced = make_contact(session, amani, name="Peter Kamau", email="peter@amani.example.org")
        bounced.bounce_status = BounceStatus.hard
        bounced.hard_bounce_count = 1
        justice = make_organization(session, name="Justice Now Colombia", country="COL")
        make_contact(session, justice, name="Lucía Gómez", email="lucia@justicenow.example.org")
        make_organization(session, name="Justice Forum Kenya", country="KEN")
        make_organization(session, name="Dakar Human Rights Centre", country="SEN")
        make_user(session, Role.secretariat, email=STAFF_EMAIL, full_name="Staff Member")
        update_country_status(
            session,
            STAFF,
            "SEN",
            CountryStatusUpdate(
                implementing_legislation="partial", source="Journal officiel 2025-01"
            ),
        )
        session.commit()
        return {"amani": amani.id or 0, "justice_colombia": justice.id or 0}


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module")
def live_server(live_database_url: str) -> Iterator[LiveServer]:
    migrations.upgrade(live_database_url)
    engine = create_db_engine(live_database_url)
    organization_ids = seed_registry(engine)

    saved = dict(SessionFactory.kw)
    SessionFactory.configure(bind=engine)
    sock = _free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield LiveServer(url=f"http://127.0.0.1:{port}", organization_ids=organization_ids)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        SessionFactory.kw.clear()
        SessionFactory.kw.update(saved)
        engine.dispose()


@pytest.fixture
def page(chromium_path: str) -> Iterator[Page]:
    """A fresh chromium page (Debian's chromium; no browser download, no network)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(10_000)
            yield context.new_page()
        finally:
            browser.close()
