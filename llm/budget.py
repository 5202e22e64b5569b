"""Per-tenant LLM budgets: daily and monthly limits in tokens and in money, enforced atomically.

A call reserves its worst case (prompt estimate + max_tokens, priced) before it starts and
settles to the real usage after. One Lua script checks every limit and reserves on all of them
or on none, so 50 turns racing at the limit cannot together spend past it: each sees the
reservations of those before it. Reaching the limit exactly blocks (`used + estimate > limit`
with an estimate of at least 1 means `used >= limit` is refused).

Each limit has an action:
- block: the turn gets an honest reply and is flagged for a person;
- downgrade: the call goes to the cheaper `fast` tier instead (still counted);
- alert: nothing is refused; alerts fire as thresholds are crossed.
Alerts (default at 80% and 100%) fire once per limit, threshold and period, for every action.

Counters are integers (tokens; micro-dollars) in Redis, keyed per period in the tenant's time
zone, and expire a while after their period. Redis down: calls go through (logged), like rate
limits; the usage rows in PostgreSQL stay the record of what was spent.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.logging import get_logger
from llm.base import CompletionRequest, Usage
from llm.breaker import REDIS_DECISION_TIMEOUT_S
from llm.pricing import Price, cost_usd

log = get_logger()

MICRO = Decimal(1_000_000)


class BudgetAction(StrEnum):
    BLOCK = "block"
    DOWNGRADE = "downgrade"
    ALERT = "alert"


@dataclass(frozen=True)
class BudgetLimit:
    period: str  # day | month
    metric: str  # tokens | usd
    limit: Decimal
    action: BudgetAction

    @classmethod
    def from_settings(cls, raw: dict[str, Any]) -> BudgetLimit:
        return cls(raw["period"], raw["metric"], Decimal(str(raw["limit"])), BudgetAction(raw.get("action", "block")))

    def units(self) -> int:
        """The limit in counter units: tokens, or micro-dollars."""
        return int(self.limit) if self.metric == "tokens" else int(self.limit * MICRO)


@dataclass(frozen=True)
class BudgetPolicy:
    limits: list[BudgetLimit] = field(default_factory=list)
    alert_thresholds: tuple[float, ...] = (0.8, 1.0)
    time_zone: str = "UTC"

    @classmethod
    def from_settings(cls, llm_settings: dict[str, Any] | None, time_zone: str = "UTC") -> BudgetPolicy:
        raw = (llm_settings or {}).get("budgets") or {}
        return cls(
            limits=[BudgetLimit.from_settings(limit) for limit in raw.get("limits", [])],
            alert_thresholds=tuple(raw.get("alert_thresholds", (0.8, 1.0))),
            time_zone=time_zone,
        )


@dataclass(frozen=True)
class Estimate:
    tokens: int
    micro_usd: int


def estimate(request: CompletionRequest, price: Price | None) -> Estimate:
    """An upper bound for the call: prompt characters / 3 (tokenizers average ~4 characters a
    token in English; fewer in Hindi, hence the margin), 8 tokens of framing per message, and
    every output token the request allows."""
    chars = sum(len(m.content) + sum(len(str(c.arguments)) for c in m.tool_calls) for m in request.messages)
    chars += sum(len(t.description) + len(str(t.parameters)) for t in request.tools)
    prompt = math.ceil(chars / 3) + 8 * len(request.messages)
    usage = Usage(input_tokens=prompt, output_tokens=request.max_tokens)
    return Estimate(prompt + request.max_tokens, _micro(cost_usd(usage, price)))


def _micro(usd: Decimal) -> int:
    return int((usd * MICRO).to_integral_value(rounding="ROUND_CEILING"))


# KEYS: one counter per limit. ARGV[1]: ignore downgrade limits (1/0), then per limit:
# limit, amount to reserve, action, ttl seconds. Returns {1} or {0, action, index}.
_RESERVE_LUA = """
local skip_downgrade = ARGV[1] == '1'
local refused_action, refused_at = nil, nil
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 4
  local limit, amount, action = tonumber(ARGV[base]), tonumber(ARGV[base + 1]), ARGV[base + 2]
  local enforced = action == 'block' or (action == 'downgrade' and not skip_downgrade)
  if enforced then
    local used = tonumber(redis.call('GET', KEYS[i]) or '0')
    if used + amount > limit then
      if action == 'block' then return {0, 'block', i} end
      refused_action, refused_at = 'downgrade', i
    end
  end
