"""Shopify webhooks: the HMAC check, and each topic read from Shopify's documented payload shapes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from channels.account_settings import ACCOUNT_SCHEMAS
from channels.base import PayloadError, SignatureError, WebhookRequest
from channels.commerce import OrderLine, Tracking, normalise_email, normalise_phone
from channels.shopify import ShopifyWebhooks

PAYLOADS = Path(__file__).parent / "payloads" / "shopify"
SECRET = "shpss_0123456789abcdef"
CONFIG = {"shop_domain": "jsmith.myshopify.com"}
shopify = ShopifyWebhooks()


def fixture(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()


def hmac_header(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery(body: bytes, topic: str, **headers: str) -> WebhookRequest:
    base = {
        "x-shopify-topic": topic,
        "x-shopify-hmac-sha256": hmac_header(body),
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "x-shopify-shop-domain": "jsmith.myshopify.com",
        "x-shopify-api-version": "2024-04",
    }
    return WebhookRequest(headers={**base, **headers}, body=body, url="https://frontdesk.example/webhooks/shopify/x")


def test_signature_over_the_raw_body_is_accepted():
    body = fixture("orders_create")
    shopify.verify(delivery(body, "orders/create"), {"client_secret": SECRET})


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"x-shopify-hmac-sha256": ""}, "missing"),
        ({"x-shopify-hmac-sha256": hmac_header(b"{}")}, "does not match"),
        ({"x-shopify-hmac-sha256": hmac_header(fixture("orders_create"), "another-secret")}, "does not match"),
        ({"x-shopify-hmac-sha256": "not base64 ünïcode"}, "does not match"),
    ],
)
def test_bad_signatures_are_refused(headers, reason):
    with pytest.raises(SignatureError, match=reason):
        shopify.verify(delivery(fixture("orders_create"), "orders/create", **headers), {"client_secret": SECRET})


def test_a_changed_body_breaks_the_signature():
    body = fixture("orders_create")
    request = delivery(body, "orders/create")
    tampered = WebhookRequest(headers=request.headers, body=body.replace(b"403.00", b"4.03"), url=request.url)
    with pytest.raises(SignatureError):
        shopify.verify(tampered, {"client_secret": SECRET})


def test_an_account_without_a_secret_accepts_nothing():
    with pytest.raises(SignatureError, match="no client secret"):
        shopify.verify(delivery(fixture("orders_create"), "orders/create"), {})


def test_orders_create_becomes_an_order_with_its_customer():
    event = shopify.parse(delivery(fixture("orders_create"), "orders/create"), CONFIG)
    assert event is not None and event.customer is None
    assert (event.source, event.topic, event.delivery_id) == ("shopify", "orders/create", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    order = event.order
    assert order.external_id == "820982911946154508"  # beyond 2^53: kept exact
    assert order.number == "#1001"
    assert order.status == "open" and order.financial_status == "paid" and order.fulfillment_status is None
    assert order.total == Decimal("403.00") and order.currency == "USD"
    assert order.items == [
        OrderLine(title="IPod Nano - 8GB", quantity=1, sku="IPOD2008PINK", price="199.00"),
        OrderLine(title="IPod Nano - 8GB", quantity=2, sku="IPOD2008PINK-2", price="99.50"),
    ]
    assert order.tracking == []
    assert order.updated_at == datetime(2024, 3, 27, 17, 1, 19, tzinfo=UTC)
    assert order.placed_at == order.updated_at
    # The order's e-mail, lower-cased; the customer's phone (the addresses' have no country code).
    assert order.customer.email == "jon@example.com"
    assert order.customer.phone == "+919812345678"
    assert order.customer.store_customer_id == "115310627314723954"
    assert order.customer.name == "John Smith"


def test_the_order_phone_comes_before_the_customer_phone():
    data = json.loads(fixture("orders_create"))
    data["phone"] = "+1 (613) 555-0100"
    event = shopify.parse(delivery(json.dumps(data).encode(), "orders/updated"), CONFIG)
    assert event.order.customer.phone == "+16135550100"


def test_a_national_shipping_phone_is_read_with_the_default_calling_code():
    data = json.loads(fixture("orders_create"))
    data["customer"] = None
    data["shipping_address"]["phone"] = "098123 45678"
    body = json.dumps(data).encode()
    assert shopify.parse(delivery(body, "orders/create"), CONFIG).order.customer.phone is None
    with_code = shopify.parse(delivery(body, "orders/create"), {**CONFIG, "default_calling_code": "91"})
    assert with_code.order.customer.phone == "+919812345678"
    assert with_code.order.customer.store_customer_id is None
    assert with_code.order.customer.name == "Steve Shipper"


def test_orders_updated_carries_tracking_from_fulfillments():
    order = shopify.parse(delivery(fixture("orders_updated"), "orders/updated"), CONFIG).order
    assert order.fulfillment_status == "fulfilled"
    assert order.tracking == [
        Tracking(number="1Z2345", url="https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=1Z2345", company="UPS")
    ]


def test_orders_cancelled_is_a_cancelled_order():
    order = shopify.parse(delivery(fixture("orders_cancelled"), "orders/cancelled"), CONFIG).order
    assert order.status == "cancelled" and order.financial_status == "refunded"
    assert order.updated_at == datetime(2024, 3, 29, 14, 0, tzinfo=UTC)


def test_customers_create_and_update_become_customers():
    created = shopify.parse(delivery(fixture("customers_create"), "customers/create"), CONFIG)
    assert created.order is None
    assert created.customer.store_customer_id == "706405506930370084"
    assert created.customer.email == "bob@biller.com" and created.customer.phone is None
    assert created.customer.name == "Bob Biller"
    updated = shopify.parse(delivery(fixture("customers_update"), "customers/update"), CONFIG)
    assert updated.customer.phone == "+16135551212"


def test_topics_we_do_not_use_are_ignored():
    assert shopify.parse(delivery(b'{"id": 1}', "products/update"), CONFIG) is None
    assert shopify.parse(delivery(b"not even json", "app/uninstalled"), CONFIG) is None


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (b"{not json", {}, "not JSON"),
        (b"[1, 2]", {}, "JSON object"),
        (b'{"updated_at": "2024-03-27T13:01:19-04:00"}', {}, "order 'id' is missing"),
        (b'{"id": 1}', {}, "order 'updated_at' is missing"),
        (b'{"id": 1, "updated_at": "yesterday"}', {}, "not an ISO 8601"),
        (b'{"id": 1, "updated_at": "2024-03-27T13:01:19Z", "total_price": "lots"}', {}, "total_price"),
        (b'{"id": 1, "updated_at": "2024-03-27T13:01:19Z", "total_price": NaN}', {}, "NaN"),
        (b'{"id": 1, "updated_at": "2024-03-27T13:01:19Z", "currency": "dollars"}', {}, "ISO 4217"),
        (b'{"id": 1, "updated_at": "2024-03-27T13:01:19Z", "line_items": {}}', {}, "'line_items' must be a list"),
        (b'{"id": 1, "updated_at": "2024-03-27T13:01:19Z"}', {"x-shopify-webhook-id": ""}, "X-Shopify-Webhook-Id"),
        (b'{"id": 1, "updated_at": "2024-03-27T13:01:19Z"}', {"x-shopify-topic": ""}, "X-Shopify-Topic"),
        (b'{"id": 1, "updated_at": "2024-03-27T13:01:19Z"}', {"x-shopify-shop-domain": "other.myshopify.com"}, "other.myshopify.com"),
    ],
)
def test_bodies_shopify_would_not_send_are_refused_with_a_reason(body, headers, reason):
    with pytest.raises(PayloadError, match=reason):
        shopify.parse(delivery(body, "orders/create", **headers), CONFIG)


def test_a_customer_without_an_id_is_refused():
    with pytest.raises(PayloadError, match="customer 'id'"):
        shopify.parse(delivery(b'{"email": "a@b.co"}', "customers/create"), CONFIG)


@pytest.mark.parametrize(
    ("raw", "code", "expected"),
    [
        ("+91 98123-45678", None, "+919812345678"),
        ("0091 98123 45678", None, "+919812345678"),
        ("(613) 555-0100", None, None),
        ("(613) 555-0100", "1", "+16135550100"),
        ("098123 45678", "91", "+919812345678"),
        ("555-555-SHIP", "1", None),
        ("+12", None, None),
        ("", "91", None),
        (None, "91", None),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw, code, expected):
    assert normalise_phone(raw, code) == expected


def test_email_addresses_are_lower_cased_or_dropped():
    assert normalise_email("  Jon@Example.COM ") == "jon@example.com"
    assert normalise_email("not an address") is None
    assert normalise_email(None) is None


def test_a_shopify_account_needs_its_shop_domain_and_client_secret():
    schema = ACCOUNT_SCHEMAS["shopify"]
    assert schema.config.model_validate({"shop_domain": "jsmith.myshopify.com", "default_calling_code": "91"})
    for bad in ({"shop_domain": "jsmith.com"}, {"shop_domain": "jsmith.myshopify.com", "default_calling_code": "+91"}):
        with pytest.raises(ValueError):
            schema.config.model_validate(bad)
    with pytest.raises(ValueError):
        schema.credentials.model_validate({})
