"""Inbound messages the API has acknowledged but not yet seen Temporal accept.

The webhook answers the channel as soon as a message is committed here (a few milliseconds)
instead of waiting for Temporal, whose single writer is busy with turns under load. The API
then hands each message to its conversation workflow and deletes the row; rows a crash or a
Temporal outage left behind are handed over again by the journal drainer
(api/inbound_handoff.py). A message handed over twice is dropped by the workflow's
recent-id set and the messages table's unique index, so replays cannot duplicate a reply.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from sqlalchemy import Index, String, delete, func, select
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from channels.base import InboundMessage
from models.base import Base, TenantOwned


class InboundJournalEntry(TenantOwned, Base):
    __tablename__ = "inbound_journal"
    __table_args__ = (
        # A redelivery that arrives while the first copy is still waiting adds nothing.
        Index("uq_inbound_journal_message", "channel_account_id", "external_id", unique=True),
        Index("ix_inbound_journal_created_at", "created_at"),
    )

    channel_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    external_id: Mapped[str] = mapped_column(String(512), nullable=False)
    message: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    attempts: Mapped[int] = mapped_column(nullable=False, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(500))


_JOURNAL = InboundJournalEntry.__table__


# Built once: executed with one parameter set per message, it is compiled once and cached
# (a `.values([...])` statement is a new statement per call and was compiled every time).
_RECORD = insert(_JOURNAL).on_conflict_do_nothing().returning(_JOURNAL.c.id, _JOURNAL.c.external_id)


async def record(
    session: AsyncSession, tenant_id: uuid.UUID, channel_account_id: uuid.UUID, messages: list[InboundMessage]
) -> list[tuple[uuid.UUID, InboundMessage]]:
    """Journals the messages; returns the ones that were not already waiting, with their row ids."""
    if not messages:
        return []
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "channel_account_id": channel_account_id,
            "external_id": m.external_id,
            "message": asdict(m),
        }
        for m in messages
    ]
    inserted = {external_id: row_id for row_id, external_id in (await session.execute(_RECORD, rows)).all()}
    return [(inserted[m.external_id], m) for m in messages if m.external_id in inserted]


async def forget(session: AsyncSession, row_ids: list[uuid.UUID]) -> None:
    """Temporal has accepted these."""
    if row_ids:
        await session.execute(delete(_JOURNAL).where(_JOURNAL.c.id.in_(row_ids)))


async def claim_waiting(session: AsyncSession, older_than: timedelta, limit: int) -> list[tuple[uuid.UUID, InboundMessage]]:
    """Rows left waiting longer than `older_than`, oldest first, locked for this transaction.
    SKIP LOCKED lets several API processes drain side by side without handing one row twice."""
    statement = (
        select(_JOURNAL.c.id, _JOURNAL.c.message)
        .where(_JOURNAL.c.created_at < func.now() - older_than)
        .order_by(_JOURNAL.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(row_id, InboundMessage.from_dict(message)) for row_id, message in (await session.execute(statement)).all()]


async def note_failure(session: AsyncSession, row_ids: list[uuid.UUID], error: str) -> None:
    if row_ids:
        await session.execute(
            _JOURNAL.update().where(_JOURNAL.c.id.in_(row_ids)).values(attempts=_JOURNAL.c.attempts + 1, last_error=error[:500])
        )


async def waiting_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(_JOURNAL)) or 0)
