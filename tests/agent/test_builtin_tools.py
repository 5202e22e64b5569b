"""The built-in tools against the real database: what the customer would be told, what is
recorded, and what a customer can never reach (another customer's orders, another tenant's data)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from agent.tools.builtin import default_registry
from agent.tools.registry import ToolRefused
from channels.commerce import OrderLine, Tracking
from models.agent_tools import Followup, PaymentIntent, Ticket
from models.tenant_db import tenant_transaction
from tests.agent.shop import Shopper, add_order, new_shopper, order_actions, order_row
from tests.factories import create_tenant

TOOLS = default_registry()


async def call(deps, shopper: Shopper, name: str, args: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    tool = TOOLS.get(name)
    assert tool is not None
    async with tenant_transaction(deps.sessions, uuid.UUID(shopper.tenant_id)) as session:
        return await tool.handler(session, shopper.context(key), args)


async def refusal(deps, shopper: Shopper, name: str, args: dict[str, Any]) -> str:
    with pytest.raises(ToolRefused) as caught:
        await call(deps, shopper, name, args)
    return str(caught.value)


async def preview(deps, shopper: Shopper, name: str, args: dict[str, Any]) -> str:
    tool = TOOLS.get(name)
    assert tool is not None and tool.preview is not None
    async with tenant_transaction(deps.sessions, uuid.UUID(shopper.tenant_id)) as session:
        return await tool.preview(session, shopper.context(), args)


@pytest.fixture
async def shopper(deps, tenant) -> Shopper:
    return await new_shopper(deps.sessions, tenant)


async def test_the_profile_shows_the_customer_their_channels_orders_and_open_tickets(deps, tenant, shopper):
    await add_order(deps.sessions, shopper, "#1001")
    await add_order(deps.sessions, shopper, "#1002")
    ticket = await call(
        deps, shopper, "create_ticket", {"subject": "Broken zip", "description": "The zip broke on day one.", "priority": "high"}
    )
    other = await new_shopper(deps.sessions, tenant, name="Someone Else")
    await add_order(deps.sessions, other, "#1003")

    profile = await call(deps, shopper, "get_customer_profile", {})
    assert (profile["name"], profile["phone"], profile["order_count"]) == ("Asha Rao", shopper.phone, 2)
    channels = {i["channel"]: i["id"] for i in profile["identities"]}
    assert channels["whatsapp"] == shopper.phone[1:] and channels["phone"] == shopper.phone
    assert [(t["ticket_id"], t["subject"], t["priority"], t["status"]) for t in profile["open_tickets"]] == [
        (ticket["ticket_id"], "Broken zip", "high", "open")
    ]
    assert (await call(deps, other, "get_customer_profile", {}))["open_tickets"] == []


async def test_orders_are_listed_newest_first_and_only_the_customers_own(deps, tenant, shopper):
    for days, number in ((30, "#1001"), (2, "#1002"), (10, "#1003")):
        await add_order(deps.sessions, shopper, number, placed_days_ago=days)
    other = await new_shopper(deps.sessions, tenant, name="Someone Else")
    await add_order(deps.sessions, other, "#9999", placed_days_ago=0)

    listed = await call(deps, shopper, "list_orders", {})
    assert [o["number"] for o in listed["orders"]] == ["#1002", "#1003", "#1001"] and listed["count"] == 3
    first = listed["orders"][0]
    assert (first["status"], first["total"], first["currency"], first["fulfillment_status"]) == (
        "open",
        "59.90",
        "EUR",
        "unfulfilled",
    )
    assert first["items"] == [{"name": "Trail shoes", "quantity": 1}, {"name": "Wool socks", "quantity": 1}]
    assert datetime.fromisoformat(first["placed_at"]) > datetime.now(UTC) - timedelta(days=3)
    assert [o["number"] for o in (await call(deps, shopper, "list_orders", {"limit": 1}))["orders"]] == ["#1002"]


async def test_tracking_finds_the_order_by_number_with_or_without_hash(deps, shopper):
    parcel = Tracking(number="1Z999AA10123456784", url="https://track.example/1Z999", company="UPS")
    await add_order(deps.sessions, shopper, "#1001", fulfillment_status="fulfilled", tracking=(parcel,))
    for spelling in ("1001", "#1001", " #1001 "):
        tracked = await call(deps, shopper, "track_order", {"order_number": spelling})
        assert tracked["number"] == "#1001" and tracked["shipped"] is True
        assert tracked["tracking"] == [{"number": "1Z999AA10123456784", "url": "https://track.example/1Z999", "company": "UPS"}]
    await add_order(deps.sessions, shopper, "000000042")  # Magento pads its numbers
    assert (await call(deps, shopper, "track_order", {"order_number": "42"}))["number"] == "000000042"


async def test_another_customers_order_looks_exactly_like_no_order(deps, tenant, shopper):
    other = await new_shopper(deps.sessions, tenant, name="Someone Else")
    await add_order(deps.sessions, other, "#5005")
    someone_elses = await refusal(deps, shopper, "track_order", {"order_number": "5005"})
    nobodys = await refusal(deps, shopper, "track_order", {"order_number": "5006"})
    assert someone_elses.replace("5005", "N") == nobodys.replace("5006", "N")
    assert "no order #5005 was found" in someone_elses
    for action, args in (
        ("cancel_order", {}),
        ("refund_order", {}),
        ("create_payment_intent", {"amount": 5, "currency": "EUR", "description": "x"}),
    ):
        message = await refusal(deps, shopper, action, {"order_number": "#5005", **args})
        assert "no order #5005 was found" in message, action


async def test_another_tenants_orders_are_invisible_even_with_the_same_phone(
    deps, tenant, shopper, openai_standin, graph_standin
):
    other_tenant = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    twin = await new_shopper(deps.sessions, other_tenant)
    await add_order(deps.sessions, twin, "#7007")
    assert await refusal(deps, shopper, "track_order", {"order_number": "#7007"})
    assert (await call(deps, shopper, "list_orders", {}))["orders"] == []


async def test_an_open_unshipped_order_is_cancelled_and_recorded_without_touching_the_store(deps, shopper):
    order_id = await add_order(deps.sessions, shopper, "#1001")
    assert (
        await preview(deps, shopper, "cancel_order", {"order_number": "1001"})
        == "Cancel order #1001 (2 items, 59.90 EUR)? Reply yes or no."
    )
    result = await call(deps, shopper, "cancel_order", {"order_number": "1001", "reason": "ordered twice"})
    assert (result["cancelled"], result["status"], result["recorded"], result["store_synced"]) == (True, "cancelled", True, False)
    assert (await order_row(deps.sessions, order_id)).status == "cancelled"
    assert await order_actions(deps.sessions, order_id) == [("cancel", Decimal("59.90"), "requested")]
    assert "already cancelled" in await refusal(deps, shopper, "cancel_order", {"order_number": "1001"})
    assert len(await order_actions(deps.sessions, order_id)) == 1


async def test_a_shipped_order_cannot_be_cancelled(deps, shopper):
    shipped = await add_order(deps.sessions, shopper, "#2001", fulfillment_status="fulfilled")
    partial = await add_order(deps.sessions, shopper, "#2002", fulfillment_status="partial")
    closed = await add_order(deps.sessions, shopper, "#2003", status="closed")
    for number in ("#2001", "#2002"):
        assert "already been shipped" in await refusal(deps, shopper, "cancel_order", {"order_number": number})
        with pytest.raises(ToolRefused):
            await preview(deps, shopper, "cancel_order", {"order_number": number})  # the customer is not asked in vain
    assert "closed and can no longer be cancelled" in await refusal(deps, shopper, "cancel_order", {"order_number": "#2003"})
    for order_id in (shipped, partial, closed):
        assert (await order_row(deps.sessions, order_id)).status != "cancelled"
        assert await order_actions(deps.sessions, order_id) == []


async def test_a_partial_then_a_full_refund_never_exceed_the_total(deps, shopper):
    order_id = await add_order(deps.sessions, shopper, "#3001", total="59.90")
    assert await preview(deps, shopper, "refund_order", {"order_number": "3001", "amount": 20}) == (
        "Refund 20.00 EUR for order #3001? Reply yes or no."
    )
    first = await call(deps, shopper, "refund_order", {"order_number": "3001", "amount": 20, "reason": "late delivery"})
    assert (first["refunded"], first["refunded_total"], first["remaining"], first["financial_status"]) == (
        "20.00",
        "20.00",
        "39.90",
        "partially_refunded",
    )
    assert (first["recorded"], first["store_synced"]) == (True, False)
    assert (await order_row(deps.sessions, order_id)).financial_status == "partially_refunded"

    too_much = await refusal(deps, shopper, "refund_order", {"order_number": "3001", "amount": 40})
    assert "at most 39.90 EUR can be refunded" in too_much and "20.00 of 59.90 already refunded" in too_much

    rest = await call(deps, shopper, "refund_order", {"order_number": "3001"})
    assert (rest["refunded"], rest["refunded_total"], rest["remaining"], rest["financial_status"]) == (
        "39.90",
        "59.90",
        "0.00",
        "refunded",
    )
    assert (await order_row(deps.sessions, order_id)).financial_status == "refunded"
    assert "already been refunded in full" in await refusal(deps, shopper, "refund_order", {"order_number": "3001", "amount": 1})
    assert await order_actions(deps.sessions, order_id) == [
        ("refund", Decimal("20.00"), "requested"),
        ("refund", Decimal("39.90"), "requested"),
    ]


async def test_refunds_of_unpaid_orders_and_odd_amounts_are_refused(deps, shopper):
    await add_order(deps.sessions, shopper, "#4001", financial_status="pending")
    await add_order(deps.sessions, shopper, "#4002", currency="JPY", total="5000")
    await add_order(deps.sessions, shopper, "#4003", financial_status="refunded")  # refunded at the store itself
    assert "has not been paid" in await refusal(deps, shopper, "refund_order", {"order_number": "4001"})
    assert "no minor unit" in await refusal(deps, shopper, "refund_order", {"order_number": "4002", "amount": 10.5})
    assert "already been refunded in full" in await refusal(deps, shopper, "refund_order", {"order_number": "4003"})
    yen = await call(deps, shopper, "refund_order", {"order_number": "4002", "amount": 1500})
    assert (yen["refunded"], yen["remaining"], yen["currency"]) == ("1500", "3500", "JPY")


async def test_amounts_with_more_than_two_decimals_are_refused(deps, shopper):
    order_id = await add_order(deps.sessions, shopper, "#4101")
    assert "at most two decimal places" in await refusal(
        deps, shopper, "refund_order", {"order_number": "4101", "amount": 10.555}
    )
    assert await order_actions(deps.sessions, order_id) == []


async def test_a_payment_request_is_recorded_in_an_iso_currency(deps, shopper):
    await add_order(deps.sessions, shopper, "#6001", currency="EUR")
    intent = await call(
        deps,
        shopper,
        "create_payment_intent",
        {"amount": 12.5, "currency": "eur", "description": "Express shipping", "order_number": "6001"},
    )
    assert (intent["amount"], intent["currency"], intent["status"], intent["order_number"]) == (
        "12.50",
        "EUR",
        "requires_payment",
        "#6001",
    )
    assert (intent["recorded"], intent["store_synced"]) == (True, False)
    async with deps.sessions() as session:
        row = await session.scalar(select(PaymentIntent).where(PaymentIntent.id == uuid.UUID(intent["payment_intent_id"])))
    assert (row.amount, row.currency, str(row.customer_id), row.description) == (
        Decimal("12.50"),
        "EUR",
        shopper.customer_id,
        "Express shipping",
    )

    assert "not an ISO 4217 currency" in await refusal(
        deps, shopper, "create_payment_intent", {"amount": 5, "currency": "EUX", "description": "x"}
    )
    assert "is in EUR, not USD" in await refusal(
        deps, shopper, "create_payment_intent", {"amount": 5, "currency": "USD", "description": "x", "order_number": "6001"}
    )
    async with deps.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(PaymentIntent).where(PaymentIntent.customer_id == uuid.UUID(shopper.customer_id))
        )
    assert count == 1


async def test_a_ticket_is_opened_for_the_conversations_customer(deps, shopper):
    made = await call(deps, shopper, "create_ticket", {"subject": "Wrong size", "description": "Sent 42, ordered 43."})
    assert (made["status"], made["priority"]) == ("open", "normal")
    async with deps.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.id == uuid.UUID(made["ticket_id"])))
    assert (str(ticket.customer_id), str(ticket.conversation_id), ticket.created_by) == (
        shopper.customer_id,
        shopper.conversation_id,
        "agent",
    )
    assert "not blank" in await refusal(deps, shopper, "create_ticket", {"subject": "  ", "description": "x"})


async def test_a_followup_is_recorded_with_its_due_time_and_a_handoff_carries_its_reason(deps, shopper):
    before = datetime.now(UTC)
    scheduled = await call(deps, shopper, "schedule_followup", {"delay_minutes": 90, "message": "Did the replacement arrive?"})
    due = datetime.fromisoformat(scheduled["due_at"])
    assert before + timedelta(minutes=90) <= due <= datetime.now(UTC) + timedelta(minutes=90)
    async with deps.sessions() as session:
        row = await session.scalar(select(Followup).where(Followup.id == uuid.UUID(scheduled["followup_id"])))
    assert (row.status, row.message, row.due_at, str(row.conversation_id)) == (
        "scheduled",
        "Did the replacement arrive?",
        due,
        shopper.conversation_id,
    )
    assert await call(deps, shopper, "handoff_to_human", {"reason": "asks for a manager"}) == {
        "handoff": True,
        "reason": "asks for a manager",
    }


async def test_order_lines_without_a_quantity_still_list(deps, shopper):
    await add_order(deps.sessions, shopper, "#8001", items=(OrderLine(title="Gift card", quantity=0),))
    listed = await call(deps, shopper, "list_orders", {})
    assert listed["orders"][0]["items"] == [{"name": "Gift card", "quantity": 0}]
    assert (
        await preview(deps, shopper, "cancel_order", {"order_number": "8001"})
        == "Cancel order #8001 (59.90 EUR)? Reply yes or no."
    )
