"""What the agent's tools record: the audit of every call, and the things the calls create
(tickets, order cancellations and refunds, payment requests, follow-ups).

Order actions and payment intents are Frontdesk's own records: no store or payment provider is
called (Shopify/Magento refunds are not wired). The tools say so in their results.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned, tenant_created_indexed

TOOL_CALL_STATUSES = ("ok", "refused", "invalid", "error")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_STATUSES = ("open", "pending", "solved")
ORDER_ACTION_KINDS = ("cancel", "refund")
ORDER_ACTION_STATUSES = ("requested", "done")
FOLLOWUP_STATUSES = ("scheduled", "sent", "cancelled")


def _one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=name)


class ToolCall(TenantOwned, Base):
    """One call of a tool by the model, under the idempotency key the workflow gave it: a retry
    of the activity finds this row and returns its result instead of acting twice."""

    __tablename__ = "tool_calls"
    _tenant_created, tenant_id = tenant_created_indexed(__tablename__)
    __table_args__ = (
        _tenant_created,
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_tool_calls_conversation_created", "conversation_id", "created_at", "id"),
        # "running" exists only inside the transaction that inserts the row and runs the tool:
        # that transaction ends with the final status or rolls back, so it is never seen.
        _one_of("status", ("running", *TOOL_CALL_STATUSES), "status"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    idempotency_key: Mapped[str] = mapped_column(String(400), nullable=False)
    call_id: Mapped[str] = mapped_column(String(128), nullable=False)  # the model's id for the call
    tool: Mapped[str] = mapped_column(String(64), nullable=False)
    arguments: Mapped[Any] = mapped_column(JSONB, nullable=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int | None] = mapped_column(Integer)


class Ticket(TenantOwned, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_tenant_customer_status", "tenant_id", "customer_id", "status"),
        _one_of("priority", TICKET_PRIORITIES, "priority"),
        _one_of("status", TICKET_STATUSES, "status"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    )
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    priority: Mapped[str] = mapped_column(String(8), nullable=False, default="normal")
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="open")
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)  # "agent", or who made it by hand


class OrderAction(TenantOwned, Base):
    """A cancellation or refund asked for through the agent. "requested": recorded here only;
    "done": carried out at the store (set once a store integration confirms it)."""

    __tablename__ = "order_actions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),  # one action per tool call, whatever happens upstream
        _one_of("kind", ORDER_ACTION_KINDS, "kind"),
        _one_of("status", ORDER_ACTION_STATUSES, "status"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount_not_negative"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="requested")
    idempotency_key: Mapped[str] = mapped_column(String(400), nullable=False)  # the tool call's


class PaymentIntent(TenantOwned, Base):
    """A payment asked of the customer: a Stripe Checkout link when the tenant has a Stripe
    account connected (activities/store_sync.py), else a record the team acts on.
    Status: requires_payment → awaiting_payment (link sent) → paid (Stripe's webhook)."""

    __tablename__ = "payment_intents"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="SET NULL")
    )
    order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("orders.id", ondelete="SET NULL"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="requires_payment")
    provider: Mapped[str | None] = mapped_column(String(16))  # "stripe"
    provider_ref: Mapped[str | None] = mapped_column(String(255))  # the Checkout Session id
    payment_url: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Followup(TenantOwned, Base):
    """A message to send the customer later; the conversation workflow holds the durable timer."""

    __tablename__ = "followups"
    __table_args__ = (
        Index("ix_followups_conversation_status", "conversation_id", "status"),
        _one_of("status", FOLLOWUP_STATUSES, "status"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="scheduled")
