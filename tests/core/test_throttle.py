"""Throttling of sign-ins and link requests: in process (the embedded default) and in
Redis (production), with Retry-After, per account and per address, reset on success,
and windows that end."""

import secrets
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Connection
from sqlmodel import Session

from app.accounts.principal import Role
from app.core import throttle
from app.core.throttle import (
    LIMITS,
    MemoryBackend,
    RedisBackend,
    ThrottleBackend,
    ThrottleKind,
    TooManyRequests,
)
from tests.conftest import missing_service, shared_app
from tests.factories import TEST_PASSWORD, make_user

REDIS_URL = "redis://127.0.0.1:6379/15"
ACCOUNT_LIMIT = LIMITS[ThrottleKind.sign_in_account].attempts
ADDRESS_LIMIT = LIMITS[ThrottleKind.sign_in_address].attempts


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def memory_backend(clock: FakeClock) -> Iterator[MemoryBackend]:
    backend = MemoryBackend(clock)
    throttle.use_backend(backend)
    yield backend
    throttle.use_backend(None)


@pytest.fixture
def redis_client() -> Iterator["redis.Redis"]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        missing_service(f"Redis not reachable at 127.0.0.1:6379: {type(error).__name__}")
    yield client
    client.close()


@pytest.fixture
def redis_backend(redis_client: "redis.Redis") -> Iterator[RedisBackend]:
    """A backend on real Redis, its keys under a prefix of this test's own."""
    prefix = f"throttle-test-{secrets.token_hex(6)}"
    backend = RedisBackend(redis_client, prefix=prefix)
    throttle.use_backend(backend)
    yield backend
    throttle.use_backend(None)
    for key in redis_client.scan_iter(f"{prefix}:*"):
        redis_client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def any_backend(request: pytest.FixtureRequest) -> ThrottleBackend:
    return request.getfixturevalue(f"{request.param}_backend")


def client_from(address: str) -> TestClient:
    return TestClient(shared_app(), client=(address, 50000))


@pytest.fixture
def clients(connection: Connection) -> Iterator[Callable[[str], TestClient]]:
    made: list[TestClient] = []

    def make(address: str) -> TestClient:
        made.append(client_from(address))
        return made[-1]

    yield make
    for test_client in made:
        test_client.close()


def token_status(client: TestClient, email: str, password: str) -> int:
    return client.post(
        "/api/auth/token", data={"username": email, "password": password}
    ).status_code


# --- the limiter itself ---------------------------------------------------------------------


def test_every_request_counts_and_the_one_over_the_limit_gets_retry_after(
    any_backend: ThrottleBackend,
) -> None:
    email = f"{secrets.token_hex(4)}@example.org"
    for _ in range(LIMITS[ThrottleKind.link_email].attempts):
        throttle.check_and_count(ThrottleKind.link_email, email)
    with pytest.raises(TooManyRequests) as refused:
        throttle.check_and_count(ThrottleKind.link_email, email)
    assert refused.value.status_code == 429
    assert 0 < refused.value.retry_after <= 15 * 60
    assert "try again in" in refused.value.message
    # Another address has its own counter; so has the same address for another kind.
    throttle.check_and_count(ThrottleKind.link_email, f"other-{email}")
    throttle.check_and_count(ThrottleKind.link_address, email)


def test_failures_count_only_when_counted_and_reset_clears_them(
    any_backend: ThrottleBackend,
) -> None:
    email = f"{secrets.token_hex(4)}@example.org"
    for _ in range(10):  # checking alone never locks
        throttle.ensure_allowed(ThrottleKind.sign_in_account, email)
    for _ in range(ACCOUNT_LIMIT):
        throttle.ensure_allowed(ThrottleKind.sign_in_account, email)
        throttle.count_failure(ThrottleKind.sign_in_account, email)
    with pytest.raises(TooManyRequests):
        throttle.ensure_allowed(ThrottleKind.sign_in_account, email)
    # Emails are compared as the sign-in compares them: case and spaces do not matter.
    with pytest.raises(TooManyRequests):
        throttle.ensure_allowed(ThrottleKind.sign_in_account, f"  {email.upper()} ")
    throttle.reset(ThrottleKind.sign_in_account, email)
    throttle.ensure_allowed(ThrottleKind.sign_in_account, email)


