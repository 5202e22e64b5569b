"""Magento webhooks: the shared-secret header, and orders and customers read from Magento 2's
REST entity shapes (plain, or inside an Adobe Commerce webhook's `data`)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from channels.account_settings import ACCOUNT_SCHEMAS
from channels.base import PayloadError, SignatureError, WebhookRequest
from channels.commerce import OrderLine, Tracking
from channels.magento import MagentoWebhooks

PAYLOADS = Path(__file__).parent / "payloads" / "magento"
SECRET = "m2-shared-secret-0123456789"
CONFIG = {"base_url": "https://shop.example.de/"}
magento = MagentoWebhooks()


def fixture(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()


def delivery(body: bytes, **headers: str) -> WebhookRequest:
    base = {"x-magento-webhook-secret": SECRET, "content-type": "application/json"}
    return WebhookRequest(headers={**base, **headers}, body=body, url="https://frontdesk.example/webhooks/magento/x")


def test_the_shared_secret_header_is_checked():
    magento.verify(delivery(b"{}"), {"webhook_secret": SECRET})
    with pytest.raises(SignatureError, match="does not match"):
        magento.verify(delivery(b"{}", **{"x-magento-webhook-secret": SECRET + "x"}), {"webhook_secret": SECRET})
    with pytest.raises(SignatureError, match="missing"):
        magento.verify(delivery(b"{}", **{"x-magento-webhook-secret": ""}), {"webhook_secret": SECRET})
    with pytest.raises(SignatureError, match="no webhook secret"):
        magento.verify(delivery(b"{}"), {})


def test_an_order_entity_becomes_an_order():
    event = magento.parse(delivery(fixture("order_processing")), CONFIG)
    assert (event.source, event.topic, event.customer) == ("magento", "order", None)
    order = event.order
    assert order.external_id == "310" and order.number == "000000310"
    assert order.status == "open"
    assert order.financial_status == "paid"
    assert order.fulfillment_status == "partial"  # the hoodie shipped, the bags not yet
    assert order.total == Decimal("136.50") and order.currency == "EUR"
    # The configurable product's child row is not a second line.
    assert order.items == [
        OrderLine(title="Hero Hoodie", quantity=1, sku="MH07-M-Green", price="54.00"),
        OrderLine(title="Push It Messenger Bag", quantity=2, sku="24-WB04", price="38.75"),
    ]
    assert order.tracking == [Tracking(number="00340434161234567890", company="DHL Paket")]
    assert order.updated_at == datetime(2024, 4, 2, 9, 31, 40, tzinfo=UTC)  # Magento's dates are UTC
    assert order.placed_at == datetime(2024, 4, 2, 9, 30, 11, tzinfo=UTC)
    customer = order.customer
    assert (customer.store_customer_id, customer.email, customer.phone, customer.name) == (
        "42",
        "anna.weber@example.de",
        "+49301234567",
        "Anna Weber",
    )


def test_an_adobe_commerce_webhook_for_a_guest_order():
    event = magento.parse(delivery(fixture("order_place_after_webhook")), {**CONFIG, "default_calling_code": "91"})
    assert event.topic == "sales_order_place_after"
    order = event.order
    assert order.external_id == "311" and order.status == "open"
    assert order.financial_status == "pending" and order.fulfillment_status is None
    # A guest has no store customer id; the billing address's number (written nationally) is
    # read with the account's calling code, before the shipping address's.
    assert order.customer.store_customer_id is None
    assert order.customer.email == "guest.buyer@example.org"
    assert order.customer.phone == "+919812345678"
    assert order.customer.name == "Ravi Kumar"


def test_a_canceled_order_is_cancelled():
    order = magento.parse(delivery(fixture("order_canceled")), CONFIG).order
    assert order.status == "cancelled" and order.fulfillment_status is None and order.tracking == []


def test_a_customer_entity_becomes_a_customer_with_the_default_billing_phone():
    event = magento.parse(delivery(fixture("customer")), CONFIG)
    assert event.order is None and event.topic == "customer"
    assert (event.customer.store_customer_id, event.customer.email, event.customer.phone, event.customer.name) == (
        "42",
        "anna.weber@example.de",
        "+49301234567",
        "Anna Weber",
    )


def test_the_delivery_id_is_the_header_or_the_body_hash():
    body = fixture("order_processing")
    assert magento.parse(delivery(body), CONFIG).delivery_id == hashlib.sha256(body).hexdigest()
    assert magento.parse(delivery(body, **{"x-magento-webhook-id": "evt-77"}), CONFIG).delivery_id == "evt-77"


def _order_body(**changes) -> bytes:
    order = json.loads(fixture("order_processing"))["order"]
    order.update(changes)
    return json.dumps({"order": order}).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{oops", "not JSON"),
        (b'{"product": {"sku": "24-WB04"}}', "'order' or a 'customer'"),
        (b'{"order": []}', "'order' must be an object"),
        (b'{"data": {"order": {}}}', "'order' or a 'customer'"),
        (_order_body(entity_id=None), "order 'entity_id' is missing"),
        (_order_body(updated_at=None), "order 'updated_at' is missing"),
        (_order_body(state=None, status=None), "order 'state' is missing"),
        (_order_body(grand_total="a lot"), "grand_total"),
        (_order_body(grand_total=10**13), "out of range"),
        (_order_body(items="none"), "'items' must be a list"),
        (b'{"customer": {"firstname": "Anna"}}', "customer needs 'id' or 'email'"),
    ],
)
def test_bodies_outside_the_accepted_shapes_are_refused_with_a_reason(body, reason):
    with pytest.raises(PayloadError, match=reason):
        magento.parse(delivery(body), CONFIG)


def test_a_magento_account_gets_a_generated_secret_to_paste_into_the_store():
    schema = ACCOUNT_SCHEMAS["magento"]
    generated = schema.credentials.model_validate({}).webhook_secret
    assert len(generated) >= 32 and schema.shown_credentials == ("webhook_secret",)
    assert schema.webhook_path == "/webhooks/magento/{id}"
    with pytest.raises(ValueError):
        schema.config.model_validate({"base_url": "not a url"})
