"""A circuit breaker per provider endpoint and model, shared by every worker through Redis.

closed: calls go through; failures are counted in a sliding window. After `threshold`
retryable failures (5xx, timeouts, dropped connections) within `window_s` it opens.
open: every worker skips the provider at once, for `cooldown_s` (or the 429's Retry-After).
half-open: after the cooldown one call (one worker, one turn) probes; success closes the
breaker, failure opens it again. A tenant's own 4xx (bad key, bad request) never counts:
it says nothing about the provider's health.

Redis down: the breaker fails closed (calls go through); failover still works per turn.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.logging import get_logger

log = get_logger()

# A breaker that cannot answer this fast is treated as closed: a turn never waits on Redis.
REDIS_DECISION_TIMEOUT_S = 0.5


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# Redis's clock, so workers on machines with skewed clocks agree on when a cooldown ends.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: breaker hashes, all of which must let the call through. ARGV: probe timeout ms.
# Returns {1, i, j, ...} (allowed; the breakers this call probes, half-open) or {0, state, i}.
# An open breaker past its cooldown lets its first caller probe and keeps skipping the others
# until that probe reports (or times out).
_ALLOW_LUA = (
    _NOW
    + """
local probes = {}
for i = 1, #KEYS do
  local s = redis.call('HMGET', KEYS[i], 'state', 'until', 'probe_until')
  local state = s[1] or 'closed'
  if state ~= 'closed' then
    if now < tonumber(s[2] or 0) then return {0, 'open', i} end
    if now < tonumber(s[3] or 0) then return {0, 'half_open', i} end
    probes[#probes + 1] = i
  end
end
for _, i in ipairs(probes) do
  redis.call('HSET', KEYS[i], 'state', 'half_open', 'probe_until', now + tonumber(ARGV[1]))
end
local out = {1}
for _, i in ipairs(probes) do out[#out + 1] = i end
return out
"""
)

# KEYS[1] breaker hash, KEYS[2] failure timestamps (sorted set).
# ARGV: ok (1/0), threshold, window_ms, cooldown_ms, open at once (1/0). Returns the state after.
_RECORD_LUA = (
    _NOW
    + """
local ok = ARGV[1] == '1'
local threshold, window, cooldown = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if ok then
  if state ~= 'closed' then redis.call('DEL', KEYS[1], KEYS[2]) end
  return 'closed'
end
if state == 'half_open' then
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + cooldown, 'probe_until', 0)
  redis.call('PEXPIRE', KEYS[1], cooldown + 3600000)
  return 'open'
end
-- A unique member per failure (two in one millisecond must both count).
redis.call('ZADD', KEYS[2], now, now .. ':' .. redis.call('HINCRBY', KEYS[1], 'seq', 1))
redis.call('PEXPIRE', KEYS[1], window + 3600000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], 0, now - window)
redis.call('PEXPIRE', KEYS[2], window)
if ARGV[5] == '1' or redis.call('ZCARD', KEYS[2]) >= threshold then
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + cooldown, 'probe_until', 0)
  redis.call('PEXPIRE', KEYS[1], cooldown + 3600000)
  redis.call('DEL', KEYS[2])
  return 'open'
end
return state
"""
)


@dataclass
class Admission:
    allowed: bool
    state: BreakerState = BreakerState.CLOSED  # of the breaker that refused
    refused_by: str | None = None
    probing: list[str] = field(default_factory=list)  # half-open breakers this call is the probe for


@dataclass(frozen=True)
class BreakerPolicy:
    threshold: int = 5
    window_s: float = 30.0
    cooldown_s: float = 15.0
    probe_timeout_s: float = 60.0  # a probe that never reports frees the half-open slot after this


def breaker_id(kind: str, base_url: str, model: str) -> str:
    """The endpoint and model, not the tenant: a dead endpoint is dead for everyone."""
    return hashlib.sha256(f"{kind}|{base_url.rstrip('/')}|{model}".encode()).hexdigest()[:24]


class CircuitBreakers:
    def __init__(self, redis: Redis, policy: BreakerPolicy | None = None) -> None:
        self._redis = redis
        self.policy = policy or BreakerPolicy()
        self._allow = redis.register_script(_ALLOW_LUA)
        self._record = redis.register_script(_RECORD_LUA)

    @staticmethod
    def _keys(breaker: str) -> list[str]:
        # Hash-tagged by the endpoint part, so an endpoint's breaker and its per-key ones can be
        # checked in one script on Redis Cluster too.
        endpoint, _, rest = breaker.partition(":")
        base = f"cb:{{{endpoint}}}:{rest}" if rest else f"cb:{{{endpoint}}}"
        return [base, f"{base}:failures"]

    async def allow(self, *breakers: str) -> Admission:
        """One round trip for every breaker guarding a call."""
        try:
            reply = await asyncio.wait_for(
                self._allow(keys=[self._keys(b)[0] for b in breakers], args=[int(self.policy.probe_timeout_s * 1000)]),
                REDIS_DECISION_TIMEOUT_S,
            )
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("circuit breaker unavailable; calling the provider", error=repr(exc)[:200])
            return Admission(True)
        if int(reply[0]) == 1:
            return Admission(True, probing=[breakers[int(i) - 1] for i in reply[1:]])
        state = reply[1].decode() if isinstance(reply[1], bytes) else reply[1]
        return Admission(False, BreakerState(state), breakers[int(reply[2]) - 1])

    async def record(self, breaker: str, ok: bool, open_for_s: float | None = None) -> BreakerState:
        """`open_for_s`: open at once for this long (a 429's Retry-After), whatever the count."""
        cooldown = open_for_s if open_for_s is not None else self.policy.cooldown_s
        try:
            state = await asyncio.wait_for(
                self._record(
                    keys=self._keys(breaker),
                    args=[
                        1 if ok else 0,
                        self.policy.threshold,
                        int(self.policy.window_s * 1000),
                        int(cooldown * 1000),
                        1 if open_for_s is not None else 0,
                    ],
                ),
                REDIS_DECISION_TIMEOUT_S,
            )
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("could not record a provider outcome in its circuit breaker", error=repr(exc)[:200])
            return BreakerState.CLOSED
        return BreakerState(state.decode() if isinstance(state, bytes) else state)
