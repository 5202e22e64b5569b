"""What a tenant's LLM calls used and cost, grouped, and how much of each budget is gone."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import Ctx, Scoped
from api.pagination import CursorQuery, decode_cursor, encode_cursor
from api.problems import Problem
from core.scopes import Scope
from llm.budget import MICRO, BudgetLimit, BudgetPolicy, Budgets
from models.accounts_store import tenant_profile
from models.llm_admin_store import UsageFigures, UsageGrouping, UsageWindow, usage_groups, usage_totals

router = APIRouter(prefix="/v1/llm", tags=["llm"])
Analytics = Annotated[Ctx, Depends(Scoped(Scope.ANALYTICS_READ))]
MAX_SPAN = timedelta(days=366)
DEFAULT_SPAN = timedelta(days=30)


class UsageRow(BaseModel):
    calls: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int = Field(description="Input tokens served from the provider's prompt cache.")
    cost_usd: str = Field(examples=["0.004210"], description="A decimal string.")
    avg_latency_ms: int
    failovers: int
    cache_hits: int

    @classmethod
    def of(cls, f: UsageFigures) -> UsageRow:
        return cls(
            calls=f.calls, input_tokens=f.input_tokens, output_tokens=f.output_tokens, cached_tokens=f.cached_tokens,
            cost_usd=format(f.cost_usd.quantize(Decimal("0.000001")), "f"), avg_latency_ms=round(f.latency_ms_total / f.calls) if f.calls else 0,
            failovers=f.failovers, cache_hits=f.cache_hits,
        )  # fmt: skip


class UsageGroupRow(UsageRow):
    key: str | None = Field(
        examples=["2025-03-14", "gpt-4o-mini"],
        description="The day (YYYY-MM-DD, tenant's time zone), model, provider name, conversation id or tier; "
        "null for calls made outside a conversation.",
    )


class UsageReport(BaseModel):
    group_by: str
    since: datetime
    until: datetime
    time_zone: str
    rows: list[UsageGroupRow] = Field(description="Ordered by key.")
    totals: UsageRow = Field(description="Over the whole window, not only this page.")
    next_cursor: str | None = None


def _after(cursor: str | None) -> str | None:
    """The last key of the previous page."""
    if not cursor:
        return None
    values = decode_cursor(cursor)
    if len(values) != 1 or "\x00" in values[0]:
        raise Problem(422, "Invalid cursor", "pass back next_cursor exactly as a page returned it")
    return values[0]


def _time_zone(settings: dict[str, Any]) -> str:
    return settings.get("timezone") or "UTC"


def _window(
    tenant_id: uuid.UUID, since: datetime | None, until: datetime | None, zone: ZoneInfo, conversation_id: uuid.UUID | None
) -> UsageWindow:
    """Times without an offset are the tenant's local time; until defaults to now, since to 30 days before until."""
    try:
        end = until.replace(tzinfo=until.tzinfo or zone) if until else datetime.now(zone)
        start = since.replace(tzinfo=since.tzinfo or zone) if since else end - DEFAULT_SPAN
        # Both must exist in UTC (the database compares there) and where the tenant is (the report shows them so).
        start, end = start.astimezone(UTC).astimezone(zone), end.astimezone(UTC).astimezone(zone)
    except OverflowError:
        raise Problem(422, "Request is not valid", "since and until must lie between the years 1 and 9999") from None
    if start >= end:
        raise Problem(422, "Request is not valid", "since must be before until")
    if end - start > MAX_SPAN:
        raise Problem(422, "Request is not valid", f"at most {MAX_SPAN.days} days between since and until")
    return UsageWindow(tenant_id, start, end, conversation_id)


