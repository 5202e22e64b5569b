"""The admin API's queries over a tenant's LLM setup: its providers, and its usage summed per
day, model, provider, conversation or tier."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.llm_usage import LlmUsage
from models.tenants import LlmProvider

UsageGrouping = Literal["day", "model", "provider", "conversation", "tier"]


async def providers_in_order(session: AsyncSession, tenant_id: uuid.UUID) -> list[LlmProvider]:
    """In the order replies try them (models/accounts_store.tenant_providers), disabled ones included."""
    rows = await session.scalars(
        select(LlmProvider).where(LlmProvider.tenant_id == tenant_id).order_by(LlmProvider.priority, LlmProvider.name)
    )
    return list(rows)


async def provider_count(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    return await session.scalar(select(func.count()).select_from(LlmProvider).where(LlmProvider.tenant_id == tenant_id)) or 0


@dataclass(frozen=True)
class UsageFigures:
    calls: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: Decimal
    latency_ms_total: int
    failovers: int
    cache_hits: int

    @classmethod
    def of(cls, values: Sequence[Any]) -> UsageFigures:
        calls, input_tokens, output_tokens, cached_tokens, cost, latency, failovers, cache_hits = values
        return cls(
            int(calls), int(input_tokens), int(output_tokens), int(cached_tokens),
            Decimal(cost), int(latency), int(failovers), int(cache_hits),
        )  # fmt: skip


@dataclass(frozen=True)
class UsageGroup:
    key: str  # "" for calls made outside a conversation (group "conversation")
    figures: UsageFigures


@dataclass(frozen=True)
class UsageWindow:
    tenant_id: uuid.UUID
    since: datetime  # inclusive
    until: datetime  # exclusive
    conversation_id: uuid.UUID | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found = [LlmUsage.tenant_id == self.tenant_id, LlmUsage.created_at >= self.since, LlmUsage.created_at < self.until]
        if self.conversation_id is not None:
            found.append(LlmUsage.conversation_id == self.conversation_id)
        return found


def _group_keys(time_zone: str) -> dict[str, ColumnElement[Any]]:
    return {
        # The calendar day where the tenant is, not in UTC.
        "day": func.to_char(func.timezone(time_zone, LlmUsage.created_at), "YYYY-MM-DD"),
        "model": LlmUsage.model,
        "provider": LlmUsage.provider,
        "tier": LlmUsage.tier,
        "conversation": func.coalesce(cast(LlmUsage.conversation_id, String), ""),
    }


def _figures(columns: Any) -> list[ColumnElement[Any]]:
    def total(column: Any) -> ColumnElement[Any]:
        return func.coalesce(func.sum(column), 0)

    return [
        func.count(),
        total(columns.input_tokens),
        total(columns.output_tokens),
        total(columns.cached_tokens),
        total(columns.cost_usd),
        total(columns.latency_ms),
        total(columns.failover_count),
        func.count().filter(columns.cache_hit),
    ]


async def usage_groups(
    session: AsyncSession, window: UsageWindow, group_by: UsageGrouping, time_zone: str, after: str | None, limit: int
) -> list[UsageGroup]:
    """Up to `limit` + 1 groups ordered by key, from the first key after `after`."""
    # Grouped over a subquery: GROUP BY on the expression itself would compare two bind
    # parameters (the time zone), which PostgreSQL does not accept as the same expression.
    rows = select(_group_keys(time_zone)[group_by].label("key"), *LlmUsage.__table__.c).where(*window.conditions()).subquery()
    query = select(rows.c.key, *_figures(rows.c)).group_by(rows.c.key).order_by(rows.c.key).limit(limit + 1)
    if after is not None:
        query = query.where(rows.c.key > after)
    result = await session.execute(query)
    return [UsageGroup(key=row[0], figures=UsageFigures.of(row[1:])) for row in result]


async def usage_totals(session: AsyncSession, window: UsageWindow) -> UsageFigures:
    row = (await session.execute(select(*_figures(LlmUsage.__table__.c)).where(*window.conditions()))).one()
    return UsageFigures.of(row)
