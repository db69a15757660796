"""Requests at the same moment against a real server: none waits on another's database
lock on the event loop. (When the signed-in user was looked up in an async dependency,
two POSTs at once on SQLite froze the server for the busy timeout, then one failed with
a 500.)"""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from app.accounts.principal import Role
from app.core.db import session_scope
from tests.factories import bearer_headers, make_user
from tests.web.conftest import LiveServer

ROUNDS = 6


@pytest.fixture
def staff_headers(live_server: LiveServer) -> dict[str, str]:
    with session_scope() as session:
        user = make_user(session, Role.secretariat, email="concurrent@example.org")
        return bearer_headers(session, user)


def test_posts_at_the_same_moment_all_succeed(
    live_server: LiveServer, staff_headers: dict[str, str]
) -> None:
    def preview(_: int) -> int:
        with httpx.Client(base_url=live_server.url, headers=staff_headers, timeout=30) as client:
            response = client.post("/api/audiences/preview", json={"regions": ["africa"]})
            return response.status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(preview, range(4 * ROUNDS)))
    assert statuses == [200] * (4 * ROUNDS)