@router.get("/usage", response_model=UsageReport, summary="LLM calls, tokens and cost, grouped")
async def llm_usage(
    ctx: Analytics,
    group_by: Annotated[
        UsageGrouping, Query(description="Sum per day (tenant's time zone), model, provider, conversation or tier.")
    ] = "day",
    since: Annotated[
        datetime | None, Query(description="Inclusive; default 30 days before until. No offset: tenant's time zone.")
    ] = None,
    until: Annotated[datetime | None, Query(description="Exclusive; default now. At most 366 days after since.")] = None,
    conversation_id: Annotated[uuid.UUID | None, Query(description="Only this conversation's calls.")] = None,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Rows per page.")] = 400,
) -> UsageReport:
    after = _after(cursor)
    async with ctx.db() as session:
        _, settings = await tenant_profile(session, ctx.tenant_id) or ("", {})
        time_zone = _time_zone(settings)
        window = _window(ctx.tenant_id, since, until, ZoneInfo(time_zone), conversation_id)
        groups = await usage_groups(session, window, group_by, time_zone, after, limit)
        totals = await usage_totals(session, window)
    page = groups[:limit]
    return UsageReport(
        group_by=group_by, since=window.since, until=window.until, time_zone=time_zone,
        rows=[UsageGroupRow(key=g.key or None, **UsageRow.of(g.figures).model_dump()) for g in page],
        totals=UsageRow.of(totals), next_cursor=encode_cursor(page[-1].key) if len(groups) > limit else None,
    )  # fmt: skip


class BudgetStatus(BaseModel):
    period: Literal["day", "month"]
    metric: Literal["tokens", "usd"]
    limit: str = Field(examples=["100000"], description="A decimal string: tokens, or USD.")
    action: Literal["block", "downgrade", "alert"]
    used: int | str = Field(examples=[41873, "3.214500"], description="Tokens as an integer; USD as a decimal string.")
    percent: float = Field(examples=[41.87], description="used / limit × 100; may pass 100 with action alert or downgrade.")
    resets_at: datetime = Field(description="When the period ends, in the tenant's time zone.")


class BudgetReport(BaseModel):
    time_zone: str
    alert_thresholds: list[float]
    limits: list[BudgetStatus] = Field(description="One per limit in settings.llm.budgets (set them with PATCH /v1/tenant).")


def _period_end(period: str, now: datetime) -> datetime:
    first = date(now.year + (now.month == 12), now.month % 12 + 1, 1) if period == "month" else now.date() + timedelta(days=1)
    return datetime.combine(first, time(), tzinfo=now.tzinfo)


def _status(limit: BudgetLimit, used_units: int, now: datetime) -> BudgetStatus:
    used: int | str = (
        used_units if limit.metric == "tokens" else format((Decimal(used_units) / MICRO).quantize(Decimal("0.000001")), "f")
    )
    return BudgetStatus(
        period=limit.period, metric=limit.metric, limit=format(limit.limit.normalize(), "f"), action=limit.action.value,  # type: ignore[arg-type]
        used=used, percent=round(used_units / limit.units() * 100, 2) if limit.units() else 0.0, resets_at=_period_end(limit.period, now),
    )  # fmt: skip


@router.get(
    "/budget", response_model=BudgetReport, summary="How much of each LLM budget this period has used",
    description="Read from the live budget counters, which include calls in flight. Redis unreachable: 503 with Retry-After.",
)  # fmt: skip
async def llm_budget(ctx: Analytics) -> BudgetReport:
    async with ctx.db() as session:
        _, settings = await tenant_profile(session, ctx.tenant_id) or ("", {})
    time_zone = _time_zone(settings)
    policy = BudgetPolicy.from_settings(settings.get("llm"), time_zone)
    now = datetime.now(ZoneInfo(time_zone))
    counters = Budgets(ctx.state.redis)
    # The counters' own naming (llm/budget.py), so this reads exactly what the gateway enforces.
    keys = [counters.counter_key(str(ctx.tenant_id), limit, counters.period_id(limit.period, now)) for limit in policy.limits]
    # A RedisError here becomes 503 with Retry-After (api/problems.py).
    values = await ctx.state.redis.mget(keys) if keys else []
    return BudgetReport(
        time_zone=time_zone, alert_thresholds=list(policy.alert_thresholds),
        limits=[_status(limit, max(int(v or 0), 0), now) for limit, v in zip(policy.limits, values, strict=True)],
    )  # fmt: skip
