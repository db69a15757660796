"""The global send-rate limit (SEND_RATE_LIMIT messages per second), held however many
workers run.

Both implementations use the generic cell rate algorithm (GCRA): one number, the
"theoretical arrival time" of the next message, moves forward by 1/rate for each
message allowed. A sender asks before each message and is told how long to wait.

- `RedisRateLimiter`: the number lives in Redis and is updated by one Lua script, so
  every worker on every machine draws from the same budget.
- `MemoryRateLimiter`: the embedded default's single worker process.

The clock is passed in (`now`), so tests can prove the rate with a simulated clock
instead of waiting on wall time.
"""

import time
from collections.abc import Callable
from typing import Protocol

import redis

from app.core.settings import Settings

# A short burst is allowed after an idle spell (in messages), so the first messages of
# a launch leave at once.
BURST = 5

_GCRA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - burst
if now < allow_at then return tostring(allow_at - now) end
local new_tat = tat + interval
local ttl = math.ceil((new_tat - now + burst) * 1000) + 1000
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', ttl)
return '0'
"""


class RateLimiter(Protocol):
    def delay(self, now: float) -> float:
        """0 to send now, else the seconds to wait before asking again."""


def _gcra(tat: float, now: float, interval: float) -> tuple[float, float]:
    """(delay, new theoretical arrival time): the same rule as the Lua script."""
    tat = max(tat, now)
    allow_at = tat - BURST * interval
    if now < allow_at:
        return allow_at - now, tat
    return 0.0, tat + interval


class MemoryRateLimiter:
    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._tat = 0.0

    def delay(self, now: float) -> float:
        wait, self._tat = _gcra(self._tat, now, self._interval)
        return wait


class RedisRateLimiter:
    def __init__(
        self, client: "redis.Redis", rate: float, key: str = "coalition:send-rate"
    ) -> None:
        self._client = client
        self._interval = 1.0 / rate
        self._key = key
        self._script = client.register_script(_GCRA)

    def delay(self, now: float) -> float:
        reply = self._script(keys=[self._key], args=[now, self._interval, BURST * self._interval])
        return float(reply.decode() if isinstance(reply, bytes) else reply)


def rate_limiter_for(settings: Settings) -> RateLimiter | None:
    if not settings.send_rate_limit:
        return None
    if settings.is_sqlite:  # the embedded default runs one worker process
        return MemoryRateLimiter(settings.send_rate_limit)
    return RedisRateLimiter(
        redis.Redis.from_url(settings.redis_url, socket_timeout=5), settings.send_rate_limit
    )


def wait_for_turn(
    limiter: RateLimiter | None,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Block until the limit lets one more message go."""
    if limiter is None:
        return
    while (wait := limiter.delay(clock())) > 0:
        sleep(wait)
