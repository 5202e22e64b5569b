from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Identity, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned, tenant_created_indexed


class Conversation(TenantOwned, Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_tenant_created", "tenant_id", "created_at", "id"),)

    channel_account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("channel_accounts.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    workflow_id: Mapped[str] = mapped_column(String(300), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    needs_human: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    handoff_reason: Mapped[str | None] = mapped_column(Text)
    # Who on the team has the conversation (a takeover), and since when it waits for a person.
    assigned_agent_id: Mapped[str | None] = mapped_column(String(200))
    handed_over_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Message(TenantOwned, Base):
    """One message in or out.

    Inbound rows are unique per (channel account, channel message id): a channel's redelivery
    can never create a second row. Outbound rows are unique by idempotency key (workflow + turn),
    so a retried activity finds the row it already wrote.
    """

    __tablename__ = "messages"
    _tenant_created, tenant_id = tenant_created_indexed(__tablename__)
    __table_args__ = (
        _tenant_created,
        Index(
            "uq_messages_inbound_external_id",
            "channel_account_id",
            "external_id",
            unique=True,
            postgresql_where=text("direction = 'inbound'"),
        ),
        Index(
            "uq_messages_idempotency_key",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index("ix_messages_provider_message_id", "channel_account_id", "provider_message_id"),
        Index("ix_messages_conversation_seq", "conversation_id", "seq"),
    )

    # Messages written in one transaction share created_at; seq gives their true order.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    channel_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    direction: Mapped[str] = mapped_column(String(8), nullable=False)  # inbound | outbound
    # Web chat ids are "{session}:{client id}", up to 128 + 1 + 128 characters.
    external_id: Mapped[str | None] = mapped_column(String(300))
    idempotency_key: Mapped[str | None] = mapped_column(String(400))
    # The turn that wrote the row: lets a retried activity tell its own earlier write from a
    # genuine redelivery of the same channel message.
    turn_id: Mapped[str | None] = mapped_column(String(64))
    reply_to_external_id: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    content: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="received")
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set just before each call to the channel: a retry that finds it set (and no
    # provider_message_id) knows an earlier attempt may have got through.
    send_attempted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MessageStatusEvent(TenantOwned, Base):
    """A delivery receipt from a channel (sent/delivered/read/failed), kept even when it arrives
    before the outbound message row it refers to has been recorded."""

    __tablename__ = "message_status_events"
    _tenant_created, tenant_id = tenant_created_indexed(__tablename__)
    __table_args__ = (
        _tenant_created,
        Index(
            "uq_message_status_events_dedup",
            "channel_account_id",
            "provider_message_id",
            "status",
            unique=True,
        ),
        Index(
            "ix_message_status_events_client_reference",
            "channel_account_id",
            "client_reference",
            postgresql_where=text("client_reference IS NOT NULL"),
        ),
    )

    channel_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    provider_message_id: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    # Our outbound idempotency key when the channel echoes it (see channels/base.StatusUpdate).
    client_reference: Mapped[str | None] = mapped_column(String(512))
