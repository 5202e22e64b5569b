from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import StateDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(state: StateDep) -> Health | JSONResponse:
    """Readiness: Temporal, PostgreSQL and Redis all answer."""

    async def database() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    checks = {"temporal": state.temporal.service_client.check_health(), "database": database(), "redis": state.redis.ping()}
    results = await asyncio.gather(*(asyncio.wait_for(c, 3) for c in checks.values()), return_exceptions=True)
    report = {name: "ok" if not isinstance(r, BaseException) else f"error: {type(r).__name__}" for name, r in zip(checks, results, strict=True)}
    if all(v == "ok" for v in report.values()):
        return Health(status="ok", checks=report)
    return JSONResponse(Health(status="unavailable", checks=report).model_dump(), status_code=503)
