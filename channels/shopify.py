"""Shopify webhooks: the HMAC check, and orders and customers read into the shared commerce shapes.

Headers Shopify sends with every delivery: `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the
raw body, keyed with the app's client secret), `X-Shopify-Topic`, `X-Shopify-Webhook-Id` (the
same on every retry of one delivery: our dedupe key) and `X-Shopify-Shop-Domain`.
Topics used: orders/create, orders/updated, orders/cancelled, customers/create, customers/update;
any other topic is acknowledged and ignored.
"""

from __future__ import annotations

import base64
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
    MAX_STATUS_CHARS,
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

SOURCE = "shopify"
MAX_TRACKING_URL_CHARS = 2048


def _customer(data: dict[str, Any], default_calling_code: str | None) -> NormalisedCustomer:
    """A customer resource (customers/* topics, and the `customer` inside an order)."""
    address = object_at(data, "default_address")
    return NormalisedCustomer(
        store_customer_id=optional_id(data.get("id")),
        email=normalise_email(data.get("email")),
        phone=first_phone([data.get("phone"), address.get("phone")], default_calling_code),
        name=full_name(data.get("first_name"), data.get("last_name")) or clipped_text(address.get("name"), 200),
    )


def _line(item: Any) -> OrderLine:
    if not isinstance(item, dict):
        raise PayloadError("every line item must be an object")
    price = amount(item.get("price"), "line item 'price'")
    return OrderLine(
        title=clipped_text(item.get("title") or item.get("name"), MAX_ITEM_TEXT_CHARS) or "",
        quantity=quantity(item.get("quantity", 1), "line item 'quantity'"),
        sku=clipped_text(item.get("sku"), MAX_ITEM_TEXT_CHARS),
        price=str(price) if price is not None else None,
    )


def _tracking(fulfillments: list[Any]) -> list[Tracking]:
    """One entry per tracking number; a fulfillment may carry several (tracking_numbers/urls)."""
    found: list[Tracking] = []
    for fulfillment in fulfillments:
        if not isinstance(fulfillment, dict):
            raise PayloadError("every fulfillment must be an object")
        if fulfillment.get("status") in ("cancelled", "error", "failure"):
            continue
        company = clipped_text(fulfillment.get("tracking_company"), MAX_ITEM_TEXT_CHARS)
        numbers = [n for n in list_at(fulfillment, "tracking_numbers") if isinstance(n, str) and n]
        urls = [u for u in list_at(fulfillment, "tracking_urls") if isinstance(u, str) and u]
        if not numbers and fulfillment.get("tracking_number"):
            numbers = [str(fulfillment["tracking_number"])]
        if not urls and fulfillment.get("tracking_url"):
            urls = [str(fulfillment["tracking_url"])]
        for i in range(max(len(numbers), len(urls))):
            found.append(
                Tracking(
                    number=clipped_text(numbers[i], MAX_ITEM_TEXT_CHARS) if i < len(numbers) else None,
                    url=clipped_text(urls[i], MAX_TRACKING_URL_CHARS) if i < len(urls) else None,
                    company=company,
                )
            )
    return found


