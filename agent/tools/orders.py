"""Order tools: list, track, cancel, refund; only ever the conversation's own customer's orders.

An order of another customer is reported exactly like an order that does not exist: the lookup
itself is filtered on the customer, so there is nothing different to leak.

Cancellations and refunds change Frontdesk's own records here (an order_actions row and our copy
of the order, under the tool call's key). The conversation's turn then carries them out at the
store (activities/store_sync.py: Shopify's Admin API when the store account has a token) and
replaces this result's "store_synced": false and note with what the store did; where it cannot,
the team completes the action in the store. The store's next webhook about the order brings our
copy back in line with it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agent.tools.money import money, parse_amount
from agent.tools.registry import Tool, ToolContext, ToolRefused
from agent.tools.scope import customer_of, tenant_of
from models import agent_tools_store as store
from models.commerce import Order

DEFAULT_LIST_LIMIT = 5
MAX_LIST_LIMIT = 20
# Shopify's financial statuses under which nothing has been captured: nothing to give back.
NOT_PAID = frozenset({"pending", "authorized", "voided", "expired", "unpaid"})
# Fulfilment statuses meaning nothing has left the warehouse (Shopify sends null for these).
UNFULFILLED = frozenset({"", "unfulfilled"})
NOT_RECORDED_AT_STORE = "Recorded in Frontdesk only: the store has not been updated yet; the team completes it there."

ORDER_NUMBER = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "description": 'The order number the customer gave, with or without "#", e.g. "#1001" or "1001".',
}
REASON = {"type": "string", "maxLength": 500, "description": "Why, in the customer's words (optional)."}


def shown_number(number: str) -> str:
    """How a number is written back to the customer: "1001" as "#1001"."""
    number = number.strip()
    return f"#{number}" if number.isdigit() else number


def _placed(order: Order) -> str | None:
    return order.placed_at.isoformat() if order.placed_at else None


def _items(order: Order) -> list[dict[str, Any]]:
    return [{"name": line.get("title"), "quantity": line.get("quantity")} for line in order.items or []]


def _item_count(order: Order) -> int:
    return sum(int(line.get("quantity") or 0) for line in order.items or [])


def order_summary(order: Order) -> dict[str, Any]:
    return {
        "number": order.number,
        "status": order.status,
        "financial_status": order.financial_status,
        "fulfillment_status": order.fulfillment_status or "unfulfilled",
        "total": money(order.total, order.currency),
        "currency": order.currency,
        "placed_at": _placed(order),
        "items": _items(order),
    }


async def find_order(session: AsyncSession, ctx: ToolContext, number: str, *, for_update: bool = False) -> Order:
    found = await store.customer_orders_numbered(session, tenant_of(ctx), customer_of(ctx), number, for_update=for_update)
    if not found:
        raise ToolRefused(f"no order {shown_number(number)} was found for this customer; check the number with them")
    if len(found) > 1:
        dates = ", ".join(_placed(o) or "no date" for o in found)
        raise ToolRefused(
            f"this customer has {len(found)} orders numbered {shown_number(number)} (placed {dates}); hand off to a person"
        )
    return found[0]


# --- list and track -------------------------------------------------------------------------


async def list_orders(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    orders = await store.customer_orders(session, tenant_of(ctx), customer_of(ctx), args.get("limit", DEFAULT_LIST_LIMIT))
    return {"orders": [order_summary(o) for o in orders], "count": len(orders)}


async def track_order(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    order = await find_order(session, ctx, args["order_number"])
    tracking = [{"number": t.get("number"), "url": t.get("url"), "company": t.get("company")} for t in order.tracking or []]
    return {
        "number": order.number,
        "status": order.status,
        "fulfillment_status": order.fulfillment_status or "unfulfilled",
        "placed_at": _placed(order),
        "tracking": tracking,
        "shipped": bool(tracking) or (order.fulfillment_status or "") not in UNFULFILLED,
    }


# --- cancel ---------------------------------------------------------------------------------


async def _cancellable(session: AsyncSession, ctx: ToolContext, args: dict[str, Any], *, for_update: bool) -> Order:
    order = await find_order(session, ctx, args["order_number"], for_update=for_update)
    if order.status == "cancelled":
        raise ToolRefused(f"order {order.number} is already cancelled")
    if order.status != "open":
        raise ToolRefused(f"order {order.number} is {order.status} and can no longer be cancelled")
    if (order.fulfillment_status or "") not in UNFULFILLED or order.tracking:
        raise ToolRefused(
            f"order {order.number} has already been shipped (fulfillment: {order.fulfillment_status or 'in transit'}) "
            "and can no longer be cancelled; offer a return instead, or hand off to a person"
        )
    return order


async def cancel_order(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Cancels an open, unfulfilled order in our records (the turn then carries it out at the
    store: module docstring). No refund is issued here: a paid order needs refund_order as well."""
    order = await _cancellable(session, ctx, args, for_update=True)
    action = await store.add_order_action(
        session, tenant_id=tenant_of(ctx), order=order, kind="cancel", amount=order.total, reason=args.get("reason"),
        idempotency_key=ctx.idempotency_key,
    )  # fmt: skip
    await store.set_order_state(session, tenant_of(ctx), order, status="cancelled")
    return {
        "cancelled": True,
        "number": order.number,
        "status": "cancelled",
        "action_id": str(action.id),
        "refund_issued": False,
        "recorded": True,
        "store_synced": False,
        "note": NOT_RECORDED_AT_STORE,
    }


def _cancel_question(args: dict[str, Any]) -> str:
    return f"Cancel order {shown_number(str(args.get('order_number', '')))}? Reply yes or no."


