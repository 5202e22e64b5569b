"""The τ²-bench retail tools as Frontdesk tools, for a worker whose registry holds them instead
of the built-in ones (bench/tau2_retail.py).

Each handler finds the store of the task its tenant is running in a process-level map the
bench fills (`bind_env`), so one worker serves several tasks at once, one tenant each. A store
refusal (no such order, not pending...) is a ToolRefused: the model reads the reason, as τ²'s
agent reads "Error: ...".

Confirmation. τ²'s policy: before any action that updates the database, list its details and
obtain an explicit "yes". The tools that move money or cancel (cancel, modify items, modify
payment, return, exchange) are marked financial, so our workflow itself asks the customer with
the action's details, computed by a dry run of the call on a copy of the order (`preview`),
and only a yes runs it; a call the store would refuse is answered at once instead of asked. The
two address changes move no money and are not financial: as in τ², the policy in the agent's
prompt is what makes the model confirm them first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agent.tools.registry import Tool, ToolContext, ToolRefused, ToolRegistry
from bench.tau2.env import CANCEL_REASONS, RetailEnv, RetailError

_ENVS: dict[str, RetailEnv] = {}
_ENVS_LOCK = threading.Lock()


class NoTaskBound(LookupError):
    """A tool call for a tenant that runs no task: the bench's wiring is wrong, not the model."""


def bind_env(tenant_id: str, env: RetailEnv) -> None:
    with _ENVS_LOCK:
        _ENVS[tenant_id] = env


def release_env(tenant_id: str) -> None:
    with _ENVS_LOCK:
        _ENVS.pop(tenant_id, None)


def env_for(tenant_id: str) -> RetailEnv:
    with _ENVS_LOCK:
        env = _ENVS.get(tenant_id)
    if env is None:
        raise NoTaskBound(f"no τ² task is bound to tenant {tenant_id}")
    return env


# -- argument schemas -------------------------------------------------------------------------

ORDER_ID = {"type": "string", "description": "The order id, starting with '#', e.g. '#W0000000'."}
USER_ID = {"type": "string", "description": "The user id, e.g. 'sara_doe_496'."}
PRODUCT_ID = {"type": "string", "description": "The product id, e.g. '6086499569' (not an item id)."}
ITEM_IDS = {
    "type": "array",
    "items": {"type": "string"},
    "description": "Item ids, e.g. ['1008292230']; repeat an id for several of the same item.",
}
PAYMENT_METHOD_ID = {
    "type": "string",
    "description": "A payment method id of the user, e.g. 'gift_card_0000000' or 'credit_card_0000000'.",
}
ADDRESS = {
    "address1": {"type": "string", "description": "First line, e.g. '123 Main St'."},
    "address2": {"type": "string", "description": "Second line, e.g. 'Apt 1', or ''."},
    "city": {"type": "string"},
    "state": {"type": "string", "description": "e.g. 'CA'."},
    "country": {"type": "string", "description": "e.g. 'USA'."},
    "zip": {"type": "string", "description": "e.g. '12345'."},
}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


# -- handlers ---------------------------------------------------------------------------------