def test_memory_window_ends_on_time(memory_backend: MemoryBackend, clock: FakeClock) -> None:
    email = "clock@example.org"
    for _ in range(3):
        throttle.check_and_count(ThrottleKind.link_email, email)
    clock.advance(10 * 60)
    with pytest.raises(TooManyRequests) as refused:
        throttle.check_and_count(ThrottleKind.link_email, email)
    assert refused.value.retry_after == 5 * 60  # the window opened with the first request
    clock.advance(5 * 60 - 1)
    with pytest.raises(TooManyRequests) as refused:
        throttle.check_and_count(ThrottleKind.link_email, email)
    assert refused.value.retry_after == 1
    clock.advance(1)
    throttle.check_and_count(ThrottleKind.link_email, email)  # a new window


def test_memory_backend_stays_bounded_under_a_flood_of_keys(clock: FakeClock) -> None:
    backend = MemoryBackend(clock, max_keys=100)
    for number in range(1000):
        backend.increment(f"key-{number}", 60)
    assert len(backend._counters) <= 100
    assert backend.peek("key-999").attempts == 1


def test_redis_window_ends_on_time(redis_backend: RedisBackend) -> None:
    key = f"short:{secrets.token_hex(4)}"
    assert redis_backend.increment(key, 1.0).attempts == 1
    window = redis_backend.increment(key, 1.0)
    assert window.attempts == 2
    assert 0 < window.remaining_seconds <= 1.0
    time.sleep(1.2)
    assert redis_backend.peek(key).attempts == 0
    assert redis_backend.increment(key, 1.0).attempts == 1


def test_redis_keys_are_namespaced_and_hold_no_email(
    redis_backend: RedisBackend, redis_client: "redis.Redis"
) -> None:
    email = f"Secret.Person.{secrets.token_hex(4)}@example.org"
    throttle.check_sign_in_allowed(email, "203.0.113.9")  # counts the account's attempt
    throttle.count_failed_sign_in(email, "203.0.113.9")  # and the address's failure
    keys = sorted(key.decode() for key in redis_client.scan_iter(f"{redis_backend.prefix}:*"))
    assert len(keys) == 2
    assert keys[0].startswith(f"{redis_backend.prefix}:sign_in_account:")
    assert keys[1].startswith(f"{redis_backend.prefix}:sign_in_address:")
    for key in keys:
        assert email.lower() not in key.lower()
        assert "203.0.113.9" not in key
        assert "example" not in key
        assert redis_client.pttl(key) > 0  # every counter expires


def test_redis_unreachable_falls_back_to_counting_in_process(clock: FakeClock) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    client = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    attempts = []
    original_get_connection = client.connection_pool.get_connection

    def counting_get_connection(*args: object, **kwargs: object) -> object:
        attempts.append(clock.now)
        return original_get_connection(*args, **kwargs)

    client.connection_pool.get_connection = counting_get_connection  # type: ignore[method-assign]
    backend = RedisBackend(client, prefix="unreachable", clock=clock, pause_seconds=30)
    throttle.use_backend(backend)
    try:
        email = "fallback@example.org"
        for _ in range(ACCOUNT_LIMIT):
            throttle.count_failure(ThrottleKind.sign_in_account, email)
        with pytest.raises(TooManyRequests):
            throttle.ensure_allowed(ThrottleKind.sign_in_account, email)
        assert len(attempts) == 1  # Redis is left alone for a while after a failure
        clock.advance(30)
        throttle.ensure_allowed(ThrottleKind.sign_in_account, "someone-else@example.org")
        assert len(attempts) == 2  # and tried again after it
    finally:
        throttle.use_backend(None)


def test_the_setting_chooses_the_backend(
    monkeypatch: pytest.MonkeyPatch, redis_client: "redis.Redis"
) -> None:
    from app.core.settings import get_settings

    settings = get_settings()
    try:
        for name, kind in (("memory", MemoryBackend), ("redis", RedisBackend)):
            monkeypatch.setattr(
                throttle,
                "get_settings",
                lambda name=name: settings.model_copy(
                    update={"throttle_backend": name, "redis_url": REDIS_URL}
                ),
            )
            throttle.use_backend(None)
            assert isinstance(throttle.get_backend(), kind)
        email = f"{secrets.token_hex(6)}@example.org"
        throttle.check_and_count(ThrottleKind.link_email, email)
        key = f"throttle:link_email:{throttle.key_digest(email)}"
        assert redis_client.get(key) == b"1"
        redis_client.delete(key)
    finally:
        throttle.use_backend(None)


