"""The global send-rate limit holds whether one worker sends or four, measured on a
simulated clock (each worker sends as fast as it is let, 1 ms per message)."""

import heapq
import secrets
from collections.abc import Iterator

import pytest
import redis

from app.delivery.rate_limit import BURST, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from tests.conftest import missing_service

# Its own databases and processes: CI runs it in one of its two passes only.
pytestmark = pytest.mark.standalone

RATE = 200.0  # messages per second
SECONDS = 20.0
SEND_COST = 0.001


@pytest.fixture
def redis_client() -> Iterator["redis.Redis"]:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        missing_service(f"Redis not reachable at 127.0.0.1:6379: {type(error).__name__}")
    yield client
    client.close()


def simulate(limiters: list[RateLimiter]) -> int:
    """Workers (one limiter client each) racing on a shared simulated clock; return how
    many messages went out in SECONDS."""
    start = 1_000_000.0
    ready = [(start, worker) for worker in range(len(limiters))]
    heapq.heapify(ready)
    sent = 0
    while ready:
        now, worker = heapq.heappop(ready)
        if now >= start + SECONDS:
            continue
        wait = limiters[worker].delay(now)
        if wait > 0:
            heapq.heappush(ready, (now + wait, worker))
        else:
            sent += 1
            heapq.heappush(ready, (now + SEND_COST, worker))
    return sent


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_redis_limit_holds_within_ten_percent_however_many_workers(
    redis_client: "redis.Redis", workers: int
) -> None:
    key = f"test:send-rate:{secrets.token_hex(4)}"
    limiters: list[RateLimiter] = [
        RedisRateLimiter(redis_client, RATE, key=key) for _ in range(workers)
    ]
    sent = simulate(limiters)
    redis_client.delete(key)
    expected = RATE * SECONDS
    print(f"\n{workers} worker(s): {sent / SECONDS:.1f} messages/s for a limit of {RATE}")
    assert abs(sent - expected) <= 0.1 * expected
    # Unlimited, the workers would have sent this many: the limit did the work.
    assert workers * SECONDS / SEND_COST >= 5 * expected


def test_memory_limit_for_the_single_embedded_worker() -> None:
    sent = simulate([MemoryRateLimiter(RATE)])
    assert abs(sent - RATE * SECONDS) <= 0.1 * RATE * SECONDS


def test_a_burst_is_allowed_after_an_idle_spell() -> None:
    limiter = MemoryRateLimiter(RATE)
    assert [limiter.delay(100.0) for _ in range(BURST + 1)] == [0.0] * (BURST + 1)
    assert limiter.delay(100.0) > 0
