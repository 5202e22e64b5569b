"""What authentication, tenant resolution and row-level security add to an admin API request.

Against the real PostgreSQL and Redis (embedded unless DATABASE_URL / REDIS_URL are set), each
request of the measured loop does exactly what a route's dependencies do: authenticate the
credential (API key: one indexed lookup joined with its tenant; session token: JWT check plus
one lookup of the session, user and tenant), spend from the key's and the tenant's rate-limit
buckets (one Redis script call), and open the tenant transaction (SET LOCAL role and tenant),
then run one small read. The baseline runs the same read in a plain transaction. The added
latency is the difference. Prints one JSON line per credential kind:
{"bench":"api_auth","credential":"api_key","added_p50_ms":..,"added_p99_ms":..,...}

  .venv/bin/python -m bench.api_auth --requests 3000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from fastapi.security import HTTPAuthorizationCredentials
from redis.asyncio import Redis
from sqlalchemy import select

from api.auth import authenticate, enforce_rate_limits
from api.routes.api_keys import create_key
from bench.common import percentile, stack_from_env
from core.credentials import SessionClaims, derive_jwt_secret, issue_token
from core.rate_limit import RateLimiter
from core.scopes import TENANT_SCOPES
from core.settings import Settings
from models.db import make_autocommit_session_maker, make_engine, make_session_maker
from models.identity import User, UserSession
from models.tenant_db import tenant_transaction
from models.tenants import Tenant


def _summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return round(percentile(ordered, 50) * 1000, 3), round(percentile(ordered, 99) * 1000, 3)


async def _timed(n: int, one: Callable[[], Awaitable[None]]) -> list[float]:
    for _ in range(min(200, n)):  # warm the pool, the prepared statements and the script cache
        await one()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await one()
        samples.append(time.perf_counter() - started)
    return samples


async def run(database_url: str, redis_url: str, master_key: str, requests: int) -> list[dict]:
    engine = make_engine(database_url, pool_size=2)
    sessions = make_session_maker(engine)
    statements = make_autocommit_session_maker(engine)
    redis = Redis.from_url(redis_url)
    # Buckets large enough that every measured request is allowed (the decision is still made).
    settings = Settings(admin_rate_per_key_per_s=1e9, admin_burst_per_key=10**9, admin_rate_per_tenant_per_s=1e9, admin_burst_per_tenant=10**9)
    state = SimpleNamespace(settings=settings, sessions=sessions, statements=statements, limiter=RateLimiter(redis), jwt_secret=derive_jwt_secret(master_key))
    tenant_id, user_id, session_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with sessions.begin() as session:
        session.add(Tenant(id=tenant_id, slug=f"bench-{tenant_id.hex[:8]}", name="Bench", status="active", settings={}))
        await session.flush()
        key = (await create_key(session, tenant_id, "bench", sorted(TENANT_SCOPES), None, "bench")).key
        session.add(User(id=user_id, tenant_id=tenant_id, email="bench@example.com", name="B", role="admin", password_hash="x", status="active"))
        await session.flush()
        session.add(UserSession(id=session_id, tenant_id=tenant_id, user_id=user_id, expires_at=datetime.now(UTC) + timedelta(hours=1)))
    token = issue_token(state.jwt_secret, SessionClaims(user_id, tenant_id, session_id, "admin", "access"), timedelta(hours=1))
    read = select(Tenant.name).where(Tenant.id == tenant_id)

    async def baseline() -> None:
        async with sessions.begin() as session:
            await session.scalar(read)

    def guarded(credential: str) -> Callable[[], Awaitable[None]]:
        bearer = HTTPAuthorizationCredentials(scheme="Bearer", credentials=credential)

        async def one() -> None:
            principal = await authenticate(state, bearer)
            await enforce_rate_limits(state, principal)
            async with tenant_transaction(sessions, principal.tenant_id) as session:
                await session.scalar(read)

        return one

    async def auth_only(credential: str) -> list[float]:
        bearer = HTTPAuthorizationCredentials(scheme="Bearer", credentials=credential)

        async def one() -> None:
            await authenticate(state, bearer)

        return await _timed(requests, one)

    async def limiter_only() -> list[float]:
        principal = await authenticate(state, HTTPAuthorizationCredentials(scheme="Bearer", credentials=key))

        async def one() -> None:
            await enforce_rate_limits(state, principal)

        return await _timed(requests, one)

    results = []
    try:
        base = await _timed(requests, baseline)
        limiter = _summary(await limiter_only())
        for label, credential in (("api_key", key), ("session_token", token)):
            full = await _timed(requests, guarded(credential))
            auth = _summary(await auth_only(credential))
            base_p50, base_p99 = _summary(base)
            full_p50, full_p99 = _summary(full)
            results.append(
                {
                    "bench": "api_auth",
                    "credential": label,
                    "requests": requests,
                    "added_p50_ms": round(full_p50 - base_p50, 3),
                    "added_p99_ms": round(full_p99 - base_p99, 3),
                    "baseline_p50_ms": base_p50,
                    "baseline_p99_ms": base_p99,
                    "guarded_p50_ms": full_p50,
                    "guarded_p99_ms": full_p99,
                    "authenticate_p50_ms": auth[0],
                    "authenticate_p99_ms": auth[1],
                    "rate_limit_p50_ms": limiter[0],
                    "rate_limit_p99_ms": limiter[1],
                }
            )
    finally:
        await redis.aclose()
        await engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="frontdesk-bench-auth-"))
    stack = stack_from_env(data_dir)
    try:
        a = stack.addresses
        for line in asyncio.run(run(a.database_url, a.redis_url, a.master_key, args.requests)):
            print(json.dumps(line), flush=True)
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