async def _cancel_preview(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> str:
    order = await _cancellable(session, ctx, args, for_update=False)
    count = _item_count(order)
    what = [f"{count} item{'s' if count != 1 else ''}"] if count else []
    if order.total is not None:
        what.append(f"{money(order.total, order.currency)} {order.currency or ''}".strip())
    detail = f" ({', '.join(what)})" if what else ""
    return f"Cancel order {order.number}{detail}? Reply yes or no."


# --- refund ---------------------------------------------------------------------------------


async def _refund_plan(
    session: AsyncSession, ctx: ToolContext, args: dict[str, Any], *, for_update: bool
) -> tuple[Order, Decimal, Decimal, Decimal]:
    """(order, amount to refund, refunded before, refundable before) or why not."""
    order = await find_order(session, ctx, args["order_number"], for_update=for_update)
    if order.total is None:
        raise ToolRefused(f"order {order.number} has no total on record; hand off to a person for the refund")
    if (order.financial_status or "") in NOT_PAID:
        raise ToolRefused(f"order {order.number} has not been paid ({order.financial_status}), so there is nothing to refund")
    already = await store.refunded_amount(session, tenant_of(ctx), order.id)
    # A full refund made at the store itself shows only as its status: nothing is left to give back.
    remaining = Decimal(0) if order.financial_status == "refunded" else max(order.total - already, Decimal(0))
    if remaining <= 0:
        raise ToolRefused(f"order {order.number} has already been refunded in full")
    amount = remaining if args.get("amount") is None else parse_amount(args["amount"], order.currency)
    if amount > remaining:
        raise ToolRefused(
            f"at most {money(remaining, order.currency)} {order.currency} can be refunded on order {order.number} "
            f"({money(already, order.currency)} of {money(order.total, order.currency)} already refunded)"
        )
    return order, amount, already, remaining


async def refund_order(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Records a full or partial refund, never more than the total less what was refunded before,
    and sets our financial_status; the turn then refunds at the store (module docstring)."""
    order, amount, already, remaining = await _refund_plan(session, ctx, args, for_update=True)
    action = await store.add_order_action(
        session, tenant_id=tenant_of(ctx), order=order, kind="refund", amount=amount, reason=args.get("reason"),
        idempotency_key=ctx.idempotency_key,
    )  # fmt: skip
    status = "refunded" if amount == remaining else "partially_refunded"
    await store.set_order_state(session, tenant_of(ctx), order, financial_status=status)
    return {
        "number": order.number,
        "refunded": money(amount, order.currency),
        "currency": order.currency,
        "refunded_total": money(already + amount, order.currency),
        "remaining": money(remaining - amount, order.currency),
        "financial_status": status,
        "action_id": str(action.id),
        "recorded": True,
        "store_synced": False,
        "note": NOT_RECORDED_AT_STORE,
    }


def _refund_question(args: dict[str, Any]) -> str:
    number = shown_number(str(args.get("order_number", "")))
    if args.get("amount") is None:
        return f"Refund order {number} in full? Reply yes or no."
    return f"Refund {args['amount']} on order {number}? Reply yes or no."


async def _refund_preview(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> str:
    order, amount, _, _ = await _refund_plan(session, ctx, args, for_update=False)
    return f"Refund {money(amount, order.currency)} {order.currency} for order {order.number}? Reply yes or no."


# --- the tools ------------------------------------------------------------------------------

LIST_ORDERS = Tool(
    name="list_orders",
    description=(
        "List the customer's orders, newest first: number, status, payment and fulfilment status, total, "
        "currency, date placed and items. Use it when the customer asks about their orders without a number."
    ),
    parameters={
        "type": "object",
        "properties": {
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_LIST_LIMIT,
                "default": DEFAULT_LIST_LIMIT,
                "description": f"How many orders, {DEFAULT_LIST_LIMIT} if omitted.",
            },
        },
        "additionalProperties": False,
    },  # fmt: skip
    handler=list_orders,
)

TRACK_ORDER = Tool(
    name="track_order",
    description=(
        "Where one of the customer's orders is: its status, fulfilment status and tracking numbers, links and "
        "carriers. Needs the order number; only this customer's own orders can be found."
    ),
    parameters={
        "type": "object",
        "properties": {"order_number": ORDER_NUMBER},
        "required": ["order_number"],
        "additionalProperties": False,
    },
    handler=track_order,
)

CANCEL_ORDER = Tool(
    name="cancel_order",
    description=(
        "Cancel one of the customer's orders that is still open and has not shipped. The customer is asked to "
        "confirm first. It does not refund: for a paid order, also call refund_order."
    ),
    parameters={
        "type": "object",
        "properties": {"order_number": ORDER_NUMBER, "reason": REASON},
        "required": ["order_number"],
        "additionalProperties": False,
    },
    handler=cancel_order,
    financial=True,
    confirmation=_cancel_question,
    preview=_cancel_preview,
)

REFUND_ORDER = Tool(
    name="refund_order",
    description=(
        "Refund one of the customer's paid orders, in full (leave out amount) or in part (amount in the order's "
        "currency). Never more than what is left after earlier refunds. The customer is asked to confirm first."
    ),
    parameters={
        "type": "object",
        "properties": {
            "order_number": ORDER_NUMBER,
            "amount": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 999999999999.99,
                "description": "Amount to refund, e.g. 20 or 19.99; omit for everything that is left.",
            },
            "reason": REASON,
        },
        "required": ["order_number"],
        "additionalProperties": False,
    },  # fmt: skip
    handler=refund_order,
    financial=True,
    confirmation=_refund_question,
    preview=_refund_preview,
)
