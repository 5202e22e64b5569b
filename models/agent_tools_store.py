"""Queries behind the agent's tools, each confined to one tenant and, for customer data, to one
customer: the tools pass the conversation's own ids, never ids the model chose.

They run in the tool activity's transaction (activities/tools.py), which PostgreSQL row-level
security already confines to the tenant; the explicit tenant filters keep them correct when a
platform path calls them too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from models.agent_tools import Followup, OrderAction, PaymentIntent, Ticket, ToolCall
from models.commerce import Order
from models.conversations import Conversation
from models.customers import Customer, CustomerIdentity

OPEN_TICKET_STATUSES = ("open", "pending")


# --- the call audit -------------------------------------------------------------------------


async def conversation_customer(session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> uuid.UUID | None:
    """The customer of the tenant's conversation; None when the tenant has no such conversation."""
    return await session.scalar(
        select(Conversation.customer_id).where(Conversation.tenant_id == tenant_id, Conversation.id == conversation_id)
    )


async def claim_tool_call(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    idempotency_key: str,
    call_id: str,
    tool: str,
    arguments: Any,
    status: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    latency_ms: int | None = None,
) -> uuid.UUID | None:
    """Records a call; None when one with this key exists. A concurrent attempt with the same
    key waits here on the unique index until the first commits (then None) or rolls back."""
    return await session.scalar(
        insert(ToolCall)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            idempotency_key=idempotency_key,
            call_id=call_id,
            tool=tool,
            arguments=arguments,
            status=status,
            result=result,
            error=error,
            latency_ms=latency_ms,
        )  # fmt: skip
        .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
        .returning(ToolCall.id)
    )


async def stored_tool_call(session: AsyncSession, tenant_id: uuid.UUID, idempotency_key: str) -> ToolCall | None:
    return await session.scalar(
        select(ToolCall).where(ToolCall.tenant_id == tenant_id, ToolCall.idempotency_key == idempotency_key)
    )


async def finish_tool_call(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    row_id: uuid.UUID,
    *,
    status: str,
    result: dict[str, Any],
    error: str | None,
    latency_ms: int,
) -> None:
    await session.execute(
        update(ToolCall)
        .where(ToolCall.tenant_id == tenant_id, ToolCall.id == row_id)
        .values(status=status, result=result, error=error, latency_ms=latency_ms)
    )