# --- wired into sign-in ---------------------------------------------------------------------


def test_api_locks_an_account_after_repeated_failures_even_for_the_right_password(
    any_backend: ThrottleBackend, session: Session, clients: Callable[[str], TestClient]
) -> None:
    user = make_user(session, Role.secretariat)
    session.flush()
    client = clients("198.51.100.1")
    for _ in range(ACCOUNT_LIMIT):
        assert token_status(client, user.email, "wrong password!") == 401
    response = client.post(
        "/api/auth/token", data={"username": user.email, "password": TEST_PASSWORD}
    )
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert response.json()["detail"][0]["type"] == "TooManyRequests"
    assert "access_token" not in response.text
    # The same account from another address is locked too: the lock is the account's.
    assert token_status(clients("198.51.100.2"), user.email, TEST_PASSWORD) == 429
    # Another account from the first address is not.
    other = make_user(session, Role.secretariat)
    session.flush()
    assert token_status(client, other.email, TEST_PASSWORD) == 200


def test_api_locks_an_address_that_tries_many_accounts(
    any_backend: ThrottleBackend, session: Session, clients: Callable[[str], TestClient]
) -> None:
    user = make_user(session, Role.secretariat)
    session.flush()
    sprayer = clients("198.51.100.7")
    for number in range(ADDRESS_LIMIT):
        assert token_status(sprayer, f"guess{number}@example.org", "password1234") == 401
    assert token_status(sprayer, user.email, TEST_PASSWORD) == 429
    # The account itself is not locked: its owner signs in from elsewhere.
    assert token_status(clients("198.51.100.8"), user.email, TEST_PASSWORD) == 200


def test_a_successful_sign_in_forgives_the_accounts_failures(
    any_backend: ThrottleBackend, session: Session, clients: Callable[[str], TestClient]
) -> None:
    user = make_user(session, Role.secretariat)
    session.flush()
    client = clients("198.51.100.3")
    for _ in range(ACCOUNT_LIMIT - 1):
        assert token_status(client, user.email, "wrong password!") == 401
    assert token_status(client, user.email, TEST_PASSWORD) == 200
    for _ in range(ACCOUNT_LIMIT - 1):
        assert token_status(client, user.email, "wrong password!") == 401
    assert token_status(client, user.email, TEST_PASSWORD) == 200


def test_lock_ends_when_the_window_passes(
    memory_backend: MemoryBackend,
    clock: FakeClock,
    session: Session,
    clients: Callable[[str], TestClient],
) -> None:
    user = make_user(session, Role.secretariat)
    session.flush()
    client = clients("198.51.100.4")
    for _ in range(ACCOUNT_LIMIT):
        token_status(client, user.email, "wrong password!")
    assert token_status(client, user.email, TEST_PASSWORD) == 429
    clock.advance(15 * 60)
    assert token_status(client, user.email, TEST_PASSWORD) == 200


def test_sign_in_page_says_to_wait_with_429(
    memory_backend: MemoryBackend, session: Session, clients: Callable[[str], TestClient]
) -> None:
    user = make_user(session, Role.secretariat)
    session.flush()
    client = clients("198.51.100.5")
    form = {"email": user.email, "password": "wrong password!", "next": "/members"}
    for _ in range(ACCOUNT_LIMIT):
        assert client.post("/sign-in", data=form, follow_redirects=False).status_code == 401
    response = client.post(
        "/sign-in", data={**form, "password": TEST_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("text/html")
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins" in response.text
    assert "try again in 15 minutes" in response.text
    assert "set-cookie" not in response.headers


def test_a_burst_of_guesses_before_any_failure_is_counted_cannot_pass_the_limit() -> None:
    """Each attempt is counted before the (slow) password check, so requests arriving
    together cannot all see a count under the limit."""
    throttle.use_backend(throttle.MemoryBackend())
    allowed = 0
    for _ in range(20):  # all checked before any of them has failed
        try:
            throttle.check_sign_in_allowed("target@example.org", "198.51.100.7")
            allowed += 1
        except throttle.TooManyRequests:
            pass
    assert allowed == 5
