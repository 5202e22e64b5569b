"""Flood protection for inbound channel traffic (webhooks and web chat), per channel account.

Routes call it after the signature is verified and the body parsed, so an unsigned flood is
answered 401 without spending the account's budget. For webhooks one script does two things
in one round trip: it looks up which message ids Temporal already accepted, and spends a token
from the account's bucket, except for a body that only repeats accepted messages: that costs
nothing and is answered 200, so a channel that keeps redelivering stops instead of being told
to retry (which a 429 would do). The ids are recorded only after Temporal accepted them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.logging import get_logger
from core.rate_limit import ALLOW_UNCHECKED, TOKEN_BUCKET_LUA, Limit, RateDecision, RateLimiter, bucket_key, decision_from
from core.settings import Settings

log = get_logger()

# Covers the redeliveries that come in bursts (most arrive within minutes). Longer would cost
# Redis memory per message (an hour at 100 messages/s is ~360k keys, ~35 MB); later
# redeliveries are signalled again and the workflow and the database drop them.
SEEN_TTL_S = 3600

# KEYS[1]: the account's bucket, KEYS[2..]: seen:{account}:{message id}.
# ARGV: rate_per_s, burst, charge ("1" when the body carries work besides messages, e.g.
# delivery statuses). Returns allowed, remaining, retry-after ms, then 1/0 per message id.
_WEBHOOK_LUA = TOKEN_BUCKET_LUA + """
local seen, all_seen = {}, #KEYS > 1
for i = 2, #KEYS do
  seen[i - 1] = redis.call('EXISTS', KEYS[i])
  if seen[i - 1] == 0 then all_seen = false end
end
local cost = 1
if all_seen and ARGV[3] == '0' then cost = 0 end
local result = take_all(1, 1, 1, cost, now_ms())
for i = 1, #seen do result[3 + i] = seen[i] end
return result
"""


def seen_key(account_id: str, message_id: str) -> str:
    return f"seen:{account_id}:{message_id}"


@dataclass(frozen=True, slots=True)
class WebhookVerdict:
    decision: RateDecision
    seen: frozenset[str]  # message ids Temporal already accepted: no need to signal them again


class InboundGuard:
    """One per API process (built in the lifespan): its scripts are hashed once, not per request."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._limiter = RateLimiter(redis)
        self._webhook_script = redis.register_script(_WEBHOOK_LUA)

    def _account_limit(self, account_id: str) -> Limit:
        s = self._settings
        return Limit(bucket_key("channel", account_id), s.webhook_rate_per_account_per_s, s.webhook_burst_per_account)

    async def admit_webhook(self, account_id: str, message_ids: Sequence[str], *, other_work: bool) -> WebhookVerdict:
        """`other_work`: the body also asks for something besides messages (statuses)."""
        limit = self._account_limit(account_id)
        reply = await self._limiter.run_script(
            self._webhook_script,
            [limit.key, *(seen_key(account_id, m) for m in message_ids)],
            [limit.rate_per_s, limit.burst, "1" if other_work else "0"],
        )
        if reply is None:  # Redis unreachable: let it through and signal everything (failing open)
            return WebhookVerdict(ALLOW_UNCHECKED, frozenset())
        flags = reply[3:]
        return WebhookVerdict(decision_from(reply), frozenset(m for m, flag in zip(message_ids, flags, strict=False) if int(flag)))

    async def record_accepted(self, accepted: Sequence[tuple[str, str]]) -> None:
        """(channel account id, message id) pairs Temporal accepted, in one round trip; runs
        after the response is sent. Losing a record costs one redundant signal, which the
        workflow drops."""
        if not accepted:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for account_id, message_id in accepted:
                    pipe.set(seen_key(account_id, message_id), 1, nx=True, ex=SEEN_TTL_S)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not record accepted message ids", error=repr(exc)[:200], count=len(accepted))

    async def admit_webchat(self, account_id: str, session_id: str) -> RateDecision:
        """One bucket per channel account and one per session, spent together."""
        s = self._settings
        return await self._limiter.hit_all(
            [
                self._account_limit(account_id),
                Limit(bucket_key("session", f"{account_id}:{session_id}"), s.webchat_rate_per_session_per_s, s.webchat_burst_per_session),
            ]
        )
