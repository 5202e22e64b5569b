"""Reading a tenant's conversations and their messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from api.auth import Ctx, Scoped
from api.pagination import CursorQuery, LimitQuery, Page, decode_int_cursor, encode_cursor, newest_first, page_of
from api.problems import Problem
from core.scopes import Scope
from models.channel_accounts import ChannelAccount
from models.conversations import Conversation, Message
from models.customers import Customer

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
Reader = Annotated[Ctx, Depends(Scoped(Scope.CONVERSATIONS_READ))]


class ConversationOut(BaseModel):
    id: uuid.UUID
    channel: str
    channel_account_id: uuid.UUID
    customer_id: uuid.UUID
    customer_name: str | None
    status: str
    needs_human: bool
    handoff_reason: str | None
    assigned_agent_id: str | None
    handed_over_at: datetime | None
    last_message_at: datetime | None
    created_at: datetime


class MessageOut(BaseModel):
    id: uuid.UUID
    seq: int
    direction: Literal["inbound", "outbound"]
    text: str
    content: dict[str, Any]
    status: str
    external_id: str | None
    provider_message_id: str | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None


def conversations_query(tenant_id: uuid.UUID):
    """Conversations with their channel and customer name; routes add filters and paging."""
    return (
        select(Conversation, ChannelAccount.channel, Customer.display_name)
        .join(ChannelAccount, ChannelAccount.id == Conversation.channel_account_id)
        .join(Customer, Customer.id == Conversation.customer_id)
        .where(Conversation.tenant_id == tenant_id)
    )


def conversation_out(row: Any) -> ConversationOut:
    c, channel, name = row
    return ConversationOut(
        id=c.id, channel=channel, channel_account_id=c.channel_account_id, customer_id=c.customer_id, customer_name=name,
        status=c.status, needs_human=c.needs_human, handoff_reason=c.handoff_reason, last_message_at=c.last_message_at,
        assigned_agent_id=c.assigned_agent_id, handed_over_at=c.handed_over_at,
        created_at=c.created_at,
    )  # fmt: skip


@router.get("", response_model=Page[ConversationOut], summary="List conversations, newest first")
async def list_conversations(
    ctx: Reader,
    status: Annotated[Literal["open", "handoff", "assigned", "closed"] | None, Query()] = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    customer_id: Annotated[uuid.UUID | None, Query()] = None,
    needs_human: Annotated[bool | None, Query(description="Only conversations waiting for (or not for) a human.")] = None,
    since: Annotated[datetime | None, Query(description="Started at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Started before (ISO 8601).")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[ConversationOut]:
    query = conversations_query(ctx.tenant_id)
    if status:
        query = query.where(Conversation.status == status)
    if channel:
        query = query.where(ChannelAccount.channel == channel)
    if customer_id:
        query = query.where(Conversation.customer_id == customer_id)
    if needs_human is not None:
        query = query.where(Conversation.needs_human.is_(needs_human))
    if since:
        query = query.where(Conversation.created_at >= since)
    if until:
        query = query.where(Conversation.created_at < until)
    async with ctx.db() as session:
        rows = (await session.execute(newest_first(query, Conversation.created_at, Conversation.id, cursor, limit))).all()
    return page_of(rows, limit, conversation_out, lambda r: (r[0].created_at, r[0].id))


@router.get("/{conversation_id}", response_model=ConversationOut, summary="Read a conversation")
async def get_conversation(conversation_id: uuid.UUID, ctx: Reader) -> ConversationOut:
    async with ctx.db() as session:
        row = (await session.execute(conversations_query(ctx.tenant_id).where(Conversation.id == conversation_id))).first()
    if row is None:
        raise Problem(404, "Not found", f"no conversation {conversation_id}")
    return conversation_out(row)


@router.get("/{conversation_id}/messages", response_model=Page[MessageOut], summary="A conversation's messages, oldest first")
async def list_messages(conversation_id: uuid.UUID, ctx: Reader, cursor: CursorQuery = None, limit: LimitQuery = 100) -> Page[MessageOut]:
    after = decode_int_cursor(cursor)
    async with ctx.db() as session:
        exists = await session.scalar(
            select(Conversation.id).where(Conversation.id == conversation_id, Conversation.tenant_id == ctx.tenant_id)
        )
        if exists is None:
            raise Problem(404, "Not found", f"no conversation {conversation_id}")
        query = select(Message).where(Message.conversation_id == conversation_id, Message.tenant_id == ctx.tenant_id)
        if after is not None:
            query = query.where(Message.seq > after)
        rows = list(await session.scalars(query.order_by(Message.seq).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        MessageOut(
            id=m.id, seq=m.seq, direction=m.direction, text=m.text, content=m.content or {}, status=m.status,
            external_id=m.external_id, provider_message_id=m.provider_message_id, error=m.error,
            created_at=m.created_at, sent_at=m.sent_at,
        )  # fmt: skip
        for m in rows
    ]
    return Page(items=items, next_cursor=encode_cursor(rows[-1].seq) if more and rows else None)
