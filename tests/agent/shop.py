"""A shop's customers and orders for the tool tests, made through the product's own paths: the
customer and conversation as an inbound WhatsApp message makes them, orders as a store webhook
upserts them (linked to that customer by phone number)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.tools.registry import ToolContext
from channels.commerce import NormalisedCustomer, NormalisedOrder, OrderLine, Tracking
from core.ids import conversation_workflow_id
from models.agent_tools import OrderAction
from models.commerce import Order
from models.commerce_store import Store, upsert_order
from models.messages_store import ensure_conversation, ensure_customer
from tests.factories import TestTenant, new_phone

SHOES = OrderLine(title="Trail shoes", quantity=1, sku="TS-42", price="39.95")
SOCKS = OrderLine(title="Wool socks", quantity=1, sku="WS-1", price="19.95")


@dataclass
class Shopper:
    tenant_id: str
    conversation_id: str
    customer_id: str
    phone: str  # E.164
    store_id: uuid.UUID  # the shop's store account

    def context(self, key: str | None = None, **services) -> ToolContext:
        return ToolContext(
            tenant_id=self.tenant_id, conversation_id=self.conversation_id, customer_id=self.customer_id, channel="whatsapp",
            idempotency_key=key or f"test:{uuid.uuid4()}", services=services,
        )  # fmt: skip


async def new_shopper(
    sessions: async_sessionmaker[AsyncSession], tenant: TestTenant, name: str = "Asha Rao", store_id: uuid.UUID | None = None
) -> Shopper:
    tenant_id = uuid.UUID(tenant.tenant_id)
    contact = new_phone()
    async with sessions.begin() as session:
        customer_id = await ensure_customer(session, tenant_id, "whatsapp", contact, name)
        workflow_id = conversation_workflow_id(tenant.tenant_id, tenant.whatsapp_id, contact)
        conversation_id = await ensure_conversation(session, tenant_id, uuid.UUID(tenant.whatsapp_id), customer_id, workflow_id)
    return Shopper(tenant.tenant_id, str(conversation_id), str(customer_id), "+" + contact, store_id or uuid.uuid4())


async def add_order(
    sessions: async_sessionmaker[AsyncSession],
    shopper: Shopper,
    number: str,
    *,
    status: str = "open",
    financial_status: str | None = "paid",
    fulfillment_status: str | None = None,
    total: str | None = "59.90",
    currency: str = "EUR",
    items: tuple[OrderLine, ...] = (SHOES, SOCKS),
    tracking: tuple[Tracking, ...] = (),
    placed_days_ago: float = 1,
) -> uuid.UUID:
    now = datetime.now(UTC)
    order = NormalisedOrder(
        external_id=str(uuid.uuid4()), number=number, status=status, updated_at=now,
        customer=NormalisedCustomer(phone=shopper.phone, name="Asha Rao"), financial_status=financial_status,
        fulfillment_status=fulfillment_status, total=Decimal(total) if total is not None else None, currency=currency,
        items=list(items), tracking=list(tracking), placed_at=now - timedelta(days=placed_days_ago),
    )  # fmt: skip
    async with sessions.begin() as session:
        outcome = await upsert_order(session, uuid.UUID(shopper.tenant_id), Store(shopper.store_id, "shopify"), order)
    assert outcome.result == "applied" and str(outcome.customer_id) == shopper.customer_id, outcome
    return outcome.order_id


async def order_row(sessions: async_sessionmaker[AsyncSession], order_id: uuid.UUID) -> Order:
    async with sessions() as session:
        return await session.scalar(select(Order).where(Order.id == order_id))


async def order_actions(sessions: async_sessionmaker[AsyncSession], order_id: uuid.UUID) -> list[tuple[str, Decimal | None, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(OrderAction.kind, OrderAction.amount, OrderAction.status)
            .where(OrderAction.order_id == order_id)
            .order_by(OrderAction.created_at)
        )
    return [tuple(r) for r in rows]