def _handler(name: str) -> Callable[[AsyncSession, ToolContext, dict[str, Any]], Any]:
    async def handle(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        try:
            result = env_for(ctx.tenant_id).call(name, args)
        except RetailError as refused:
            raise ToolRefused(str(refused)) from None
        return result if isinstance(result, dict) else {"result": result}

    handle.__name__ = name
    return handle


def _describe_method(env: RetailEnv, user_id: str, payment_method_id: str) -> str:
    method = env.db["users"].get(user_id, {}).get("payment_methods", {}).get(payment_method_id, {})
    source = method.get("source")
    if source == "credit_card":
        return f"the {method.get('brand', '')} credit card ending in {method.get('last_four', '')} ({payment_method_id})"
    if source == "gift_card":
        return f"the gift card {payment_method_id} (balance {method.get('balance')})"
    return f"the PayPal account {payment_method_id}" if source == "paypal" else payment_method_id


def _items_line(order: dict[str, Any], item_ids: list[str]) -> str:
    names = {item["item_id"]: item for item in order["items"]}
    parts = []
    for item_id in item_ids:
        item = names.get(item_id)
        if item is None:
            parts.append(item_id)
            continue
        options = ", ".join(f"{k} {v}" for k, v in item["options"].items())
        parts.append(f"{item['name']} ({options}; item {item_id}, {item['price']:.2f})")
    return "; ".join(parts)


def _new_items_line(env: RetailEnv, order: dict[str, Any], item_ids: list[str], new_item_ids: list[str]) -> str:
    by_id = {item["item_id"]: item for item in order["items"]}
    parts = []
    for old, new in zip(item_ids, new_item_ids, strict=False):
        product = env.db["products"].get(by_id.get(old, {}).get("product_id", ""), {})
        variant = product.get("variants", {}).get(new, {})
        options = ", ".join(f"{k} {v}" for k, v in variant.get("options", {}).items())
        parts.append(f"{product.get('name', old)} item {old} → item {new} ({options}; {variant.get('price', 0):.2f})")
    return "; ".join(parts)


def _difference(amount: float, method: str) -> str:
    if amount > 0:
        return f"You pay the difference of {amount:.2f} with {method}."
    if amount < 0:
        return f"The difference of {-amount:.2f} is refunded to {method}."
    return "The price is the same."


def _question(env: RetailEnv, name: str, args: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> str:
    """The action's details, from the order before and after a dry run of the call."""
    order_id, user_id = before["order_id"], before["user_id"]
    if name == "cancel_pending_order":
        paid = sum(p["amount"] for p in before["payment_history"] if p["transaction_type"] == "payment")
        methods = ", ".join(
            dict.fromkeys(_describe_method(env, user_id, p["payment_method_id"]) for p in before["payment_history"])
        )
        what = f"Cancel order {order_id} ({_items_line(before, [i['item_id'] for i in before['items']])}) because it was {args['reason']}? "
        return what + f"The {paid:.2f} paid goes back to {methods} (a gift card at once, otherwise in 5 to 7 business days)."
    if name == "modify_pending_order_items":
        change = _new_items_line(env, before, args["item_ids"], args["new_item_ids"])
        new_payment = after["payment_history"][-1]
        signed = new_payment["amount"] if new_payment["transaction_type"] == "payment" else -new_payment["amount"]
        method = _describe_method(env, user_id, args["payment_method_id"])
        return (
            f"Change items of order {order_id}: {change}. {_difference(signed, method)} This can be done only once: "
            "the order cannot be modified or cancelled afterwards, so make sure every item to change is listed."
        )
    if name == "modify_pending_order_payment":
        amount = before["payment_history"][0]["amount"]
        old = _describe_method(env, user_id, before["payment_history"][0]["payment_method_id"])
        new = _describe_method(env, user_id, args["payment_method_id"])
        return f"Pay order {order_id} ({amount:.2f}) with {new} instead of {old}? {old} is refunded (a gift card at once, otherwise in 5 to 7 business days)."
    if name == "return_delivered_order_items":
        prices = {item["item_id"]: item["price"] for item in before["items"]}
        total = sum(prices.get(i, 0.0) for i in args["item_ids"])
        method = _describe_method(env, user_id, args["payment_method_id"])
        return (
            f"Return from order {order_id}: {_items_line(before, args['item_ids'])}. The refund of {total:.2f} goes to {method}; "
            "you will get an email on how to send the items back."
        )
    # exchange_delivered_order_items
    change = _new_items_line(env, before, args["item_ids"], args["new_item_ids"])
    method = _describe_method(env, user_id, args["payment_method_id"])
    return (
        f"Exchange in order {order_id}: {change}. {_difference(after['exchange_price_difference'], method)} "
        "An order can be exchanged only once, so make sure every item to exchange is listed; you will get an email on how to send the items back."
    )


def _preview(name: str):
    async def preview(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> str:
        env = env_for(ctx.tenant_id)
        try:
            before, after = env.dry_run(name, args)
        except RetailError as refused:
            raise ToolRefused(str(refused)) from None
        return _question(env, name, args, before, after) + " Shall I go ahead? Please answer yes or no."

    preview.__name__ = f"preview_{name}"
    return preview


def _tool(name: str, description: str, properties: dict[str, Any], *, financial: bool = False) -> Tool:
    return Tool(
        name=name,
        description=description,
        parameters=_object(properties),
        handler=_handler(name),
        financial=financial,
        preview=_preview(name) if financial else None,
    )


# In the order the model reads them: finding the customer, reading, then acting.
RETAIL_TOOLS: tuple[Tool, ...] = (
    _tool(
        "find_user_id_by_email",
        "Find a user's id by their email. Use this first to authenticate the user.",
        {"email": {"type": "string", "description": "e.g. 'something@example.com'."}},
    ),
    _tool(
        "find_user_id_by_name_zip",
        "Find a user's id by first name, last name and zip code. Use it only when the user cannot give their email "
        "or is not found by it.",
        {"first_name": {"type": "string"}, "last_name": {"type": "string"}, "zip": ADDRESS["zip"]},
    ),
    _tool(
        "get_user_details", "A user's profile: name, email, default address, payment methods and order ids.", {"user_id": USER_ID}
    ),
    _tool(
        "get_order_details",
        "An order's status, items (with item ids and prices), address, fulfilments and payments.",
        {"order_id": ORDER_ID},
    ),
    _tool(
        "get_product_details",
        "A product type's variants: item ids, options, availability and price.",
        {"product_id": PRODUCT_ID},
    ),
    _tool("list_all_product_types", "The names and product ids of all 50 product types in the store.", {}),
    _tool(
        "calculate",
        "Work out an arithmetic expression (numbers, + - * /, parentheses), e.g. '2 + 2'. The result is rounded to 2 decimals.",
        {"expression": {"type": "string"}},
    ),
    _tool(
        "transfer_to_human_agents",
        "Transfer the user to a human agent with a summary of their issue. Only when the user asks for a human, or "
        "when the policy and these tools cannot solve their issue.",
        {"summary": {"type": "string"}},
    ),
    _tool(
        "cancel_pending_order",
        "Cancel a pending order. The reason must be 'no longer needed' or 'ordered by mistake'. Everything paid is "
        "refunded: to a gift card at once, to other methods in 5 to 7 business days.",
        {"order_id": ORDER_ID, "reason": {"type": "string", "enum": list(CANCEL_REASONS)}},
        financial=True,
    ),
    _tool(
        "modify_pending_order_address",
        "Change the shipping address of a pending order. Confirm the details with the user first.",
        {"order_id": ORDER_ID, **ADDRESS},
    ),
    _tool(
        "modify_pending_order_items",
        "Change items of a pending order to other available variants of the same product, all in one call (it can "
        "be done only once per order; afterwards the order cannot be modified or cancelled). new_item_ids[i] replaces "
        "item_ids[i]. The price difference is paid with, or refunded to, payment_method_id (a gift card must cover it).",
        {"order_id": ORDER_ID, "item_ids": ITEM_IDS, "new_item_ids": ITEM_IDS, "payment_method_id": PAYMENT_METHOD_ID},
        financial=True,
    ),
    _tool(
        "modify_pending_order_payment",
        "Pay a pending order with another of the user's payment methods (a gift card must cover the total); the "
        "original method is refunded.",
        {"order_id": ORDER_ID, "payment_method_id": PAYMENT_METHOD_ID},
        financial=True,
    ),
    _tool(
        "modify_user_address",
        "Change a user's default address. Confirm the details with the user first.",
        {"user_id": USER_ID, **ADDRESS},
    ),
    _tool(
        "return_delivered_order_items",
        "Return items of a delivered order. The refund goes to the original payment method or to one of the user's "
        "gift cards. The user gets an email on how to send the items back.",
        {"order_id": ORDER_ID, "item_ids": ITEM_IDS, "payment_method_id": PAYMENT_METHOD_ID},
        financial=True,
    ),
    _tool(
        "exchange_delivered_order_items",
        "Exchange items of a delivered order for other available variants of the same product, all in one call (an "
        "order can be exchanged or returned only once). new_item_ids[i] replaces item_ids[i]. The price difference "
        "is paid with, or refunded to, payment_method_id (a gift card must cover it).",
        {"order_id": ORDER_ID, "item_ids": ITEM_IDS, "new_item_ids": ITEM_IDS, "payment_method_id": PAYMENT_METHOD_ID},
        financial=True,
    ),
)

RETAIL_TOOL_NAMES = tuple(tool.name for tool in RETAIL_TOOLS)


def retail_registry() -> ToolRegistry:
    return ToolRegistry(RETAIL_TOOLS)
