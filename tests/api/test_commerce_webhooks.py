"""Store webhooks end to end: Shopify and Magento deliveries through the API into orders and
customers, linked to the people the tenant already talks to, each tenant kept to its own rows."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import func, select

from api.main import create_app
from core.embedded.ports import free_port
from core.ids import conversation_workflow_id
from models import messages_store
from models.admin_store import ensure_channel_account
from models.commerce import CommerceWebhookDelivery, Order
from models.conversations import Conversation
from models.customers import Customer, CustomerIdentity
from tests.api.admin.conftest import admin_key_for
from tests.factories import create_tenant, new_phone
from tests.standins.serve import serve

PAYLOADS = Path(__file__).parents[1] / "channels" / "payloads"
SHOP = "jsmith.myshopify.com"


@dataclass
class StoreTenant:
    tenant_id: uuid.UUID
    whatsapp_id: str
    shopify_id: str
    magento_id: str
    client_secret: str
    magento_secret: str


@pytest.fixture(scope="module")
async def store_http(settings):
    """The API alone: store webhooks need neither a worker nor an LLM."""
    server = await serve(create_app(settings))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client
    await server.stop()


async def _store_tenant(deps, calling_code: str | None = None) -> StoreTenant:
    tenant = await create_tenant(deps.sessions, deps.secrets, openai_url=None, graph_url="http://127.0.0.1:9")
    tenant_id = uuid.UUID(tenant.tenant_id)
    client_secret, magento_secret = secrets.token_hex(16), secrets.token_urlsafe(24)
    extra = {"default_calling_code": calling_code} if calling_code else {}
    async with deps.sessions.begin() as session:
        shop = await ensure_channel_account(
            session, deps.secrets, tenant_id=tenant_id, channel="shopify", name="shop",
            config={"shop_domain": SHOP, **extra}, secrets={"client_secret": client_secret},
        )  # fmt: skip
        magento = await ensure_channel_account(
            session, deps.secrets, tenant_id=tenant_id, channel="magento", name="m2",
            config={"base_url": "https://shop.example.de/", **extra}, secrets={"webhook_secret": magento_secret},
        )  # fmt: skip
    return StoreTenant(tenant_id, tenant.whatsapp_id, str(shop.id), str(magento.id), client_secret, magento_secret)


@pytest.fixture
async def store(deps) -> StoreTenant:
    return await _store_tenant(deps)


def _payload(path: str) -> dict:
    return json.loads((PAYLOADS / f"{path}.json").read_text())


def _shopify_order(name: str = "orders_create", *, order_id: int, phone: str | None = None, email: str | None = None) -> dict:
    """A recorded payload made unique to one test: its own order, customer, phone and e-mail."""
    data = _payload(f"shopify/{name}")
    data["id"] = order_id
    data["customer"]["id"] = order_id + 1
    data["customer"]["phone"] = phone
    data["email"] = data["contact_email"] = email or f"buyer-{order_id}@example.com"
    return data


async def _post_shopify(http, store: StoreTenant, data: dict, topic: str, *, webhook_id: str | None = None, secret: str | None = None):
    body = json.dumps(data).encode()
    signature = base64.b64encode(hmac.new((secret or store.client_secret).encode(), body, hashlib.sha256).digest()).decode()
    headers = {
        "content-type": "application/json",
        "x-shopify-topic": topic,
        "x-shopify-hmac-sha256": signature,
        "x-shopify-shop-domain": SHOP,
        "x-shopify-webhook-id": webhook_id or str(uuid.uuid4()),
        "x-shopify-api-version": "2024-04",
    }
    return await http.post(f"/webhooks/shopify/{store.shopify_id}", content=body, headers=headers)


async def _post_magento(http, store: StoreTenant, data: dict, **headers: str):
    body = json.dumps(data).encode()
    return await http.post(
        f"/webhooks/magento/{store.magento_id}",
        content=body,
        headers={"content-type": "application/json", "x-magento-webhook-secret": store.magento_secret, **headers},
    )


async def _orders(deps, tenant_id: uuid.UUID) -> list[Order]:
    async with deps.sessions() as session:
        return list(await session.scalars(select(Order).where(Order.tenant_id == tenant_id).order_by(Order.created_at)))


async def _count(deps, model, *where) -> int:
    async with deps.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def _identities(deps, customer_id: uuid.UUID) -> set[tuple[str, str]]:
    async with deps.sessions() as session:
        rows = await session.execute(select(CustomerIdentity.channel, CustomerIdentity.external_id).where(CustomerIdentity.customer_id == customer_id))
        return {(channel, external_id) for channel, external_id in rows}


async def test_a_signed_shopify_order_is_stored_with_its_customer(store_http, deps, store):
    phone = "+" + new_phone()
    response = await _post_shopify(store_http, store, _shopify_order(order_id=5001, phone=phone, email="Jon@Example.com"), "orders/create")
    assert response.status_code == 200, response.text
    ack = response.json()
    assert ack["result"] == "applied"

    [order] = await _orders(deps, store.tenant_id)
    assert str(order.id) == ack["order_id"] and str(order.customer_id) == ack["customer_id"]
    assert (order.source, order.external_id, order.number, order.status) == ("shopify", "5001", "#1001", "open")
    assert (order.email, order.phone, str(order.total), order.currency) == ("jon@example.com", phone, "403.00", "USD")
    assert order.financial_status == "paid" and order.fulfillment_status is None
    assert order.items[1] == {"title": "IPod Nano - 8GB", "quantity": 2, "sku": "IPOD2008PINK-2", "price": "99.50"}
    async with deps.sessions() as session:
        customer = await session.get(Customer, order.customer_id)
    assert (customer.display_name, customer.email, customer.phone) == ("John Smith", "jon@example.com", phone)
    assert await _identities(deps, customer.id) == {("shopify", f"{store.shopify_id}:5002"), ("phone", phone), ("email", "jon@example.com")}


async def test_a_bad_signature_is_401_and_changes_nothing(store_http, deps, store):
    data = _shopify_order(order_id=5101)
    forged = await _post_shopify(store_http, store, data, "orders/create", secret="not-the-client-secret")
    assert forged.status_code == 401 and "does not match" in forged.json()["detail"]
    unsigned = await store_http.post(
        f"/webhooks/shopify/{store.shopify_id}", content=json.dumps(data), headers={"x-shopify-topic": "orders/create"}
    )
    assert unsigned.status_code == 401
    magento = await _post_magento(store_http, store, _payload("magento/order_processing"), **{"x-magento-webhook-secret": "guess"})
    assert magento.status_code == 401
    assert await _orders(deps, store.tenant_id) == []
    assert await _count(deps, CommerceWebhookDelivery, CommerceWebhookDelivery.tenant_id == store.tenant_id) == 0


async def test_unknown_accounts_are_404(store_http, store):
    data = _shopify_order(order_id=5201)
    assert (await store_http.post(f"/webhooks/shopify/{uuid.uuid4()}", content=json.dumps(data))).status_code == 404
    assert (await store_http.post("/webhooks/shopify/not-an-id", content=json.dumps(data))).status_code == 404
    # Another kind of account (the tenant's Magento store, its WhatsApp number) is not a Shopify account.
    assert (await store_http.post(f"/webhooks/shopify/{store.magento_id}", content=json.dumps(data))).status_code == 404
    assert (await store_http.post(f"/webhooks/magento/{store.whatsapp_id}", content=json.dumps(data))).status_code == 404


async def test_malformed_bodies_are_400_with_the_reason(store_http, store):
    not_json = await store_http.post(
        f"/webhooks/magento/{store.magento_id}", content=b"{oops", headers={"x-magento-webhook-secret": store.magento_secret}
    )
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["detail"]
    no_updated_at = _shopify_order(order_id=5301)
    del no_updated_at["updated_at"]
    missing = await _post_shopify(store_http, store, no_updated_at, "orders/updated")
    assert missing.status_code == 400 and missing.json()["detail"] == "order 'updated_at' is missing"


async def test_an_address_longer_than_an_identity_still_stores_the_order(store_http, deps, store):
    email = "a" * 150 + "@example.com"
    data = _shopify_order(order_id=5351, email=email)
    data["customer"]["email"] = email
    response = await _post_shopify(store_http, store, data, "orders/create")
    assert response.status_code == 200 and response.json()["result"] == "applied", response.text
    [order] = await _orders(deps, store.tenant_id)
    assert order.email == email and ("shopify", f"{store.shopify_id}:5352") in await _identities(deps, order.customer_id)


async def test_topics_we_do_not_use_are_acknowledged_and_ignored(store_http, deps, store):
    response = await _post_shopify(store_http, store, {"id": 632910392, "title": "IPod Nano - 8GB"}, "products/update")
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    assert await _count(deps, CommerceWebhookDelivery, CommerceWebhookDelivery.tenant_id == store.tenant_id) == 0


async def test_a_redelivery_is_a_no_op(store_http, deps, store):
    data = _shopify_order(order_id=5401, phone="+" + new_phone())
    first = await _post_shopify(store_http, store, data, "orders/create", webhook_id="wh-5401")
    again = await _post_shopify(store_http, store, data, "orders/create", webhook_id="wh-5401")
    assert first.json()["result"] == "applied" and again.status_code == 200 and again.json()["result"] == "duplicate"
    # Shopify retrying while the first attempt is still running: one applies, the other waits and is a no-op.
    racing = _shopify_order(order_id=5411)
    answers = await asyncio.gather(*(_post_shopify(store_http, store, racing, "orders/create", webhook_id="wh-5411") for _ in range(2)))
    assert sorted(a.json()["result"] for a in answers) == ["applied", "duplicate"]

    assert len(await _orders(deps, store.tenant_id)) == 2
    assert await _count(deps, CommerceWebhookDelivery, CommerceWebhookDelivery.tenant_id == store.tenant_id) == 2
    assert await _count(deps, Customer, Customer.tenant_id == store.tenant_id) == 2


async def test_an_older_payload_never_overwrites_a_newer_order(store_http, deps, store):
    updated = await _post_shopify(store_http, store, _shopify_order("orders_updated", order_id=5501), "orders/updated")
    assert updated.json()["result"] == "applied"
    # orders/create (an earlier updated_at) arrives late, e.g. after a retry.
    late = await _post_shopify(store_http, store, _shopify_order("orders_create", order_id=5501), "orders/create")
    assert late.status_code == 200 and late.json()["result"] == "stale"

    [order] = await _orders(deps, store.tenant_id)
    assert order.fulfillment_status == "fulfilled"
    assert order.tracking == [
        {"number": "1Z2345", "url": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=1Z2345", "company": "UPS"}
    ]
    assert order.source_updated_at.isoformat() == "2024-03-28T13:15:00+00:00"


async def test_a_cancelled_order_is_marked_cancelled(store_http, deps, store):
    await _post_shopify(store_http, store, _shopify_order("orders_create", order_id=5601), "orders/create")
    cancelled = await _post_shopify(store_http, store, _shopify_order("orders_cancelled", order_id=5601), "orders/cancelled")
    assert cancelled.json()["result"] == "applied"
    [order] = await _orders(deps, store.tenant_id)
    assert (order.status, order.financial_status) == ("cancelled", "refunded")


async def test_a_whatsapp_customer_sees_their_shopify_order(store_http, deps, store):
    wa_id = new_phone()  # WhatsApp knows them as digits; Shopify writes "+<digits>"
    workflow_id = conversation_workflow_id(str(store.tenant_id), store.whatsapp_id, wa_id)
    async with deps.sessions.begin() as session:  # what the turn does for their first message
        customer_id = await messages_store.ensure_customer(session, store.tenant_id, "whatsapp", wa_id, "Priya")
        await messages_store.ensure_conversation(session, store.tenant_id, uuid.UUID(store.whatsapp_id), customer_id, workflow_id)

    data = _shopify_order(order_id=5701, phone=None, email="priya@example.in")
    data["customer"]["phone"] = f"+{wa_id[:2]} {wa_id[2:7]} {wa_id[7:]}"  # as typed at checkout
    response = await _post_shopify(store_http, store, data, "orders/create")
    assert response.json()["customer_id"] == str(customer_id)

    async with deps.sessions() as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.workflow_id == workflow_id))
        orders = list(await session.scalars(select(Order).where(Order.customer_id == conversation.customer_id)))
        customer = await session.get(Customer, customer_id)
    assert [o.number for o in orders] == ["#1001"]
    assert (customer.display_name, customer.email, customer.phone) == ("Priya", "priya@example.in", "+" + wa_id)

    # The tenant's support staff see it on the customer, through the admin API.
    key = await admin_key_for(deps, str(store.tenant_id))
    listed = await store_http.get(f"/v1/customers/{customer_id}/orders", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200, listed.text
    [shown] = listed.json()["items"]
    assert (shown["number"], shown["source"], shown["status"]) == ("#1001", "shopify", orders[0].status)
    assert shown["items"] and shown["total"] is not None
    other = await _store_tenant(deps)
    other_key = await admin_key_for(deps, str(other.tenant_id))
    assert (await store_http.get(f"/v1/customers/{customer_id}/orders", headers={"Authorization": f"Bearer {other_key}"})).status_code == 404
    assert await _identities(deps, customer_id) >= {("whatsapp", wa_id), ("shopify", f"{store.shopify_id}:5702"), ("email", "priya@example.in")}
    assert await _count(deps, Customer, Customer.tenant_id == store.tenant_id) == 1


async def test_a_buyer_who_writes_on_whatsapp_after_ordering_is_the_same_customer(store_http, deps, store):
    wa_id = new_phone()
    data = _shopify_order(order_id=5751, phone=None, email="ana@example.in")
    data["customer"]["phone"] = "+" + wa_id
    ordered = await _post_shopify(store_http, store, data, "orders/create")
    async with deps.sessions.begin() as session:  # their first WhatsApp message, days later
        customer_id = await messages_store.ensure_customer(session, store.tenant_id, "whatsapp", wa_id, "Ana")
    assert ordered.json()["customer_id"] == str(customer_id)
    assert await _identities(deps, customer_id) >= {("whatsapp", wa_id), ("email", "ana@example.in")}
    assert await _count(deps, Customer, Customer.tenant_id == store.tenant_id) == 1


async def test_shopify_customer_topics_create_then_update_one_customer(store_http, deps, store):
    created = await _post_shopify(store_http, store, _payload("shopify/customers_create"), "customers/create")
    updated = await _post_shopify(store_http, store, _payload("shopify/customers_update"), "customers/update")
    assert created.json()["result"] == updated.json()["result"] == "applied"
    assert created.json()["customer_id"] == updated.json()["customer_id"]
    customer_id = uuid.UUID(created.json()["customer_id"])
    async with deps.sessions() as session:
        customer = await session.get(Customer, customer_id)
    assert (customer.display_name, customer.email, customer.phone) == ("Bob Biller", "bob@biller.com", "+16135551212")
    # A later order by e-mail only (a guest checkout) finds the same person.
    guest = _shopify_order(order_id=5801, email="BOB@biller.com")
    guest["customer"] = None
    assert (await _post_shopify(store_http, store, guest, "orders/create")).json()["customer_id"] == str(customer_id)


async def test_customer_and_order_topics_arriving_together_make_one_customer(store_http, deps, store):
    # A new buyer's checkout fires customers/create and orders/create at once.
    order = _shopify_order(order_id=5851, phone="+" + new_phone())
    customer = dict(order["customer"], email=order["email"])
    answers = await asyncio.gather(
        _post_shopify(store_http, store, customer, "customers/create"), _post_shopify(store_http, store, order, "orders/create")
    )
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json()["customer_id"] == answers[1].json()["customer_id"]
    assert await _count(deps, Customer, Customer.tenant_id == store.tenant_id) == 1


async def test_magento_customer_and_orders(store_http, deps):
    store = await _store_tenant(deps, calling_code="91")
    customer = await _post_magento(store_http, store, _payload("magento/customer"))
    order = await _post_magento(store_http, store, _payload("magento/order_processing"), **{"x-magento-webhook-id": "m2-310-a"})
    assert customer.status_code == order.status_code == 200, order.text
    assert order.json()["customer_id"] == customer.json()["customer_id"]
    # The same body again, without a delivery id header: its hash is the key.
    guest = _payload("magento/order_place_after_webhook")
    assert (await _post_magento(store_http, store, guest)).json()["result"] == "applied"
    assert (await _post_magento(store_http, store, guest)).json()["result"] == "duplicate"
    cancelled = await _post_magento(store_http, store, _payload("magento/order_canceled"))
    assert cancelled.json()["result"] == "applied"

    orders = {o.number: o for o in await _orders(deps, store.tenant_id)}
    assert set(orders) == {"000000310", "000000311"}
    assert orders["000000310"].status == "cancelled" and str(orders["000000310"].total) == "136.50"
    assert orders["000000311"].phone == "+919812345678" and orders["000000311"].customer_id != orders["000000310"].customer_id
    assert await _identities(deps, orders["000000310"].customer_id) == {
        ("magento", f"{store.magento_id}:42"),
        ("email", "anna.weber@example.de"),
        ("phone", "+49301234567"),
    }


async def test_two_stores_of_one_tenant_number_their_orders_and_customers_apart(store_http, deps, store):
    # A second Magento store of the same tenant: its order 000000310 and customer 42 are others.
    async with deps.sessions.begin() as session:
        second = await ensure_channel_account(
            session, deps.secrets, tenant_id=store.tenant_id, channel="magento", name="second store",
            config={"base_url": "https://outlet.example.de/"}, secrets={"webhook_secret": store.magento_secret},
        )  # fmt: skip
    other = StoreTenant(store.tenant_id, store.whatsapp_id, store.shopify_id, str(second.id), store.client_secret, store.magento_secret)
    order = _payload("magento/order_processing")
    assert (await _post_magento(store_http, store, order)).json()["result"] == "applied"
    assert (await _post_magento(store_http, other, order)).json()["result"] == "applied"  # not a duplicate, not an update
    orders = await _orders(deps, store.tenant_id)
    assert len(orders) == 2 and {str(o.channel_account_id) for o in orders} == {store.magento_id, str(second.id)}


async def test_one_tenants_store_never_touches_another_tenant(store_http, deps):
    a, b = await _store_tenant(deps), await _store_tenant(deps)
    wa_id = new_phone()
    async with deps.sessions.begin() as session:  # B already talks to this number on WhatsApp
        b_customer = await messages_store.ensure_customer(session, b.tenant_id, "whatsapp", wa_id, "B's customer")

    # A's shop: same order id, same phone. A gets its own customer; B's stays untouched.
    response = await _post_shopify(store_http, a, _shopify_order(order_id=5901, phone="+" + wa_id), "orders/create")
    assert response.json()["result"] == "applied" and response.json()["customer_id"] != str(b_customer)
    # Signed with B's secret but sent to A's URL: refused. A's signature to B's URL: refused.
    assert (await _post_shopify(store_http, a, _shopify_order(order_id=5902), "orders/create", secret=b.client_secret)).status_code == 401
    assert (await _post_shopify(store_http, b, _shopify_order(order_id=5903), "orders/create", secret=a.client_secret)).status_code == 401
    # B's own shop with the same order id and delivery id: a separate row, not a duplicate.
    same = _shopify_order(order_id=5901, phone="+" + wa_id)
    assert (await _post_shopify(store_http, b, same, "orders/create", webhook_id="wh-shared")).json()["result"] == "applied"
    assert (await _post_shopify(store_http, a, same, "orders/create", webhook_id="wh-shared")).json()["result"] == "applied"

    [b_order] = await _orders(deps, b.tenant_id)
    assert b_order.customer_id == b_customer
    a_orders = await _orders(deps, a.tenant_id)
    assert {o.external_id for o in a_orders} == {"5901"} and a_orders[0].customer_id != b_customer
    assert await _count(deps, Customer, Customer.tenant_id == b.tenant_id) == 1
    assert await _identities(deps, b_customer) >= {("whatsapp", wa_id), ("shopify", f"{b.shopify_id}:5902")}
    async with deps.sessions() as session:
        a_customer = await session.get(Customer, a_orders[0].customer_id)
    assert a_customer.tenant_id == a.tenant_id


async def test_database_down_is_503_with_retry_after(settings, store):
    # Shopify retries anything but 2xx; Retry-After tells it (and Magento modules) when.
    host = urlsplit(settings.database_url)
    unreachable = urlunsplit(host._replace(netloc=f"{host.username}:{host.password}@127.0.0.1:{free_port()}"))
    server = await serve(create_app(settings.model_copy(update={"database_url": unreachable})))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            response = await _post_shopify(http, store, _shopify_order(order_id=6001), "orders/create")
    finally:
        await server.stop()
    assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