end
if refused_action then return {0, refused_action, refused_at} end
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 4
  redis.call('INCRBY', KEYS[i], tonumber(ARGV[base + 1]))
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[base + 3]))
end
return {1}
"""

# KEYS: counters; ARGV: per key the correction (actual - reserved). Returns the new values.
_SETTLE_LUA = """
local out = {}
for i = 1, #KEYS do out[i] = redis.call('INCRBY', KEYS[i], tonumber(ARGV[i])) end
return out
"""

_TTL_S = {"day": 3 * 86400, "month": 40 * 86400}
ADJECTIVE = {"day": "daily", "month": "monthly"}


@dataclass
class Reservation:
    keys: list[str]
    amounts: list[int]
    limits: list[BudgetLimit]
    period_ids: list[str]


@dataclass(frozen=True)
class Refusal:
    action: BudgetAction
    limit: BudgetLimit

    def describe(self) -> str:
        unit = "tokens" if self.limit.metric == "tokens" else "USD"
        return f"the {ADJECTIVE[self.limit.period]} limit of {self.limit.limit} {unit} is reached"


class Budgets:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._reserve = redis.register_script(_RESERVE_LUA)
        self._settle = redis.register_script(_SETTLE_LUA)

    @staticmethod
    def period_id(period: str, now: datetime) -> str:
        return now.strftime("%Y%m%d" if period == "day" else "%Y%m")

    def counter_key(self, tenant_id: str, limit: BudgetLimit, period_id: str) -> str:
        # One hash tag per tenant: all of a tenant's counters live on one Redis Cluster slot.
        return f"budget:{{{tenant_id}}}:{limit.period}:{period_id}:{limit.metric}"

    async def reserve(
        self, tenant_id: str, policy: BudgetPolicy, cost: Estimate, *, downgraded: bool = False, now: datetime | None = None
    ) -> Reservation | Refusal | None:
        """A Reservation to settle later, a Refusal, or None when there are no limits or Redis
        cannot be reached (the call goes through)."""
        if not policy.limits:
            return None
        now = now or datetime.now(ZoneInfo(policy.time_zone))
        period_ids = [self.period_id(limit.period, now) for limit in policy.limits]
        keys = [self.counter_key(tenant_id, limit, pid) for limit, pid in zip(policy.limits, period_ids, strict=True)]
        amounts = [cost.tokens if limit.metric == "tokens" else cost.micro_usd for limit in policy.limits]
        args: list[Any] = [1 if downgraded else 0]
        for limit, amount in zip(policy.limits, amounts, strict=True):
            args += [limit.units(), max(amount, 1), limit.action.value, _TTL_S[limit.period]]
        try:
            reply = await asyncio.wait_for(self._reserve(keys=keys, args=args), REDIS_DECISION_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("budget counters unavailable; the call is not limited", error=repr(exc)[:200])
            return None
        if int(reply[0]) == 1:
            return Reservation(keys, [max(a, 1) for a in amounts], list(policy.limits), period_ids)
        action = reply[1].decode() if isinstance(reply[1], bytes) else reply[1]
        return Refusal(BudgetAction(action), policy.limits[int(reply[2]) - 1])

    async def settle(self, tenant_id: str, reservation: Reservation, tokens: int, usd: Decimal, thresholds: tuple[float, ...]) -> list[str]:
        """Replaces the reservation by what the call used; returns the alerts that fired now."""
        actual = [tokens if limit.metric == "tokens" else _micro(usd) for limit in reservation.limits]
        corrections = [a - r for a, r in zip(actual, reservation.amounts, strict=True)]
        try:
            totals = await asyncio.wait_for(self._settle(keys=reservation.keys, args=corrections), REDIS_DECISION_TIMEOUT_S)
            return await self._alerts(tenant_id, reservation, [int(t) for t in totals], thresholds)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("could not settle a budget reservation", error=repr(exc)[:200])
            return []

    async def release(self, reservation: Reservation) -> None:
        """The call never happened (every provider failed): give the reservation back."""
        try:
            await asyncio.wait_for(self._settle(keys=reservation.keys, args=[-a for a in reservation.amounts]), REDIS_DECISION_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("could not release a budget reservation", error=repr(exc)[:200])

    async def _alerts(self, tenant_id: str, reservation: Reservation, totals: list[int], thresholds: tuple[float, ...]) -> list[str]:
        fired: list[str] = []
        for limit, period_id, total in zip(reservation.limits, reservation.period_ids, totals, strict=True):
            for threshold in thresholds:
                if total < limit.units() * threshold:
                    continue
                marker = f"budget:{{{tenant_id}}}:alerted:{limit.period}:{period_id}:{limit.metric}:{threshold}"
                if await self._redis.set(marker, 1, nx=True, ex=_TTL_S[limit.period]):
                    fired.append(f"{int(threshold * 100)}% of the {ADJECTIVE[limit.period]} {limit.metric} limit ({limit.limit}) used")
        return fired
