"""Agent profiles (persona, prompt template, restrictions, tiers, feature flags, hand-over and
tool settings) and the versions of each profile's system prompt template.

A tenant has at most one live default profile (a partial unique index); the API keeps it at
exactly one by moving the flag inside one transaction (models/agent_profiles_store.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned


class AgentProfile(TenantOwned, Base):
    __tablename__ = "agent_profiles"
    __table_args__ = (
        Index("uq_agent_profiles_tenant_default", "tenant_id", unique=True, postgresql_where=sql("is_default AND deleted_at IS NULL")),
        Index("uq_agent_profiles_tenant_name", "tenant_id", func.lower(sql("name")), unique=True, postgresql_where=sql("deleted_at IS NULL")),
        CheckConstraint("confidence_threshold >= 0 AND confidence_threshold <= 1", name="confidence_threshold_range"),
        CheckConstraint("low_confidence_turns BETWEEN 1 AND 20", name="low_confidence_turns_range"),
        CheckConstraint("tool_failure_streak BETWEEN 1 AND 20", name="tool_failure_streak_range"),
        CheckConstraint("max_tool_rounds BETWEEN 1 AND 10", name="max_tool_rounds_range"),
        CheckConstraint("jsonb_typeof(human_only_topics) = 'array'", name="human_only_topics_array"),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    persona_name: Mapped[str] = mapped_column(String(100), nullable=False)
    tone: Mapped[str] = mapped_column(String(100), nullable=False)
    traits: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=sql("'{}'"))
    # The current template; every version of it (this one included) is an AgentPromptVersion row.
    prompt_template: Mapped[str] = mapped_column(Text, nullable=False)
    prompt_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=sql("1"))
    restrictions: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=sql("'{}'"))
    disclaimers: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=sql("'{}'"))
    default_tier: Mapped[str] = mapped_column(String(16), nullable=False)
    fallback_tier: Mapped[str | None] = mapped_column(String(16), nullable=True)
    confidence_threshold: Mapped[float] = mapped_column(Float, nullable=False)
    proactive_suggestions: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=sql("false"))
    spelling_correction: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=sql("true"))
    rich_messages: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=sql("true"))
    voice_replies: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=sql("false"))
    # Hand-over (agent/handoff.py): the tenant's trigger words, topics kept for people as
    # [{"name": ..., "phrases": [...]}], and the streaks that hand over.
    handoff_keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=sql("'{}'"))
    human_only_topics: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default=sql("'[]'::jsonb"))
    low_confidence_turns: Mapped[int] = mapped_column(Integer, nullable=False, server_default=sql("3"))
    tool_failure_streak: Mapped[int] = mapped_column(Integer, nullable=False, server_default=sql("3"))
    # Tools: None lets the agent use every registered tool, [] none.
    allowed_tools: Mapped[list[str] | None] = mapped_column(ARRAY(Text), nullable=True)
    max_tool_rounds: Mapped[int] = mapped_column(Integer, nullable=False, server_default=sql("5"))
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=sql("false"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=sql("1"))  # the ETag
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AgentPromptVersion(TenantOwned, Base):
    __tablename__ = "agent_prompt_versions"
    __table_args__ = (Index("uq_agent_prompt_versions_profile_version", "profile_id", "version", unique=True),)

    profile_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("agent_profiles.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    template: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
