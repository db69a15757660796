"""Throttling: repeated failed sign-ins and sign-in link requests get 429.

Counters are fixed windows: the first attempt opens a window of the limit's length,
and once the limit is reached every further attempt is refused until that window ends
(the `Retry-After` of the 429). Two backends keep the counters:

- `memory` (the embedded default): a dict in this process, guarded by a lock. One
  server process is what the embedded default runs, so one dict is the whole truth.
- `redis` (production, `THROTTLE_BACKEND=redis`): shared by every api process; the
  increment and its expiry are one Lua script, so concurrent attempts never lose a
  count or leave a counter without an expiry. If Redis cannot be reached, counting
  carries on in this process (logged) rather than failing every sign-in.

Keys are `throttle:{kind}:{digest}` where the digest is an HMAC of the email or client
address keyed with SECRET_KEY: no address, email or IP is ever stored in Redis.

Callers use four functions: `check_and_count` (every attempt counts, e.g. link
requests), `ensure_allowed` + `count_failure` (only failures count, e.g. passwords),
and `reset` (a success clears the account's failures). `check_sign_in_allowed`,
`count_failed_sign_in` and `clear_failed_sign_ins` wrap them for staff sign-in.
"""

import hashlib
import hmac
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.requests import Request

from app.core.errors import DomainError
from app.core.settings import get_settings

logger = logging.getLogger(__name__)


class TooManyRequests(DomainError):
    """Over a throttling limit: 429, with the seconds to wait in `Retry-After`."""

    status_code = 429

    def __init__(
        self,
        message: str,
        *,
        retry_after: int,
        field: str | None = None,
        location: str = "body",
    ) -> None:
        super().__init__(message, field=field, location=location)
        self.retry_after = retry_after


class ThrottleKind(StrEnum):
    sign_in_account = "sign_in_account"  # failed staff sign-ins, per email
    sign_in_address = "sign_in_address"  # failed staff sign-ins, per client address
    link_email = "link_email"  # sign-in link requests, per email
    link_address = "link_address"  # sign-in link requests, per client address
    application_address = "application_address"  # membership applications, per address


@dataclass(frozen=True)
class Limit:
    attempts: int
    window_seconds: float
    what: str  # completes "Too many ... ; try again in ..."


LIMITS: dict[ThrottleKind, Limit] = {
    # Guessing passwords: a person mistypes a few times, a script far more.
    ThrottleKind.sign_in_account: Limit(5, 15 * 60, "failed sign-ins for this account"),
    # Across accounts from one address (password spraying); an office behind one NAT
    # address still has room for its staff's typos.
    ThrottleKind.sign_in_address: Limit(20, 15 * 60, "failed sign-ins from your address"),
    # Links: each request sends an email, so a few per address protect the inbox.
    ThrottleKind.link_email: Limit(3, 15 * 60, "sign-in links requested for this address"),
    ThrottleKind.link_address: Limit(20, 60 * 60, "sign-in links requested from your address"),
    ThrottleKind.application_address: Limit(
        10, 60 * 60, "membership applications sent from your address"
    ),
}


class Window(NamedTuple):
    """A counter's state: attempts in the current window, and seconds until it ends."""

    attempts: int
    remaining_seconds: float


class ThrottleBackend(Protocol):
    def increment(self, key: str, window_seconds: float) -> Window: ...

    def peek(self, key: str) -> Window: ...

    def reset(self, key: str) -> None: ...


