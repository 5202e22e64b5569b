"""What the turn and the training workflow read and write of a tenant's NLU: its intents, the
approved samples a run trains on, the messages queued for review and the live predictions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.nlu import Intent, IntentPrediction, TrainingSample
from nlu.evaluation import Sample
from nlu.samples import MAX_SAMPLE_CHARS, text_key


@dataclass(frozen=True)
class IntentInfo:
    name: str
    description: str
    tool_hints: list[str]
    handoff: bool


async def active_intents(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, IntentInfo]:
    rows = await session.scalars(select(Intent).where(Intent.tenant_id == tenant_id, Intent.active.is_(True)).order_by(Intent.name))
    return {i.name: IntentInfo(i.name, i.description, list(i.tool_hints or []), i.handoff) for i in rows}


async def approved_samples(session: AsyncSession, tenant_id: uuid.UUID) -> list[Sample]:
    """Approved samples of active intents, oldest first (a stable order for the snapshot)."""
    rows = await session.execute(
        select(TrainingSample.id, TrainingSample.text, Intent.name)
        .join(Intent, Intent.id == TrainingSample.intent_id)
        .where(TrainingSample.tenant_id == tenant_id, TrainingSample.status == "approved", Intent.active.is_(True))
        .order_by(TrainingSample.created_at, TrainingSample.id)
    )
    return [Sample(str(sample_id), text, intent) for sample_id, text, intent in rows]


async def queue_for_review(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    text: str,
    guessed_intent: str | None,
    predicted_by: str,
    confidence: float,
    conversation_id: uuid.UUID | None,
) -> bool:
    """A message the model was unsure of, pending review with the best guess as its label.
    False when that message is already a sample (reviewed or waiting): it is not queued twice."""
    key = text_key(text)
    if not key:
        return False
    intent_id = None
    if guessed_intent is not None:
        intent_id = await session.scalar(select(Intent.id).where(Intent.tenant_id == tenant_id, Intent.name == guessed_intent))
    inserted = await session.execute(
        insert(TrainingSample)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            text=text[:MAX_SAMPLE_CHARS],
            text_key=key,
            intent_id=intent_id,
            status="pending",
            source="conversation",
            predicted_by=predicted_by,
            confidence=confidence,
            conversation_id=conversation_id,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "text_key"])
        .returning(TrainingSample.id)
    )
    return inserted.scalar() is not None


@dataclass(frozen=True)
class PredictionRecord:
    turn_id: str
    conversation_id: uuid.UUID | None
    model_version: int | None
    intent: str | None
    model_intent: str | None
    confidence: float
    low_confidence: bool
    source: str  # model | llm | none


async def record_prediction(session: AsyncSession, tenant_id: uuid.UUID, record: PredictionRecord) -> bool:
    """Once per turn: False when a retried activity finds its turn already recorded."""
    inserted = await session.execute(
        insert(IntentPrediction)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, **vars(record))
        .on_conflict_do_nothing(index_elements=["tenant_id", "turn_id"])
        .returning(IntentPrediction.id)
    )
    return inserted.scalar() is not None


async def live_confidence(session: AsyncSession, tenant_id: uuid.UUID, version: int, since: datetime) -> tuple[int, int]:
    """(predictions, low-confidence predictions) the version made since `since`."""
    row = (
        await session.execute(
            select(func.count(), func.count().filter(IntentPrediction.low_confidence.is_(True))).where(
                IntentPrediction.tenant_id == tenant_id, IntentPrediction.model_version == version, IntentPrediction.created_at >= since
            )
        )
    ).one()
    return int(row[0]), int(row[1])
