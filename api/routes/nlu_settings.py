"""How a tenant's intent model is used (confidence threshold), looked after (automatic rollback,
retraining schedule), and what it has been seeing (analytics)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from api.auth import Ctx, Scoped
from api.nlu_runs import ensure_training_schedule
from core.scopes import Scope
from models.nlu import IntentPrediction, TrainingSample
from models.nlu_settings import NluSettings, nlu_settings, save_nlu_settings

router = APIRouter(prefix="/v1/nlu", tags=["nlu"])
Reader = Annotated[Ctx, Depends(Scoped(Scope.KNOWLEDGE_READ))]
Analyst = Annotated[Ctx, Depends(Scoped(Scope.ANALYTICS_READ))]
Manager = Annotated[Ctx, Depends(Scoped(Scope.AGENTS_MANAGE))]


@router.get("/settings", response_model=NluSettings, summary="The tenant's NLU settings")
async def get_nlu_settings(ctx: Reader) -> NluSettings:
    async with ctx.db() as session:
        return await nlu_settings(session, ctx.tenant_id)


@router.put("/settings", response_model=NluSettings, summary="Replace the tenant's NLU settings (and its retraining schedule)")
async def put_nlu_settings(body: NluSettings, ctx: Manager) -> NluSettings:
    # The schedule first: a cron expression Temporal refuses leaves the stored settings as they were.
    await ensure_training_schedule(ctx.state.temporal, ctx.state.settings, ctx.tenant_id, body)
    async with ctx.db() as session:
        previous = await nlu_settings(session, ctx.tenant_id)
        await save_nlu_settings(session, ctx.tenant_id, body)
        ctx.audit(session, "nlu.settings", "tenant", ctx.tenant_id, {"old": previous.model_dump(), "new": body.model_dump()})
    return body


class IntentCount(BaseModel):
    intent: str | None = Field(description="null: no intent was sure enough, even for the LLM.")
    messages: int


class VersionRate(BaseModel):
    version: int | None = Field(description="null: classified while no model was active (the LLM labelled them).")
    messages: int
    low_confidence_rate: float


class NluAnalytics(BaseModel):
    since: datetime
    messages: int
    low_confidence_rate: float
    by_intent: list[IntentCount]
    by_version: list[VersionRate]
    by_source: dict[str, int] = Field(description="model: the intent model was sure; llm: the LLM labelled it; none: neither.")
    pending_review: int


@router.get("/analytics", response_model=NluAnalytics, summary="What the intent model saw and how sure it was")
async def nlu_analytics(ctx: Analyst, days: Annotated[int, Query(ge=1, le=365)] = 7) -> NluAnalytics:
    since = datetime.now(UTC) - timedelta(days=days)
    mine = (IntentPrediction.tenant_id == ctx.tenant_id, IntentPrediction.created_at >= since)
    low = func.count().filter(IntentPrediction.low_confidence.is_(True))
    async with ctx.db() as session:
        intents = (await session.execute(
            select(IntentPrediction.intent, func.count()).where(*mine).group_by(IntentPrediction.intent).order_by(func.count().desc())
        )).all()  # fmt: skip
        versions = (await session.execute(
            select(IntentPrediction.model_version, func.count(), low).where(*mine)
            .group_by(IntentPrediction.model_version).order_by(IntentPrediction.model_version.desc())
        )).all()  # fmt: skip
        sources = (await session.execute(select(IntentPrediction.source, func.count()).where(*mine).group_by(IntentPrediction.source))).all()
        pending = await session.scalar(
            select(func.count()).where(TrainingSample.tenant_id == ctx.tenant_id, TrainingSample.status == "pending")
        )
    total = sum(n for _, n in intents)
    lows = sum(n_low for _, _, n_low in versions)
    return NluAnalytics(
        since=since,
        messages=total,
        low_confidence_rate=round(lows / total, 4) if total else 0.0,
        by_intent=[IntentCount(intent=i, messages=n) for i, n in intents],
        by_version=[VersionRate(version=v, messages=n, low_confidence_rate=round(n_low / n, 4)) for v, n, n_low in versions],
        by_source={s: n for s, n in sources},
        pending_review=int(pending or 0),
    )
