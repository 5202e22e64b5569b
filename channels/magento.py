"""Magento 2 / Adobe Commerce webhooks: a shared-secret header, and the sales order and customer
entities read into the shared commerce shapes.

Magento has no single standard webhook, so this is what we accept (the store sends it with an
Adobe Commerce webhook, an event module, or its own observer):

- Header `X-Magento-Webhook-Secret`: the account's `webhook_secret`, compared in constant time.
- Header `X-Magento-Webhook-Id` (optional): the delivery's id, the same on every retry; without it
  the SHA-256 of the body is the dedupe key (an identical body is the same delivery).
- Body, a JSON object holding one entity as REST returns it (`GET /V1/orders/{id}`,
  `GET /V1/customers/{id}`), either at the top (`{"order": {...}}`, `{"customer": {...}}`) or under
  `data` as Adobe Commerce webhooks send it (`{"eventName": "sales_order_save_after", "data":
  {"order": {...}}}`).
- Order fields read: entity_id and updated_at (required), increment_id, state, status,
  customer_id, customer_email, customer_firstname/lastname, grand_total, total_paid,
  total_refunded, order_currency_code, created_at, items[] (name, sku, qty_ordered, qty_shipped,
  price; child rows of configurable products, those with parent_item_id, are skipped),
  billing_address.telephone (or addresses[] with address_type, as Adobe Commerce sends them),
  and optionally `tracks[]` in the shipment track entity's shape (track_number, title, carrier_code).
- Customer fields read: id, email, firstname, lastname, addresses[].telephone (the default
  billing address first).
Dates without an offset ("2024-03-27 17:01:19") are UTC, as Magento stores them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from channels.base import PayloadError, SignatureError, WebhookRequest
from channels.commerce import (
    MAX_DELIVERY_ID_CHARS,
    MAX_ITEM_TEXT_CHARS,
    MAX_LINE_ITEMS,
    MAX_NUMBER_CHARS,
    MAX_TOPIC_CHARS,
    NormalisedCustomer,
    NormalisedOrder,
    OrderLine,
    StoreEvent,
    Tracking,
    amount,
    bounded_text,
    clipped_text,
    currency,
    first_phone,
    full_name,
    list_at,
    load_json_object,
    normalise_email,
    object_at,
    optional_id,
    optional_text,
    quantity,
    required_id,
    timestamp,
)

SOURCE = "magento"
SECRET_HEADER = "x-magento-webhook-secret"
DELIVERY_ID_HEADER = "x-magento-webhook-id"
# Magento order states (sales_order.state) in the lifecycle words Order.status uses.
_STATUS_OF_STATE = {"canceled": "cancelled", "complete": "closed", "closed": "closed"}


def _addresses(order: dict[str, Any]) -> list[dict[str, Any]]:
    billing = object_at(order, "billing_address")
    listed = [a for a in list_at(order, "addresses") if isinstance(a, dict)]
    # Billing first: it is the buyer's; a shipping address may be a gift recipient's.
    listed.sort(key=lambda a: a.get("address_type") != "billing")
    return ([billing] if billing else []) + listed


def _line(item: Any) -> OrderLine | None:
    if not isinstance(item, dict):
        raise PayloadError("every order item must be an object")
    if item.get("parent_item_id"):  # a configurable product's child: its parent row carries the line
        return None
    price = amount(item.get("price"), "item 'price'")
    return OrderLine(
        title=clipped_text(item.get("name"), MAX_ITEM_TEXT_CHARS) or "",
        quantity=quantity(item.get("qty_ordered", 1), "item 'qty_ordered'"),
        sku=clipped_text(item.get("sku"), MAX_ITEM_TEXT_CHARS),
        price=str(price) if price is not None else None,
    )


def _fulfillment_status(items: list[Any]) -> str | None:
    """Shopify's words, so the agent reads one vocabulary: nothing shipped, partial, fulfilled."""
    ordered = shipped = 0
    for item in items:
        if isinstance(item, dict) and not item.get("parent_item_id"):
            ordered += quantity(item.get("qty_ordered", 0), "item 'qty_ordered'")
            shipped += quantity(item.get("qty_shipped", 0), "item 'qty_shipped'")
    if shipped == 0:
        return None
    return "fulfilled" if shipped >= ordered else "partial"


def _financial_status(order: dict[str, Any]) -> str | None:
    total = amount(order.get("grand_total"), "order 'grand_total'")
    paid = amount(order.get("total_paid"), "order 'total_paid'") or 0
    refunded = amount(order.get("total_refunded"), "order 'total_refunded'") or 0
    if total is None:
        return None
    if refunded > 0:
        return "refunded" if refunded >= total else "partially_refunded"
    if paid >= total:
        return "paid"
    return "partially_paid" if paid > 0 else "pending"


