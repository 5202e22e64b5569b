"""A tenant's retention period (TenantSettings.retention_days) applied to what its customers
wrote: messages, delivery receipts, knowledge-search queries, conversation summaries, tool calls
and intent samples still waiting for review.

Deduplication outlives the retention period where it must. Meta redelivers a webhook for up to
seven days, and the messages table's unique index on the channel's message id is what turns a
redelivery into a no-op; so a message inside DEDUP_GUARD is redacted (text and content blanked,
the row kept as the guard) and deleted once past it. Tool calls are likewise kept until then:
their row is what stops a retried call from refunding twice. An outbound message still
"pending" is never touched: its send may still be retrying and reads the text from the row.

Every statement removes at most `limit` rows, so one tenant's purge is many short
transactions, never one that locks a big table for minutes. The oldest go first: ORDER BY
created_at also keeps PostgreSQL on the (tenant_id, created_at) index. Without it, where other
tenants keep years of old rows, the planner expected this tenant's old rows everywhere and
scanned the whole table each hourly pass (bench/retention.py: 0.37 s at 2M messages).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

DEDUP_GUARD = timedelta(days=8)
Counts = TypeVar("Counts")

_MESSAGE_SETTLED = "(direction = 'inbound' OR status <> 'pending')"

# (counter, statement). :tenant, :cutoff (the retention period's start), :guard (now minus
# DEDUP_GUARD), :past_both (the older of the two) and :limit are bound per call.
_STATEMENTS = (
    ("messages_deleted", f"""
        DELETE FROM messages WHERE id IN (
            SELECT id FROM messages
            WHERE tenant_id = :tenant AND created_at < :past_both AND {_MESSAGE_SETTLED}
            ORDER BY created_at LIMIT :limit)"""),
    ("messages_redacted", f"""
        UPDATE messages SET text = '', content = '{{}}'::jsonb, error = NULL WHERE id IN (
            SELECT id FROM messages
            WHERE tenant_id = :tenant AND created_at < :cutoff AND created_at >= :guard AND {_MESSAGE_SETTLED}
              AND (text <> '' OR content <> '{{}}'::jsonb OR error IS NOT NULL)
            ORDER BY created_at LIMIT :limit)"""),
    ("receipts_deleted", """
        DELETE FROM message_status_events WHERE id IN (
            SELECT id FROM message_status_events WHERE tenant_id = :tenant AND created_at < :cutoff ORDER BY created_at LIMIT :limit)"""),
    ("searches_deleted", """
        DELETE FROM retrieval_events WHERE id IN (
            SELECT id FROM retrieval_events WHERE tenant_id = :tenant AND created_at < :cutoff LIMIT :limit)"""),
    ("summaries_deleted", """
        DELETE FROM conversation_memories WHERE id IN (
            SELECT m.id FROM conversation_memories m JOIN conversations c ON c.id = m.conversation_id
            WHERE m.tenant_id = :tenant AND COALESCE(c.last_message_at, c.created_at) < :cutoff LIMIT :limit)"""),
    ("tool_calls_deleted", """
        DELETE FROM tool_calls WHERE id IN (
            SELECT id FROM tool_calls WHERE tenant_id = :tenant AND created_at < :past_both ORDER BY created_at LIMIT :limit)"""),
    # Samples harvested from conversations and never reviewed; approved ones are the tenant's
    # training data, chosen on purpose, and stay.
    ("pending_samples_deleted", """
        DELETE FROM training_samples WHERE id IN (
            SELECT id FROM training_samples
            WHERE tenant_id = :tenant AND source = 'conversation' AND status = 'pending' AND created_at < :cutoff
            LIMIT :limit)"""),
)


@dataclass
class PurgeCounts:
    messages_deleted: int = 0
    messages_redacted: int = 0
    receipts_deleted: int = 0
    searches_deleted: int = 0
    summaries_deleted: int = 0
    tool_calls_deleted: int = 0
    pending_samples_deleted: int = 0
    media_files_deleted: int = 0

    def add(self, other: PurgeCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


async def tenants_with_retention(session: AsyncSession, after: uuid.UUID | None, limit: int) -> list[tuple[uuid.UUID, int]]:
    """(tenant, retention days) of the tenants that set a period, in id order after `after`;
    a suspended tenant's data ages out too."""
    rows = await session.execute(
        text("""
            SELECT id, (settings->>'retention_days')::int FROM tenants
            WHERE jsonb_typeof(settings->'retention_days') = 'number'
              AND (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid))
            ORDER BY id LIMIT :limit"""),
        {"after": after, "limit": limit},
    )
    return [(tenant_id, days) for tenant_id, days in rows]


async def purge_step(session: AsyncSession, tenant_id: uuid.UUID, cutoff: datetime, guard: datetime, limit: int) -> PurgeCounts:
    """Up to `limit` rows of each kind past the period; the caller repeats until a step comes
    back with every count under `limit`."""
    params = {"tenant": tenant_id, "cutoff": cutoff, "guard": guard, "past_both": min(cutoff, guard), "limit": limit}
    return await execute_counted(session, _STATEMENTS, params, PurgeCounts())


async def execute_counted(session: AsyncSession, statements: tuple[tuple[str, str], ...], params: dict, counts: Counts) -> Counts:
    """Runs each (counter, statement) in order with `params`; each counter gets its rows."""
    for name, statement in statements:
        result = await session.execute(text(statement), params)
        setattr(counts, name, result.rowcount or 0)
    return counts
