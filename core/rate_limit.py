"""Token-bucket rate limits in Redis, decided by one atomic Lua script per request.

A bucket holds up to `burst` tokens and refills at `rate_per_s`; a request spends `cost`
tokens or is refused with the time until enough have refilled. The script reads Redis's own
clock (`TIME`), so API processes on machines with skewed clocks share one view of a bucket,
and it gives every bucket a PEXPIRE of its refill time: a bucket left alone until it is full
again is deleted, because a missing key already means "full".

Keys are `rl:{scope}:{id}` (`rl:tenant:…`, `rl:key:…`, `rl:channel:…`, `rl:session:…`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import MaxConnectionsError, RedisError

from core.logging import get_logger

log = get_logger()

# Shared by every bucket script (api/inbound_guard.py appends its own body to it).
# take_all(first, last, argv_at, cost, now): buckets KEYS[first..last] with their rate and
# burst at ARGV[argv_at], ARGV[argv_at+1], … Spends `cost` from all of them or from none, so
# a request refused by one bucket does not use up another's tokens.
TOKEN_BUCKET_LUA = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end

local function take_all(first, last, argv_at, cost, now)
  local levels, rates, bursts = {}, {}, {}
  local wait_ms, remaining = 0, nil
  for i = first, last do
    local rate = tonumber(ARGV[argv_at + 2 * (i - first)])
    local burst = tonumber(ARGV[argv_at + 2 * (i - first) + 1])
    local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
    local level = burst
    if state[1] then
      local elapsed = math.max(0, now - tonumber(state[2]))
      level = math.min(burst, tonumber(state[1]) + elapsed * rate / 1000)
    end
    if level < cost then
      wait_ms = math.max(wait_ms, (cost - level) * 1000 / rate)
    end
    levels[i], rates[i], bursts[i] = level, rate, burst
    remaining = remaining and math.min(remaining, level) or level
  end
  if wait_ms > 0 then
    return {0, math.floor(remaining), math.ceil(wait_ms)}
  end
  if cost > 0 then
    for i = first, last do
      local level = levels[i] - cost
      redis.call('HSET', KEYS[i], 'tokens', level, 'ts', now)
      -- Gone once it would be full again: a missing bucket reads as full.
      redis.call('PEXPIRE', KEYS[i], math.ceil((bursts[i] - level) * 1000 / rates[i]) + 1000)
    end
  end
  return {1, math.floor(remaining - cost), 0}
end
"""

# KEYS: the buckets; ARGV: cost, then rate_per_s and burst for each bucket.
_HIT_LUA = TOKEN_BUCKET_LUA + "return take_all(1, #KEYS, 2, tonumber(ARGV[1]), now_ms())\n"

# A decision slower than this is not worth waiting for: the request goes through (fail open).
DECISION_TIMEOUT_S = 0.5
_WARN_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    remaining: int  # whole tokens left after this request (in the tightest bucket)
    retry_after_s: float  # 0 when allowed; else until enough tokens have refilled


@dataclass(frozen=True, slots=True)
class Limit:
    key: str
    rate_per_s: float
    burst: int


ALLOW_UNCHECKED = RateDecision(allowed=True, remaining=0, retry_after_s=0.0)
# What a bucket script "answers" when this process has every Redis connection busy (refused,
# retry in a second): see RateLimiter.run_script.
_OVERLOADED_REPLY = (0, 0, 1000)


def bucket_key(scope: str, id: str) -> str:
    return f"rl:{scope}:{id}"


class _WarnThrottle:
    """One warning per interval: with Redis down, every request would otherwise log one."""

    def __init__(self, every_s: float) -> None:
        self._every_s = every_s
        self._next = 0.0

    def warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._every_s
            log.warning("rate limiter cannot reach Redis; allowing requests unchecked", error=repr(exc)[:200])


_unreachable = _WarnThrottle(_WARN_EVERY_S)


class RateLimiter:
    """Cheap to build (one SHA-1 of the script), so a request may build its own."""

    def __init__(self, redis: Redis, timeout_s: float = DECISION_TIMEOUT_S) -> None:
        self._redis = redis
        self._timeout_s = timeout_s
        # EVALSHA, loading the script on NOSCRIPT (a restarted or different Redis).
        self._hit_script = redis.register_script(_HIT_LUA)

    async def hit(self, key: str, *, rate_per_s: float, burst: int, cost: int = 1) -> RateDecision:
        return await self.hit_all([Limit(key, rate_per_s, burst)], cost=cost)

    async def hit_all(self, limits: Sequence[Limit], *, cost: int = 1) -> RateDecision:
        """Spend `cost` from every bucket, or from none when one of them is short."""
        args: list[Any] = [cost]
        for limit in limits:
            args += [limit.rate_per_s, limit.burst]
        reply = await self.run_script(self._hit_script, [limit.key for limit in limits], args)
        return ALLOW_UNCHECKED if reply is None else decision_from(reply)

    async def run_script(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Sequence[Any] | None:
        """Run a bucket script; None when Redis did not answer in time.

        Fails open on purpose: rate limiting protects the platform from floods, but an outage
        of Redis alone must not turn every webhook and API call into an error. Channels would
        then redeliver and customers would see nothing, which is worse than a short stretch
        without limits. Pool exhaustion is different: this process already has every Redis
        connection (100 by default) busy, i.e. it is in a flood itself, and allowing would
        switch the protection off exactly when it is needed, so the request is refused."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await script(keys=keys, args=args, client=self._redis)
        except MaxConnectionsError:
            return _OVERLOADED_REPLY
        except (RedisError, OSError, TimeoutError) as exc:
            _unreachable.warn(exc)
            return None


def decision_from(reply: Sequence[Any]) -> RateDecision:
    """The first three integers a bucket script returns: allowed, remaining, retry-after ms."""
    allowed, remaining, retry_ms = int(reply[0]), int(reply[1]), int(reply[2])
    return RateDecision(allowed=bool(allowed), remaining=max(0, remaining), retry_after_s=retry_ms / 1000)