def conversation_tool_calls(tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> Select:
    return select(ToolCall).where(ToolCall.tenant_id == tenant_id, ToolCall.conversation_id == conversation_id)


async def conversation_exists(session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
    return await conversation_customer(session, tenant_id, conversation_id) is not None


# --- customers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerProfile:
    customer: Customer
    identities: list[tuple[str, str]]  # (channel, external id), oldest first
    order_count: int
    open_tickets: list[Ticket]


async def customer_profile(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID, ticket_limit: int = 10
) -> CustomerProfile | None:
    customer = await session.scalar(select(Customer).where(Customer.tenant_id == tenant_id, Customer.id == customer_id))
    if customer is None:
        return None
    identities = (
        await session.execute(
            select(CustomerIdentity.channel, CustomerIdentity.external_id)
            .where(CustomerIdentity.tenant_id == tenant_id, CustomerIdentity.customer_id == customer_id)
            .order_by(CustomerIdentity.created_at, CustomerIdentity.id)
        )
    ).all()
    order_count = await session.scalar(
        select(func.count()).select_from(Order).where(Order.tenant_id == tenant_id, Order.customer_id == customer_id)
    )
    tickets = await session.scalars(
        select(Ticket)
        .where(Ticket.tenant_id == tenant_id, Ticket.customer_id == customer_id, Ticket.status.in_(OPEN_TICKET_STATUSES))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(ticket_limit)
    )
    return CustomerProfile(customer, [(c, e) for c, e in identities], order_count or 0, list(tickets))


async def add_ticket(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    conversation_id: uuid.UUID | None,
    subject: str,
    description: str,
    priority: str,
    created_by: str,
) -> Ticket:
    ticket = Ticket(
        id=uuid.uuid4(), tenant_id=tenant_id, customer_id=customer_id, conversation_id=conversation_id, subject=subject,
        description=description, priority=priority, status="open", created_by=created_by,
    )  # fmt: skip
    session.add(ticket)
    await session.flush()
    return ticket


# --- orders ---------------------------------------------------------------------------------


def order_number_key(number: str) -> str:
    """What two spellings of one order number share: "#1001", "1001" and " #1001 " all give
    "1001"; Magento's "000000042" and "42" both give "42"."""
    return number.strip().lstrip("#").strip().lstrip("0").lower()


def _stored_number_key() -> Any:
    return func.lower(func.ltrim(func.btrim(func.ltrim(func.btrim(Order.number), "#")), "0"))


async def customer_orders(session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID, limit: int) -> list[Order]:
    """Newest first; orders a store sent without a date go after the dated ones."""
    return list(
        await session.scalars(
            select(Order)
            .where(Order.tenant_id == tenant_id, Order.customer_id == customer_id)
            .order_by(Order.placed_at.desc().nulls_last(), Order.created_at.desc(), Order.id.desc())
            .limit(limit)
        )
    )


async def customer_orders_numbered(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID, number: str, *, for_update: bool = False
) -> list[Order]:
    """This customer's orders with this number (two stores of one tenant may both have a #1001).
    `for_update` locks them: a cancel and a refund of one order, or two refunds, then run one
    after the other and each sees what the other did."""
    key = order_number_key(number)
    if not key:
        return []
    query = (
        select(Order)
        .where(Order.tenant_id == tenant_id, Order.customer_id == customer_id, _stored_number_key() == key)
        .order_by(Order.placed_at.desc().nulls_last(), Order.id)
    )
    if for_update:
        query = query.with_for_update()
    return list(await session.scalars(query))


async def refunded_amount(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID) -> Decimal:
    """What the agent has refunded on this order so far (requested or done)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(OrderAction.amount), 0)).where(
            OrderAction.tenant_id == tenant_id, OrderAction.order_id == order_id, OrderAction.kind == "refund"
        )
    )
    return Decimal(total)


async def add_order_action(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    order: Order,
    kind: str,
    amount: Decimal | None,
    reason: str | None,
    idempotency_key: str,
) -> OrderAction:
    action = OrderAction(
        id=uuid.uuid4(), tenant_id=tenant_id, order_id=order.id, kind=kind, amount=amount, currency=order.currency,
        reason=reason, status="requested", idempotency_key=idempotency_key,
    )  # fmt: skip
    session.add(action)
    await session.flush()
    return action


async def set_order_state(session: AsyncSession, tenant_id: uuid.UUID, order: Order, **values: str) -> None:
    """Changes our copy of the order only. source_updated_at stays as the store last set it, so
    the store's next webhook about this order still applies (the store stays the truth)."""
    await session.execute(
        update(Order).where(Order.tenant_id == tenant_id, Order.id == order.id).values(**values, updated_at=func.now())
    )
    for name, value in values.items():
        set_committed_value(order, name, value)  # what the row now holds; nothing left to flush


# --- payments and follow-ups ----------------------------------------------------------------


async def add_payment_intent(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    conversation_id: uuid.UUID | None,
    order_id: uuid.UUID | None,
    amount: Decimal,
    currency: str,
    description: str,
) -> PaymentIntent:
    intent = PaymentIntent(
        id=uuid.uuid4(), tenant_id=tenant_id, customer_id=customer_id, conversation_id=conversation_id, order_id=order_id,
        amount=amount, currency=currency, description=description, status="requires_payment",
    )  # fmt: skip
    session.add(intent)
    await session.flush()
    return intent


async def add_followup(
    session: AsyncSession, *, tenant_id: uuid.UUID, conversation_id: uuid.UUID, due_at: datetime, message: str
) -> Followup:
    followup = Followup(
        id=uuid.uuid4(), tenant_id=tenant_id, conversation_id=conversation_id, due_at=due_at, message=message, status="scheduled"
    )
    session.add(followup)
    await session.flush()
    return followup


async def finish_followup(session: AsyncSession, tenant_id: uuid.UUID, followup_id: uuid.UUID, *, sent: bool) -> bool:
    """Marks a due follow-up sent (or cancelled: a person had the conversation). Only a scheduled
    one changes, so a retried mark is a no-op; False when nothing was scheduled under that id."""
    result = await session.execute(
        update(Followup)
        .where(Followup.tenant_id == tenant_id, Followup.id == followup_id, Followup.status == "scheduled")
        .values(status="sent" if sent else "cancelled")
    )
    return result.rowcount == 1
