"""Shared steps of the agent tests: chatting over the web-chat API, and a customer's order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import select

from models.commerce import Order
from models.conversations import Conversation, Message

RATE_LIMIT_RETRIES = 5


async def chat(http, account_id: str, session: str, text: str, reply_payload: str | None = None, message_id: str | None = None) -> dict:
    body = {"session_id": session, "client_message_id": message_id or uuid.uuid4().hex, "text": text}
    if reply_payload:
        body["reply_payload"] = reply_payload
    response = await http.post(f"/v1/webchat/{account_id}/messages", json=body)
    for _ in range(RATE_LIMIT_RETRIES):  # as the widget does: a burst past the session's limit waits and resends
        if response.status_code != 429:
            break
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
        response = await http.post(f"/v1/webchat/{account_id}/messages", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def conversation_of(deps, tenant_id: str, workflow_suffix: str) -> Conversation:
    async with deps.sessions() as session:
        return await session.scalar(
            select(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant_id), Conversation.workflow_id.endswith(workflow_suffix))
        )


async def outbound_texts(deps, conversation_id: uuid.UUID) -> list[str]:
    async with deps.sessions() as session:
        rows = await session.scalars(
            select(Message.text).where(Message.conversation_id == conversation_id, Message.direction == "outbound").order_by(Message.seq)
        )
        return list(rows)


async def give_order(deps, tenant_id: str, customer_id: uuid.UUID | None, number: str = "#1001", **fields) -> uuid.UUID:
    """An order of the customer's, as a store webhook would have left it: paid, not shipped."""
    values = {
        "channel_account_id": uuid.uuid4(),  # the store it came from
        "external_id": uuid.uuid4().hex[:16],  # the store's order id
        "status": "open",
        "financial_status": "paid",
        "fulfillment_status": None,
        "total": Decimal("59.90"),
        "currency": "EUR",
        "items": [{"title": "Trail shoes", "quantity": 1, "price": "59.90"}],
        "tracking": [],
        **fields,
    }
    order = Order(
        tenant_id=uuid.UUID(tenant_id),
        source="shopify",
        number=number,
        customer_id=customer_id,
        placed_at=datetime(2026, 11, 1, tzinfo=timezone.utc),
        **values,
    )
    async with deps.sessions.begin() as session:
        session.add(order)
    return order.id


async def order_state(deps, order_id: uuid.UUID) -> tuple[str, str | None]:
    async with deps.sessions() as session:
        order = await session.get(Order, order_id)
        return order.status, order.financial_status