def _tracks(order: dict[str, Any]) -> list[Tracking]:
    tracks = []
    for track in list_at(order, "tracks"):
        if not isinstance(track, dict):
            raise PayloadError("every track must be an object")
        tracks.append(
            Tracking(
                number=clipped_text(track.get("track_number"), MAX_ITEM_TEXT_CHARS),
                company=clipped_text(track.get("title") or track.get("carrier_code"), MAX_ITEM_TEXT_CHARS),
            )
        )
    return tracks


def _order(order: dict[str, Any], calling_code: str | None) -> NormalisedOrder:
    state = str(order.get("state") or order.get("status") or "")
    if not state:
        raise PayloadError("order 'state' is missing")
    items = list_at(order, "items")
    if len(items) > MAX_LINE_ITEMS:
        raise PayloadError(f"an order has at most {MAX_LINE_ITEMS} items")
    addresses = _addresses(order)
    lines = [line for line in (_line(item) for item in items) if line is not None]
    return NormalisedOrder(
        external_id=required_id(order, "entity_id", "order"),
        number=optional_text(order.get("increment_id"), MAX_NUMBER_CHARS, "order 'increment_id'"),
        status=_STATUS_OF_STATE.get(state, "open"),
        updated_at=timestamp(order.get("updated_at"), "order 'updated_at'", required=True),  # type: ignore[arg-type]
        customer=NormalisedCustomer(
            # Guests have no customer_id (null, or 0 in some versions).
            store_customer_id=None if order.get("customer_is_guest") else optional_id(order.get("customer_id")),
            email=normalise_email(order.get("customer_email")) or next(
                (e for a in addresses if (e := normalise_email(a.get("email")))), None
            ),
            phone=first_phone([a.get("telephone") for a in addresses], calling_code),
            name=full_name(order.get("customer_firstname"), order.get("customer_lastname"))
            or next((n for a in addresses if (n := full_name(a.get("firstname"), a.get("lastname")))), None),
        ),
        financial_status=_financial_status(order),
        fulfillment_status=_fulfillment_status(items),
        total=amount(order.get("grand_total"), "order 'grand_total'"),
        currency=currency(order.get("order_currency_code"), "order 'order_currency_code'"),
        items=lines,
        tracking=_tracks(order),
        placed_at=timestamp(order.get("created_at"), "order 'created_at'"),
    )


def _customer(customer: dict[str, Any], calling_code: str | None) -> NormalisedCustomer:
    addresses = [a for a in list_at(customer, "addresses") if isinstance(a, dict)]
    default_billing = str(customer.get("default_billing") or "")
    addresses.sort(key=lambda a: str(a.get("id")) != default_billing)
    found = NormalisedCustomer(
        store_customer_id=optional_id(customer.get("id")),
        email=normalise_email(customer.get("email")),
        phone=first_phone([a.get("telephone") for a in addresses], calling_code),
        name=full_name(customer.get("firstname"), customer.get("lastname")),
    )
    if not found.store_customer_id and not found.email:
        raise PayloadError("customer needs 'id' or 'email'")
    return found


# Each entity we accept, read into an order or a customer.
_READERS: dict[str, Callable[[dict[str, Any], str | None], tuple[NormalisedOrder | None, NormalisedCustomer | None]]] = {
    "order": lambda entity, calling_code: (_order(entity, calling_code), None),
    "customer": lambda entity, calling_code: (None, _customer(entity, calling_code)),
}


def _entity(payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(its kind, the entity) from either accepted envelope."""
    holder = object_at(payload, "data") if "data" in payload else payload
    for kind in _READERS:
        if kind in holder:
            entity = object_at(holder, kind)
            if entity:
                return kind, entity
    raise PayloadError("body must hold an 'order' or a 'customer' object, at the top or under 'data'")


class MagentoWebhooks:
    source = SOURCE

    def verify(self, request: WebhookRequest, secrets: dict[str, Any]) -> None:
        expected = str(secrets.get("webhook_secret") or "")
        if not expected:
            raise SignatureError("Magento account has no webhook secret configured")
        given = request.headers.get(SECRET_HEADER, "")
        if not given:
            raise SignatureError("missing X-Magento-Webhook-Secret header")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
            raise SignatureError("X-Magento-Webhook-Secret does not match this account's secret")

    def parse(self, request: WebhookRequest, config: dict[str, Any]) -> StoreEvent:
        payload = load_json_object(request.body)
        kind, entity = _entity(payload)
        calling_code = config.get("default_calling_code")
        event_name = payload.get("eventName")
        topic = event_name if isinstance(event_name, str) and event_name else kind
        delivery_id = request.headers.get(DELIVERY_ID_HEADER, "").strip() or hashlib.sha256(request.body).hexdigest()
        order, customer = _READERS[kind](entity, calling_code)
        return StoreEvent(
            source=SOURCE,
            topic=topic[:MAX_TOPIC_CHARS],
            delivery_id=bounded_text(delivery_id, MAX_DELIVERY_ID_CHARS, "X-Magento-Webhook-Id"),
            order=order,
            customer=customer,
        )
