"""The settings a tenant (or the platform operator) can change, validated before they are stored."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.llm_settings import LlmSettings
from models.knowledge_coverage import KnowledgeSearchSettings
from models.nlu_settings import NluSettings


class TenantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_language: str = Field("en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", examples=["en", "hi", "pt-BR"])
    timezone: str = Field("UTC", max_length=64, examples=["Asia/Kolkata"])
    retention_days: int | None = Field(
        None, ge=1, le=3650,
        description="What customers wrote (messages, receipts, search queries, summaries, tool calls, unreviewed "
        "samples, voice files) is purged by the hourly retention sweep once older than this; null keeps it. "
        "Messages younger than 8 days are blanked rather than deleted, so a channel's redelivery is still recognised.",
    )  # fmt: skip
    # Words that hand a conversation to a human, in addition to the built-in ones.
    handoff_keywords: list[str] = Field(default_factory=list, max_length=50)
    # Model tiers and failover chains, budgets and price overrides (api/llm_settings.py).
    llm: LlmSettings = Field(default_factory=LlmSettings)
    # Knowledge search weights, threshold and size (GET/PUT /v1/knowledge/settings).
    knowledge: KnowledgeSearchSettings = Field(default_factory=KnowledgeSearchSettings)
    # Intent threshold, automatic rollback and retraining schedule (GET/PUT /v1/nlu/settings).
    nlu: NluSettings = Field(default_factory=NluSettings)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("handoff_keywords")
    @classmethod
    def _short_keywords(cls, value: list[str]) -> list[str]:
        if any(not 1 <= len(k) <= 64 for k in value):
            raise ValueError("each handoff keyword is 1-64 characters")
        return value