class MemoryBackend:
    """Counters in this process. `clock` is injectable so that tests can move time."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, max_keys: int = 100_000
    ) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (count, window end)
        self._lock = threading.Lock()

    def increment(self, key: str, window_seconds: float) -> Window:
        with self._lock:
            now = self._clock()
            count, ends_at = self._counters.get(key, (0, 0.0))
            if ends_at <= now:
                count, ends_at = 0, now + window_seconds
                self._make_room(now)
            count += 1
            self._counters[key] = (count, ends_at)
            return Window(count, ends_at - now)

    def peek(self, key: str) -> Window:
        with self._lock:
            now = self._clock()
            count, ends_at = self._counters.get(key, (0, 0.0))
            if ends_at <= now:
                return Window(0, 0.0)
            return Window(count, ends_at - now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._counters.clear()

    def _make_room(self, now: float) -> None:
        """Bound the memory a flood of distinct keys can take: drop ended windows, and
        if that is not enough, the windows that end soonest."""
        if len(self._counters) < self._max_keys:
            return
        self._counters = {k: v for k, v in self._counters.items() if v[1] > now}
        if len(self._counters) >= self._max_keys:
            keep = sorted(self._counters.items(), key=lambda item: item[1][1])
            self._counters = dict(keep[len(keep) // 2 :])


# INCR and set the expiry in one step; an existing key without an expiry (which should
# never happen) gets one too, so no counter can lock anyone out for ever.
_INCREMENT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisBackend:
    """Counters in Redis, shared by every api process.

    When Redis fails, counting goes on in this process, and Redis is left alone for
    `pause_seconds` before it is tried again, so that an outage costs each sign-in
    nothing more than one failed attempt a pause."""

    def __init__(
        self,
        client: "redis.Redis",
        *,
        prefix: str = "throttle",
        fallback: MemoryBackend | None = None,
        pause_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self._increment = client.register_script(_INCREMENT_SCRIPT)
        self._fallback = fallback or MemoryBackend()
        self._pause_seconds = pause_seconds
        self._clock = clock
        self._down_until = 0.0

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def _available(self) -> bool:
        return self._clock() >= self._down_until

    def _failed(self, error: Exception) -> None:
        self._down_until = self._clock() + self._pause_seconds
        logger.warning(
            "Throttling: Redis unavailable (%s); counting in this process for %d s",
            type(error).__name__,
            self._pause_seconds,
        )

    def increment(self, key: str, window_seconds: float) -> Window:
        if self._available():
            try:
                count, ttl_ms = self._increment(
                    keys=[self._key(key)], args=[max(1, math.ceil(window_seconds * 1000))]
                )
                return Window(int(count), int(ttl_ms) / 1000)
            except redis.RedisError as error:
                self._failed(error)
        return self._fallback.increment(key, window_seconds)

    def peek(self, key: str) -> Window:
        if self._available():
            try:
                pipeline = self.client.pipeline(transaction=True)
                pipeline.get(self._key(key))
                pipeline.pttl(self._key(key))
                count, ttl_ms = pipeline.execute()
            except redis.RedisError as error:
                self._failed(error)
            else:
                if count is None or int(ttl_ms) <= 0:
                    return Window(0, 0.0)
                return Window(int(count), int(ttl_ms) / 1000)
        return self._fallback.peek(key)

    def reset(self, key: str) -> None:
        if self._available():
            try:
                self.client.delete(self._key(key))
            except redis.RedisError as error:
                self._failed(error)
        self._fallback.reset(key)


_backend: ThrottleBackend | None = None
_backend_lock = threading.Lock()


def get_backend() -> ThrottleBackend:
    """The backend THROTTLE_BACKEND chooses, built on first use."""
    global _backend
    with _backend_lock:
        if _backend is None:
            settings = get_settings()
            if settings.throttle_backend == "redis":
                client = redis.Redis.from_url(
                    settings.redis_url,
                    socket_timeout=1,
                    socket_connect_timeout=1,
                    # One quick retry (a pooled connection the server closed), no
                    # backoff: a sign-in must not wait seconds on a Redis outage.
                    retry=Retry(NoBackoff(), 1),
                )
                _backend = RedisBackend(client)
            else:
                _backend = MemoryBackend()
        return _backend


def use_backend(backend: ThrottleBackend | None) -> None:
    """Replace the backend (tests); None: build it from the settings on next use."""
    global _backend
    with _backend_lock:
        _backend = backend


def key_digest(key: str) -> str:
    """What a counter is named by: a keyed hash, so the store never holds an email or
    an address, and nobody can compute the name of someone else's counter."""
    secret = get_settings().secret_key.encode()
    return hmac.new(secret, key.strip().lower().encode(), hashlib.sha256).hexdigest()


def _counter_key(kind: ThrottleKind, key: str) -> str:
    return f"{kind.value}:{key_digest(key)}"


def _refusal(kind: ThrottleKind, remaining_seconds: float) -> TooManyRequests:
    retry_after = max(1, math.ceil(remaining_seconds))
    return TooManyRequests(
        f"Too many {LIMITS[kind].what}; try again in {wait_in_words(retry_after)}",
        retry_after=retry_after,
    )


def wait_in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def check_and_count(kind: ThrottleKind, key: str) -> None:
    """Count this attempt; raise TooManyRequests if it goes over the limit."""
    limit = LIMITS[kind]
    window = get_backend().increment(_counter_key(kind, key), limit.window_seconds)
    if window.attempts > limit.attempts:
        raise _refusal(kind, window.remaining_seconds)


def ensure_allowed(kind: ThrottleKind, key: str) -> None:
    """Raise TooManyRequests if the limit is reached already; counts nothing."""
    window = get_backend().peek(_counter_key(kind, key))
    if window.attempts >= LIMITS[kind].attempts:
        raise _refusal(kind, window.remaining_seconds)


def count_failure(kind: ThrottleKind, key: str) -> None:
    """Count a failed attempt (the next `ensure_allowed` refuses once at the limit)."""
    get_backend().increment(_counter_key(kind, key), LIMITS[kind].window_seconds)


def reset(kind: ThrottleKind, key: str) -> None:
    get_backend().reset(_counter_key(kind, key))


def client_address(request: Request) -> str:
    """The caller's address. Behind a reverse proxy, uvicorn takes it from
    X-Forwarded-For only when the proxy is in FORWARDED_ALLOW_IPS."""
    return request.client.host if request.client else "unknown"


# --- staff sign-in -------------------------------------------------------------------


def check_sign_in_allowed(email: str, address: str) -> None:
    """Before checking a password: a locked account or address gets 429 even when the
    password is right, until its window ends.

    The account's attempt is counted here, atomically and before the slow password
    check, so that a burst of parallel guesses cannot all pass a limit not yet reached;
    a success forgives it (`clear_failed_sign_ins`)."""
    ensure_allowed(ThrottleKind.sign_in_address, address)
    check_and_count(ThrottleKind.sign_in_account, email)


def count_failed_sign_in(email: str, address: str) -> None:
    """After a wrong password: the address's failure (the account's attempt was counted
    by `check_sign_in_allowed`)."""
    count_failure(ThrottleKind.sign_in_address, address)


def clear_failed_sign_ins(email: str) -> None:
    """A successful sign-in forgives the account's failures. The address's count
    stays: one valid account must not reset the limit on guessing others."""
    reset(ThrottleKind.sign_in_account, email)


# --- member sign-in links ----------------------------------------------------------------


def count_application(address: str) -> None:
    """Every application sent counts, accepted or not: the public form must not be a
    cheap way to create records or to ask which organisations are members."""
    check_and_count(ThrottleKind.application_address, address)


def count_link_request(email: str, address: str) -> None:
    """Every request for a sign-in link counts, whether or not the address is known
    (so a 429 tells nothing about who is a member)."""
    check_and_count(ThrottleKind.link_address, address)
    check_and_count(ThrottleKind.link_email, email)
