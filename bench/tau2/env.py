"""One task run's retail store: an in-memory copy of τ²'s database and the rules of its tools.

Each method is one τ²-bench retail tool with the same checks, the same effects on the database
and the same error texts (raised as RetailError, which the tool wrappers hand back to the model,
as τ² hands back "Error: ..."). Where τ²'s reference behaviour has quirks that change the final
database (see modify_pending_order_items) they are kept: the score compares databases, and a
run scored here should score the same in τ².

The database is plain JSON data laid out exactly as τ²'s pydantic models dump it (optional order
fields present as null, amounts as floats), so `db_hash` is the same digest τ² computes.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import operator
from collections.abc import Callable
from typing import Any

CANCEL_REASONS = ("no longer needed", "ordered by mistake")
# Fields τ²'s Order model has with a null default: present in every dumped order.
OPTIONAL_ORDER_FIELDS = (
    "cancel_reason",
    "exchange_items",
    "exchange_new_items",
    "exchange_payment_method_id",
    "exchange_price_difference",
    "return_items",
    "return_payment_method_id",
)
ADDRESS_FIELDS = ("address1", "address2", "city", "state", "country", "zip")
CALCULATOR_CHARACTERS = frozenset("0123456789+-*/(). ")
MAX_EXPONENT = 100  # `2**99999999` would stall the worker; τ² never needs powers at all


class RetailError(ValueError):
    """The store refuses the call; the message is what the agent reads."""


def normalise_db(db: dict[str, Any]) -> dict[str, Any]:
    """Lays db.json out as τ²'s models dump it (in place), so hashes agree with τ²'s."""
    for product in db["products"].values():
        for variant in product["variants"].values():
            variant["price"] = float(variant["price"])
    for user in db["users"].values():
        for method in user["payment_methods"].values():
            if "balance" in method:
                method["balance"] = float(method["balance"])
    for order in db["orders"].values():
        for item in order["items"]:
            item["price"] = float(item["price"])
        for payment in order["payment_history"]:
            payment["amount"] = float(payment["amount"])
        for name in OPTIONAL_ORDER_FIELDS:
            order.setdefault(name, None)
    return db


def db_hash(db: dict[str, Any]) -> str:
    """τ²'s database digest: SHA-256 of the JSON with sorted keys."""
    return hashlib.sha256(json.dumps(db, sort_keys=True, default=str).encode()).hexdigest()


