"""A tenant's intents, the samples that teach them, the trained model versions and what the
live model predicted.

- `Intent`: a name the tenant chooses (`track_order`), what it means (the LLM reads it when the
  model is unsure), the tools that usually answer it (a hint for the agent) and whether people
  handle it (`handoff`). `out_of_scope` is the explicit "none of ours" class.
- `TrainingSample`: a message and its intent, `pending` until a person approves or rejects it.
  Messages the live model was unsure of arrive pending, with what the model or the LLM guessed.
  One row per tenant and normalised text, so a message harvested twice is reviewed once.
- `IntentModelVersion`: one training run: its snapshot of approved samples, the model, its
  evaluation and the active model's on the same held-out samples. At most one is `active`.
- `IntentPrediction`: every classification a turn made, one per turn (the turn id makes a
  retried activity record it once): analytics and the live low-confidence rate that can roll
  a new version back.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned

SAMPLE_STATUSES = ("pending", "approved", "rejected")
SAMPLE_SOURCES = ("manual", "import", "conversation")
VERSION_STATUSES = ("training", "active", "inactive", "rejected", "failed")


class Intent(TenantOwned, Base):
    __tablename__ = "intents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("name ~ '^[a-z0-9][a-z0-9_]{0,63}$'", name="name_slug"),
        CheckConstraint("jsonb_typeof(tool_hints) = 'array'", name="tool_hints_array"),
    )

    name: Mapped[str] = mapped_column(String(64), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default=sql("''"))
    tool_hints: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default=sql("'[]'::jsonb"))
    handoff: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=sql("false"))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=sql("true"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class TrainingSample(TenantOwned, Base):
    __tablename__ = "training_samples"
    __table_args__ = (
        UniqueConstraint("tenant_id", "text_key"),
        CheckConstraint(f"status IN {SAMPLE_STATUSES}", name="status_known"),
        CheckConstraint(f"source IN {SAMPLE_SOURCES}", name="source_known"),
        CheckConstraint("status <> 'approved' OR intent_id IS NOT NULL", name="approved_has_intent"),
        Index("ix_training_samples_tenant_status", "tenant_id", "status", "created_at"),
    )

    text: Mapped[str] = mapped_column(Text, nullable=False)
    text_key: Mapped[str] = mapped_column(Text, nullable=False)  # nlu.samples.text_key: dedup of one message
    intent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("intents.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default=sql("'pending'"))
    source: Mapped[str] = mapped_column(String(16), nullable=False, server_default=sql("'manual'"))
    # A harvested message: who guessed its intent (model | llm) and how sure the model was.
    predicted_by: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float | None] = mapped_column(Float)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="SET NULL"))
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class IntentModelVersion(TenantOwned, Base):
    __tablename__ = "intent_model_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "version"),
        CheckConstraint(f"status IN {VERSION_STATUSES}", name="status_known"),
        Index("uq_intent_model_versions_one_active", "tenant_id", unique=True, postgresql_where=sql("status = 'active'")),
    )

    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default=sql("'training'"))
    workflow_id: Mapped[str | None] = mapped_column(String(255))
    forced: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=sql("false"))
    # Compressed JSON of the approved samples at the start of the run: a retried training step
    # trains on exactly what the run began with, whatever reviewers do meanwhile.
    snapshot: Mapped[bytes | None] = mapped_column(LargeBinary)
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary)  # nlu.model.IntentModel.to_bytes(); dropped past the last 3
    intents: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default=sql("'[]'::jsonb"))
    train_samples: Mapped[int] = mapped_column(Integer, nullable=False, server_default=sql("0"))
    test_samples: Mapped[int] = mapped_column(Integer, nullable=False, server_default=sql("0"))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=sql("'{}'::jsonb"))
    # The version that was active when this one was evaluated, scored on the same held-out samples.
    baseline: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=sql("'{}'::jsonb"))
    decision: Mapped[str | None] = mapped_column(Text)  # why it was promoted, rejected or rolled back
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class IntentPrediction(TenantOwned, Base):
    __tablename__ = "intent_predictions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "turn_id"),
        Index("ix_intent_predictions_tenant_version", "tenant_id", "model_version", "created_at"),
    )

    turn_id: Mapped[str] = mapped_column(String(200), nullable=False)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="SET NULL"))
    model_version: Mapped[int | None] = mapped_column(Integer)
    intent: Mapped[str | None] = mapped_column(String(64))  # what the turn acted on; None: nothing sure enough
    model_intent: Mapped[str | None] = mapped_column(String(64))  # the model's own best guess
    confidence: Mapped[float] = mapped_column(Float, nullable=False)
    low_confidence: Mapped[bool] = mapped_column(Boolean, nullable=False)
    source: Mapped[str] = mapped_column(String(8), nullable=False)  # model | llm | none
