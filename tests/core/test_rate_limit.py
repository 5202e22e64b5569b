"""Token buckets in the real Redis: burst, refusal with a usable Retry-After, recovery,
atomicity under concurrency, isolation, expiry, and failing open when Redis is gone."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

from core.embedded.ports import free_port
from core.rate_limit import Limit, RateLimiter, bucket_key


def _key() -> str:
    return bucket_key("test", uuid.uuid4().hex)


async def test_burst_is_allowed_then_refused_with_a_sane_retry_after(deps):
    limiter, key = RateLimiter(deps.redis), _key()
    decisions = [await limiter.hit(key, rate_per_s=2, burst=5) for _ in range(5)]
    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0]
    refused = await limiter.hit(key, rate_per_s=2, burst=5)
    assert not refused.allowed
    # One token refills in 0.5 s at 2/s; a little has already refilled since the last hit.
    assert 0.3 < refused.retry_after_s <= 0.5


async def test_refused_bucket_recovers_after_waiting(deps):
    limiter, key = RateLimiter(deps.redis), _key()
    for _ in range(3):
        assert (await limiter.hit(key, rate_per_s=10, burst=3)).allowed
    refused = await limiter.hit(key, rate_per_s=10, burst=3)
    assert not refused.allowed
    await asyncio.sleep(refused.retry_after_s + 0.02)
    assert (await limiter.hit(key, rate_per_s=10, burst=3)).allowed
    assert not (await limiter.hit(key, rate_per_s=10, burst=3)).allowed  # only one token came back


async def test_concurrent_hits_never_exceed_the_burst(deps):
    # What is tested is atomicity, not speed: on a busy machine 80 racing scripts can outlast
    # the 0.5 s decision timeout, and a decision that times out lets the request through.
    limiter, key = RateLimiter(deps.redis, timeout_s=10), _key()
    # Slow refill: at most 20 + a fraction of a token can be spent while 80 hits race (fewer
    # than the client's 100 connections, so each one reaches the script).
    decisions = await asyncio.gather(*(limiter.hit(key, rate_per_s=0.01, burst=20) for _ in range(80)))
    assert sum(d.allowed for d in decisions) == 20
    assert all(d.retry_after_s > 0 for d in decisions if not d.allowed)


async def test_keys_are_isolated(deps):
    limiter, busy, quiet = RateLimiter(deps.redis), _key(), _key()
    for _ in range(2):
        await limiter.hit(busy, rate_per_s=0.1, burst=2)
    assert not (await limiter.hit(busy, rate_per_s=0.1, burst=2)).allowed
    assert (await limiter.hit(quiet, rate_per_s=0.1, burst=2)).allowed


async def test_cost_above_what_is_left_is_refused_without_spending(deps):
    limiter, key = RateLimiter(deps.redis), _key()
    assert (await limiter.hit(key, rate_per_s=0.1, burst=10, cost=7)).allowed
    assert not (await limiter.hit(key, rate_per_s=0.1, burst=10, cost=5)).allowed
    assert (await limiter.hit(key, rate_per_s=0.1, burst=10, cost=3)).allowed  # the 5 were not taken


async def test_several_buckets_are_spent_together_or_not_at_all(deps):
    limiter, account, session = RateLimiter(deps.redis), _key(), _key()
    limits = [Limit(account, 0.1, 10), Limit(session, 0.1, 2)]
    assert (await limiter.hit_all(limits)).allowed
    assert (await limiter.hit_all(limits)).allowed
    assert not (await limiter.hit_all(limits)).allowed  # the session bucket is empty
    # The refused request did not spend the account's tokens: 8 are left.
    assert (await limiter.hit(account, rate_per_s=0.1, burst=10)).remaining == 7


async def test_idle_buckets_expire(deps):
    limiter, key = RateLimiter(deps.redis), _key()
    await limiter.hit(key, rate_per_s=100, burst=5)
    ttl_ms = await deps.redis.pttl(key)
    # Refills to full in 10 ms; the key lives about that long (plus a second of slack).
    assert 0 < ttl_ms <= 1100


async def test_unreachable_redis_fails_open():
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        decision = await RateLimiter(dead).hit(_key(), rate_per_s=1, burst=1)
    finally:
        await dead.aclose()
    assert decision.allowed