def _order(data: dict[str, Any], cancelled_topic: bool, default_calling_code: str | None) -> NormalisedOrder:
    customer_data = object_at(data, "customer")
    shipping, billing = object_at(data, "shipping_address"), object_at(data, "billing_address")
    from_customer = _customer(customer_data, default_calling_code) if customer_data else NormalisedCustomer()
    customer = NormalisedCustomer(
        store_customer_id=from_customer.store_customer_id,
        email=normalise_email(data.get("email")) or normalise_email(data.get("contact_email")) or from_customer.email,
        # The order's own phone first (what the buyer gave at checkout), then the customer's,
        # then the addresses': whichever is written with a country code.
        phone=first_phone(
            [data.get("phone"), customer_data.get("phone"), shipping.get("phone"), billing.get("phone")], default_calling_code
        )
        or from_customer.phone,
        name=from_customer.name or clipped_text(shipping.get("name") or billing.get("name"), 200),
    )
    items = list_at(data, "line_items")
    if len(items) > MAX_LINE_ITEMS:
        raise PayloadError(f"an order has at most {MAX_LINE_ITEMS} line items")
    cancelled = cancelled_topic or bool(data.get("cancelled_at"))
    return NormalisedOrder(
        external_id=required_id(data, "id", "order"),
        number=optional_text(data.get("name") or data.get("order_number"), MAX_NUMBER_CHARS, "order 'name'"),
        status="cancelled" if cancelled else "closed" if data.get("closed_at") else "open",
        updated_at=timestamp(data.get("updated_at"), "order 'updated_at'", required=True),  # type: ignore[arg-type]
        customer=customer,
        financial_status=optional_text(data.get("financial_status"), MAX_STATUS_CHARS, "order 'financial_status'"),
        fulfillment_status=optional_text(data.get("fulfillment_status"), MAX_STATUS_CHARS, "order 'fulfillment_status'"),
        total=amount(data.get("total_price"), "order 'total_price'"),
        currency=currency(data.get("currency"), "order 'currency'"),
        items=[_line(item) for item in items],
        tracking=_tracking(list_at(data, "fulfillments")),
        placed_at=timestamp(data.get("processed_at") or data.get("created_at"), "order 'created_at'"),
    )


# A topic's body (and the account's default calling code) read into an order or a customer.
_Reader = Callable[[dict[str, Any], str | None], tuple[NormalisedOrder | None, NormalisedCustomer | None]]


def _order_event(cancelled: bool) -> _Reader:
    return lambda data, calling_code: (_order(data, cancelled, calling_code), None)


def _customer_event(data: dict[str, Any], calling_code: str | None) -> tuple[None, NormalisedCustomer]:
    required_id(data, "id", "customer")
    return None, _customer(data, calling_code)


# What each topic we use becomes.
_TOPICS: dict[str, _Reader] = {
    "orders/create": _order_event(cancelled=False),
    "orders/updated": _order_event(cancelled=False),
    "orders/cancelled": _order_event(cancelled=True),
    "customers/create": _customer_event,
    "customers/update": _customer_event,
}


class ShopifyWebhooks:
    source = SOURCE

    def verify(self, request: WebhookRequest, secrets: dict[str, Any]) -> None:
        secret = secrets.get("client_secret")
        if not secret:
            raise SignatureError("Shopify account has no client secret configured")
        header = request.headers.get("x-shopify-hmac-sha256", "").strip()
        if not header:
            raise SignatureError("missing X-Shopify-Hmac-Sha256 header")
        expected = base64.b64encode(hmac.new(secret.encode(), request.body, hashlib.sha256).digest())
        # Bytes, not str: compare_digest raises TypeError on non-ASCII str (a forged header).
        if not hmac.compare_digest(header.encode("utf-8", "replace"), expected):
            raise SignatureError("X-Shopify-Hmac-Sha256 does not match the body")

    def parse(self, request: WebhookRequest, config: dict[str, Any]) -> StoreEvent | None:
        topic = request.headers.get("x-shopify-topic", "").strip()
        if not topic:
            raise PayloadError("missing X-Shopify-Topic header")
        shop = request.headers.get("x-shopify-shop-domain", "").strip().lower()
        expected_shop = str(config.get("shop_domain") or "").lower()
        if shop and expected_shop and shop != expected_shop:
            # The same app secret signs every shop that installed the app: a delivery for
            # another shop is a misconfigured webhook URL, never this account's data.
            raise PayloadError(f"delivery is for shop {shop[:100]}, this account is for {expected_shop}")
        read = _TOPICS.get(topic)
        if read is None:
            return None
        delivery_id = request.headers.get("x-shopify-webhook-id", "").strip()
        if not delivery_id:
            raise PayloadError("missing X-Shopify-Webhook-Id header")
        bounded_text(delivery_id, MAX_DELIVERY_ID_CHARS, "X-Shopify-Webhook-Id")
        order, customer = read(load_json_object(request.body), config.get("default_calling_code"))
        return StoreEvent(
            source=SOURCE,
            topic=bounded_text(topic, MAX_TOPIC_CHARS, "X-Shopify-Topic"),
            delivery_id=delivery_id,
            order=order,
            customer=customer,
        )
