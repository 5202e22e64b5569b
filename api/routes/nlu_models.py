"""A tenant's intent model versions: train one now, see how each scored and why it was or was
not promoted, roll back, and try the active model on a message."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import defer

from api.auth import Ctx, Scoped
from api.nlu_runs import ensure_training_schedule, request_rollback, start_training
from api.problems import Problem
from api.routes.knowledge_entries import Embedders
from core.scopes import Scope
from models import nlu_versions_store
from models.nlu import IntentModelVersion
from models.nlu_active_models import ActiveIntentModels
from models.nlu_settings import nlu_settings
from nlu.model import ModelFormatError
from nlu.samples import MAX_SAMPLE_CHARS
from workflows.nlu_model import RollbackRequest

router = APIRouter(prefix="/v1/nlu/models", tags=["nlu"])
Reader = Annotated[Ctx, Depends(Scoped(Scope.KNOWLEDGE_READ))]
Manager = Annotated[Ctx, Depends(Scoped(Scope.AGENTS_MANAGE))]
# Per API process: trying messages one after another parses the model once, not per call.
_ACTIVE_MODELS = ActiveIntentModels(max_tenants=100)


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    force: bool = Field(False, description="Promote the new version even if it does not beat the active one.")


class RunStarted(BaseModel):
    workflow_id: str


class VersionOut(BaseModel):
    version: int
    status: str = Field(description="training | active | inactive (kept for rollback) | rejected | failed")
    accuracy: float | None
    macro_f1: float | None
    low_confidence_rate: float | None = Field(description="Share of held-out samples below the confidence threshold.")
    baseline: dict[str, Any] = Field(description="The active version of the time, scored on the same held-out samples.")
    train_samples: int
    test_samples: int
    intents: list[str]
    decision: str | None
    forced: bool
    rollback_available: bool = Field(description="Its model is kept (the last 3 versions and the active one).")
    created_at: datetime
    activated_at: datetime | None

    @classmethod
    def of(cls, v: IntentModelVersion, model_kept: bool) -> VersionOut:
        m = v.metrics or {}
        return cls(
            version=v.version, status=v.status, accuracy=m.get("accuracy"), macro_f1=m.get("macro_f1"),
            low_confidence_rate=m.get("low_confidence_rate"),
            baseline={k: b for k, b in (v.baseline or {}).items() if k in ("version", "accuracy", "macro_f1", "samples")},
            train_samples=v.train_samples, test_samples=v.test_samples, intents=list(v.intents or []), decision=v.decision,
            forced=v.forced, rollback_available=model_kept, created_at=v.created_at, activated_at=v.activated_at,
        )  # fmt: skip


class VersionDetail(VersionOut):
    per_intent: dict[str, Any] = Field(description="Precision, recall, F1 and support of each intent on the held-out samples.")
    confusions: list[list[Any]] = Field(description="The most frequent mistakes: [true intent, predicted intent, count].")


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)
    to_version: int | None = Field(None, ge=1, le=2**31 - 1, description="Omitted: the newest earlier version that served.")


class ClassifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_SAMPLE_CHARS)


class ClassifyOut(BaseModel):
    model_version: int
    intent: str | None = Field(description="What a turn would act on: null when below the threshold or out of scope.")
    confidence: float
    ranking: list[tuple[str, float]]
    threshold: float


@router.post("/train", status_code=202, response_model=RunStarted, summary="Train a new intent model version now")
async def train(body: TrainRequest, ctx: Manager) -> RunStarted:
    async with ctx.db() as session:
        settings = await nlu_settings(session, ctx.tenant_id)
    await ensure_training_schedule(ctx.state.temporal, ctx.state.settings, ctx.tenant_id, settings)
    workflow_id = await start_training(ctx.state.temporal, ctx.state.settings, ctx.tenant_id, force=body.force, requested_by=ctx.principal.actor)
    async with ctx.db() as session:
        ctx.audit(session, "nlu_model.train", "intent_model", None, {"force": body.force, "workflow_id": workflow_id})
    return RunStarted(workflow_id=workflow_id)


@router.get("", response_model=list[VersionOut], summary="The tenant's intent model versions, newest first")
async def list_versions(ctx: Reader) -> list[VersionOut]:
    async with ctx.db() as session:
        # The kept models and sample snapshots are megabytes each: the listing only says whether one is kept.
        rows = await session.execute(
            select(IntentModelVersion, IntentModelVersion.artifact.is_not(None))
            .options(defer(IntentModelVersion.artifact), defer(IntentModelVersion.snapshot))
            .where(IntentModelVersion.tenant_id == ctx.tenant_id)
            .order_by(IntentModelVersion.version.desc())
        )
        return [VersionOut.of(v, kept) for v, kept in rows]


@router.get("/{version}", response_model=VersionDetail, summary="One version's evaluation in full")
async def get_version(version: Annotated[int, Path(ge=1, le=2**31 - 1)], ctx: Reader) -> VersionDetail:
    async with ctx.db() as session:
        row = await nlu_versions_store.version_row(session, ctx.tenant_id, version)
        if row is None:
            raise Problem(404, "Not found", f"no intent model version {version}")
        m = row.metrics or {}
        return VersionDetail(**VersionOut.of(row, row.artifact is not None).model_dump(), per_intent=m.get("per_intent", {}), confusions=m.get("confusions", []))


@router.post("/rollback", status_code=202, response_model=RunStarted, summary="Go back to an earlier version (by signal)")
async def rollback(body: RollbackIn, ctx: Manager) -> RunStarted:
    async with ctx.db() as session:
        active = await nlu_versions_store.active_version(session, ctx.tenant_id)
        if body.to_version is not None:
            target = await nlu_versions_store.version_row(session, ctx.tenant_id, body.to_version)
            if target is None or target.artifact is None:
                raise Problem(422, "Cannot roll back", f"version {body.to_version} does not exist or its model was not kept")
        elif active is None or await nlu_versions_store.rollback_target(session, ctx.tenant_id, active.version) is None:
            raise Problem(422, "Cannot roll back", "there is no earlier version that served to go back to")
        ctx.audit(session, "nlu_model.rollback", "intent_model", None, body.model_dump())
    request = RollbackRequest(body.reason, to_version=body.to_version, requested_by=ctx.principal.actor)
    return RunStarted(workflow_id=await request_rollback(ctx.state.temporal, ctx.state.settings, ctx.tenant_id, request))


@router.post("/classify", response_model=ClassifyOut, summary="Classify a message with the active model (nothing is recorded)")
async def classify(body: ClassifyIn, ctx: Reader, embedders: Embedders) -> ClassifyOut:
    async with ctx.db() as session:
        try:
            version, model = await _ACTIVE_MODELS.current(session, ctx.tenant_id)
        except ModelFormatError as exc:
            raise Problem(409, "Model unreadable", str(exc)) from None
        threshold = (await nlu_settings(session, ctx.tenant_id)).confidence_threshold
    if version is None or model is None:
        raise Problem(409, "No active model", "train a model first (POST /v1/nlu/models/train)")
    embedding = None
    if model.embedder is not None:  # trained with sentence embeddings (NluSettings.features): the message needs one too
        try:
            embedding = await embedders.embed_query(model.embedder, body.text)
        except Exception as exc:  # noqa: BLE001 - an embedder outage or one this process lacks: the reason, not a 500
            raise Problem(503, "Embedder unavailable", f"{model.embedder}: {str(exc)[:200]}", {"Retry-After": "5"}) from None
    prediction = model.predict(body.text, embedding)
    return ClassifyOut(
        model_version=version, intent=prediction.accepted(threshold), confidence=prediction.confidence,
        ranking=prediction.ranking, threshold=threshold,
    )  # fmt: skip