class RetailEnv:
    """The store one task run talks to; `calls` records every tool call the agent made."""

    def __init__(self, db: dict[str, Any]) -> None:
        self.db = normalise_db(db)
        self.calls: list[tuple[str, dict[str, Any], str | None]] = []  # (tool, arguments, error)

    def hash(self) -> str:
        return db_hash(self.db)

    def call(self, name: str, arguments: dict[str, Any]) -> Any:
        """Runs the tool `name` and records the call; raises RetailError for a refusal."""
        method = TOOLS.get(name)
        if method is None:
            raise RetailError(f"Tool '{name}' not found.")
        try:
            result = method(self, **arguments)
        except RetailError as exc:
            self.calls.append((name, copy.deepcopy(arguments), str(exc)))
            raise
        except TypeError as exc:  # wrong argument names: τ² reports the Python error the same way
            self.calls.append((name, copy.deepcopy(arguments), str(exc)))
            raise RetailError(str(exc)) from None
        self.calls.append((name, copy.deepcopy(arguments), None))
        return copy.deepcopy(result)

    def dry_run(self, name: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the order before, the order after) an order tool would run, changing nothing: the
        call runs on a copy of the order and its user (products are only read). Raises
        RetailError when the store would refuse the call."""
        order = self.db["orders"].get(arguments.get("order_id", ""))
        if order is None:
            raise RetailError("Order not found")
        user = self.db["users"].get(order["user_id"])
        scratch = RetailEnv.__new__(RetailEnv)
        scratch.calls = []
        scratch.db = {
            "products": self.db["products"],
            "users": {order["user_id"]: copy.deepcopy(user)} if user is not None else {},
            "orders": {order["order_id"]: copy.deepcopy(order)},
        }
        return copy.deepcopy(order), scratch.call(name, arguments)

    # -- lookups -------------------------------------------------------------------------------

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.db["orders"].get(order_id)
        if order is None:
            raise RetailError("Order not found")
        return order

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.db["users"].get(user_id)
        if user is None:
            raise RetailError("User not found")
        return user

    def _product(self, product_id: str) -> dict[str, Any]:
        product = self.db["products"].get(product_id)
        if product is None:
            raise RetailError("Product not found")
        return product

    def _variant(self, product_id: str, item_id: str) -> dict[str, Any]:
        variant = self._product(product_id)["variants"].get(item_id)
        if variant is None:
            raise RetailError("Variant not found")
        return variant

    def _payment_method(self, user_id: str, payment_method_id: str) -> dict[str, Any]:
        method = self._user(user_id)["payment_methods"].get(payment_method_id)
        if method is None:
            raise RetailError("Payment method not found")
        return method

    @staticmethod
    def _check_items_in_order(order: dict[str, Any], item_ids: list[str], message: Callable[[str], str]) -> None:
        """Each id (duplicates included) must be in the order at least as many times."""
        in_order = [item["item_id"] for item in order["items"]]
        for item_id in item_ids:
            if item_ids.count(item_id) > in_order.count(item_id):
                raise RetailError(message(item_id))

    @staticmethod
    def _first_item(order: dict[str, Any], item_id: str) -> dict[str, Any]:
        item = next((item for item in order["items"] if item["item_id"] == item_id), None)
        if item is None:
            raise RetailError(f"Item {item_id} not found")
        return item

    # -- read tools ----------------------------------------------------------------------------

    def find_user_id_by_email(self, email: str) -> str:
        for user_id, user in self.db["users"].items():
            if user["email"].lower() == email.lower():
                return user_id
        raise RetailError("User not found")

    def find_user_id_by_name_zip(self, first_name: str, last_name: str, zip: str) -> str:
        for user_id, user in self.db["users"].items():
            name = user["name"]
            if (
                name["first_name"].lower() == first_name.lower()
                and name["last_name"].lower() == last_name.lower()
                and user["address"]["zip"] == zip
            ):
                return user_id
        raise RetailError("User not found")

    def get_user_details(self, user_id: str) -> dict[str, Any]:
        return self._user(user_id)

    def get_order_details(self, order_id: str) -> dict[str, Any]:
        return self._order(order_id)

    def get_product_details(self, product_id: str) -> dict[str, Any]:
        return self._product(product_id)

    def list_all_product_types(self) -> dict[str, str]:
        names = {product["name"]: product["product_id"] for product in self.db["products"].values()}
        return dict(sorted(names.items()))

    def calculate(self, expression: str) -> str:
        if not all(char in CALCULATOR_CHARACTERS for char in expression):
            raise RetailError("Invalid characters in expression")
        return str(round(float(evaluate_arithmetic(expression)), 2))

    def transfer_to_human_agents(self, summary: str) -> str:
        return "Transfer successful"

    # -- write tools ---------------------------------------------------------------------------

    def cancel_pending_order(self, order_id: str, reason: str) -> dict[str, Any]:
        order = self._order(order_id)
        if order["status"] != "pending":
            raise RetailError("Non-pending order cannot be cancelled")
        if reason not in CANCEL_REASONS:
            raise RetailError("Invalid reason")
        refunds = []
        for payment in order["payment_history"]:
            refunds.append(
                {"transaction_type": "refund", "amount": payment["amount"], "payment_method_id": payment["payment_method_id"]}
            )
            method = self._payment_method(order["user_id"], payment["payment_method_id"])
            if method["source"] == "gift_card":  # gift cards are refunded at once
                method["balance"] = round(method["balance"] + payment["amount"], 2)
        order["status"] = "cancelled"
        order["cancel_reason"] = reason
        order["payment_history"].extend(refunds)
        return order

    def modify_pending_order_address(
        self, order_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
    ) -> dict[str, Any]:
        order = self._order(order_id)
        if "pending" not in order["status"]:  # "pending (item modified)" may still change address
            raise RetailError("Non-pending order cannot be modified")
        order["address"] = _address(address1=address1, address2=address2, city=city, state=state, country=country, zip=zip)
        return order

    def modify_pending_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> dict[str, Any]:
        order = self._order(order_id)
        if order["status"] != "pending":
            raise RetailError("Non-pending order cannot be modified")
        self._check_items_in_order(order, item_ids, lambda item_id: f"{item_id} not found")
        if len(item_ids) != len(new_item_ids):
            raise RetailError("The number of items to be exchanged should match")
        diff_price = 0.0
        variant: dict[str, Any] = {}
        for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
            if item_id == new_item_id:
                raise RetailError("The new item id should be different from the old item id")
            item = self._first_item(order, item_id)
            variant = self._variant(item["product_id"], new_item_id)
            if not variant["available"]:
                raise RetailError(f"New item {new_item_id} not found or available")
            diff_price += variant["price"] - item["price"]
        method = self._payment_method(order["user_id"], payment_method_id)
        if method["source"] == "gift_card" and method["balance"] < diff_price:
            raise RetailError("Insufficient gift card balance to pay for the new item")
        # τ² records the difference unrounded here (unlike an exchange, which rounds it).
        order["payment_history"].append(
            {
                "transaction_type": "payment" if diff_price > 0 else "refund",
                "amount": abs(diff_price),
                "payment_method_id": payment_method_id,
            }
        )
        if method["source"] == "gift_card":
            method["balance"] = round(method["balance"] - diff_price, 2)
        for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
            item = self._first_item(order, item_id)
            item["item_id"] = new_item_id
            # τ²'s reference gives every modified item the price and options of the LAST new
            # variant checked above (its loop variable); kept so the final database matches τ²'s.
            item["price"] = variant["price"]
            item["options"] = dict(variant["options"])
        order["status"] = "pending (item modified)"
        return order

    def modify_pending_order_payment(self, order_id: str, payment_method_id: str) -> dict[str, Any]:
        order = self._order(order_id)
        if "pending" not in order["status"]:
            raise RetailError("Non-pending order cannot be modified")
        method = self._payment_method(order["user_id"], payment_method_id)
        history = order["payment_history"]
        if len(history) != 1 or history[0]["transaction_type"] != "payment":
            raise RetailError("There should be exactly one payment for a pending order")
        old_method_id = history[0]["payment_method_id"]
        if old_method_id == payment_method_id:
            raise RetailError("The new payment method should be different from the current one")
        amount = history[0]["amount"]
        if method["source"] == "gift_card" and method["balance"] < amount:
            raise RetailError("Insufficient gift card balance to pay for the order")
        history.extend(
            [
                {"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id},
                {"transaction_type": "refund", "amount": amount, "payment_method_id": old_method_id},
            ]
        )
        if method["source"] == "gift_card":
            method["balance"] = round(method["balance"] - amount, 2)
        old_method = self._payment_method(order["user_id"], old_method_id)
        if old_method["source"] == "gift_card":
            old_method["balance"] = round(old_method["balance"] + amount, 2)
        return order

    def modify_user_address(
        self, user_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
    ) -> dict[str, Any]:
        user = self._user(user_id)
        user["address"] = _address(address1=address1, address2=address2, city=city, state=state, country=country, zip=zip)
        return user

    def return_delivered_order_items(self, order_id: str, item_ids: list[str], payment_method_id: str) -> dict[str, Any]:
        order = self._order(order_id)
        if order["status"] != "delivered":
            raise RetailError("Non-delivered order cannot be returned")
        method = self._payment_method(self._user(order["user_id"])["user_id"], payment_method_id)
        if method["source"] != "gift_card" and payment_method_id != order["payment_history"][0]["payment_method_id"]:
            raise RetailError("Payment method should be the original payment method")
        self._check_items_in_order(order, item_ids, lambda _: "Some item not found")
        order["status"] = "return requested"
        order["return_items"] = sorted(item_ids)
        order["return_payment_method_id"] = payment_method_id
        return order

    def exchange_delivered_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> dict[str, Any]:
        order = self._order(order_id)
        if order["status"] != "delivered":
            raise RetailError("Non-delivered order cannot be exchanged")
        self._check_items_in_order(order, item_ids, lambda item_id: f"Number of {item_id} not found.")
        if len(item_ids) != len(new_item_ids):
            raise RetailError("The number of items to be exchanged should match.")
        diff_price = 0.0
        for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
            item = self._first_item(order, item_id)
            variant = self._variant(item["product_id"], new_item_id)
            if not variant["available"]:
                raise RetailError(f"New item {new_item_id} not found or available")
            diff_price += variant["price"] - item["price"]
        diff_price = round(diff_price, 2)
        method = self._payment_method(order["user_id"], payment_method_id)
        if method["source"] == "gift_card" and method["balance"] < diff_price:
            raise RetailError("Insufficient gift card balance to pay for the price difference")
        order["status"] = "exchange requested"
        order["exchange_items"] = sorted(item_ids)
        order["exchange_new_items"] = sorted(new_item_ids)
        order["exchange_payment_method_id"] = payment_method_id
        order["exchange_price_difference"] = diff_price
        return order


def _address(**fields: str) -> dict[str, str]:
    return {name: fields[name] for name in ADDRESS_FIELDS}


TOOLS: dict[str, Callable[..., Any]] = {
    name: getattr(RetailEnv, name)
    for name in (
        "find_user_id_by_email",
        "find_user_id_by_name_zip",
        "get_user_details",
        "get_order_details",
        "get_product_details",
        "list_all_product_types",
        "calculate",
        "transfer_to_human_agents",
        "cancel_pending_order",
        "modify_pending_order_address",
        "modify_pending_order_items",
        "modify_pending_order_payment",
        "modify_user_address",
        "return_delivered_order_items",
        "exchange_delivered_order_items",
    )
}

_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}


def evaluate_arithmetic(expression: str) -> float:
    """Numbers, + - * / // ** and parentheses; anything else is a RetailError. (τ² evaluates
    the expression with Python itself after the same character check.)"""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
        return _value(tree.body)
    except (SyntaxError, ZeroDivisionError, OverflowError) as exc:
        raise RetailError(f"Invalid expression: {exc}") from None


def _value(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        value = _value(node.operand)
        return value if isinstance(node.op, ast.UAdd) else -value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise RetailError("Invalid expression: exponent too large")
        return _OPERATORS[type(node.op)](left, right)
    raise RetailError("Invalid expression")
