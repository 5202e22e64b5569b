"""Tenant-scoped reads and writes for conversation memory, and the reads the context builder needs
(turns with their order and time, the customer's profile and recent orders).

Every function takes the tenant id and filters on it, so a conversation id from another tenant
finds nothing; callers also run these inside `tenant_transaction`, where row-level security says
the same a second time.

A returning customer's previous topic is a query over the memories of the customer's
conversations, not a per-customer copy: the conversation rows already say whose they are (a
customer merged across channels by phone number gets all of them at once), and a copy would be
one more row to keep in step with every summary written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from agent.context import Turn
from models.commerce import Order
from models.conversation_memory import ConversationMemory
from models.conversations import Conversation, Message

_MEMORIES = ConversationMemory.__table__
_MESSAGES = Message.__table__


@dataclass(frozen=True)
class Memory:
    conversation_id: uuid.UUID
    summary: str
    summarised_through_seq: int
    key_facts: dict[str, Any]
    last_topic: str | None
    updated_at: datetime


@dataclass(frozen=True)
class OrderSummary:
    number: str
    status: str
    financial_status: str | None
    fulfillment_status: str | None
    total: Decimal | None
    currency: str | None
    placed_at: datetime | None


def _memory(row: Any) -> Memory:
    return Memory(
        conversation_id=row.conversation_id,
        summary=row.summary,
        summarised_through_seq=row.summarised_through_seq,
        key_facts=dict(row.key_facts or {}),
        last_topic=row.last_topic,
        updated_at=row.updated_at,
    )


async def load_memory(session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> Memory | None:
    m = _MEMORIES.c
    row = (await session.execute(select(_MEMORIES).where(m.tenant_id == tenant_id, m.conversation_id == conversation_id))).first()
    return _memory(row) if row else None


async def save_summary(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    summary: str,
    key_facts: dict[str, Any],
    last_topic: str | None,
    through_seq: int,
) -> bool:
    """Stores the summary of the conversation's messages up to `through_seq`; True when stored.

    Only a summary reaching further than the stored one replaces it: a retry of the same summary
    is a no-op, and one that arrives late with an older seq (Temporal retried a slow attempt
    after a newer summary landed) changes nothing. Nothing is stored for a conversation that is
    not this tenant's."""
    m = _MEMORIES.c
    c = Conversation.__table__.c
    values = select(
        literal(uuid.uuid4()).label("id"),
        c.tenant_id,
        c.id,
        literal(summary).label("summary"),
        literal(through_seq).label("summarised_through_seq"),
        literal(key_facts, type_=JSONB).label("key_facts"),
        literal(last_topic).label("last_topic"),
        func.now(),
    ).where(c.tenant_id == tenant_id, c.id == conversation_id)
    statement = insert(_MEMORIES).from_select(
        ["id", "tenant_id", "conversation_id", "summary", "summarised_through_seq", "key_facts", "last_topic", "updated_at"],
        values,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["conversation_id"],
        set_={
            "summary": statement.excluded.summary,
            "summarised_through_seq": statement.excluded.summarised_through_seq,
            "key_facts": statement.excluded.key_facts,
            "last_topic": statement.excluded.last_topic,
            "updated_at": func.now(),
        },
        where=(m.summarised_through_seq < statement.excluded.summarised_through_seq)
        & (m.tenant_id == statement.excluded.tenant_id),
    ).returning(m.id)
    return (await session.scalar(statement)) is not None


async def previous_memory(session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> Memory | None:
    """The newest memory with a topic among all the customer's conversations (any channel)."""
    m, c = _MEMORIES.c, Conversation.__table__.c
    row = (
        await session.execute(
            select(_MEMORIES)
            .join(Conversation.__table__, c.id == m.conversation_id)
            .where(c.tenant_id == tenant_id, c.customer_id == customer_id, m.tenant_id == tenant_id, m.last_topic.is_not(None))
            .order_by(m.updated_at.desc(), m.id)
            .limit(1)
        )
    ).first()
    return _memory(row) if row else None


async def conversation_customer(session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> uuid.UUID | None:
    """Whose conversation it is; None when the tenant has no such conversation."""
    c = Conversation.__table__.c
    return await session.scalar(select(c.customer_id).where(c.tenant_id == tenant_id, c.id == conversation_id))


def _turn(row: Any) -> Turn:
    return Turn(seq=row.seq, role="user" if row.direction == "inbound" else "assistant", text=row.text, created_at=row.created_at)


async def recent_turns(session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, limit: int) -> list[Turn]:
    """The last `limit` messages, oldest first, with their seq and time."""
    m = _MESSAGES.c
    rows = (
        await session.execute(
            select(m.seq, m.direction, m.text, m.created_at)
            .where(m.tenant_id == tenant_id, m.conversation_id == conversation_id)
            .order_by(m.seq.desc())
            .limit(limit)
        )
    ).all()
    return [_turn(r) for r in reversed(rows)]


async def turns_to_summarise(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, *, after_seq: int, through_seq: int, limit: int = 80
) -> list[Turn]:
    """Messages with after_seq < seq <= through_seq, oldest first; at most the newest `limit` of
    them (a summary folds the rest in over later refreshes, newest first is what matters)."""
    m = _MESSAGES.c
    rows = (
        await session.execute(
            select(m.seq, m.direction, m.text, m.created_at)
            .where(
                m.tenant_id == tenant_id,
                m.conversation_id == conversation_id,
                m.seq > after_seq,
                m.seq <= through_seq,
                m.text != "",
            )
            .order_by(m.seq.desc())
            .limit(limit)
        )
    ).all()
    return [_turn(r) for r in reversed(rows)]


async def recent_orders(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID, limit: int = 3
) -> list[OrderSummary]:
    rows = (
        await session.execute(
            select(
                Order.number,
                Order.external_id,
                Order.status,
                Order.financial_status,
                Order.fulfillment_status,
                Order.total,
                Order.currency,
                Order.placed_at,
            )  # fmt: skip
            .where(Order.tenant_id == tenant_id, Order.customer_id == customer_id)
            .order_by(Order.placed_at.desc().nulls_last(), Order.created_at.desc(), Order.id)
            .limit(limit)
        )
    ).all()
    return [
        OrderSummary(
            number=r.number or r.external_id,
            status=r.status,
            financial_status=r.financial_status,
            fulfillment_status=r.fulfillment_status,
            total=r.total,
            currency=r.currency,
            placed_at=r.placed_at,
        )  # fmt: skip
        for r in rows
    ]
