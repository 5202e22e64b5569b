"""A cancellation or refund the customer confirmed is carried out at the Shopify store the order
came from (Admin REST API stand-in), once, even when the store is briefly down or an attempt is
repeated after the store already did it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update
from temporalio.testing import ActivityEnvironment

from activities.store_sync import StoreSyncActivities, SyncOrderActionInput
from models.admin_store import ensure_channel_account
from models.agent_tools import OrderAction
from tests.standins.serve import served
from tests.standins.shopify_admin_server import ShopifyAdminStandIn
from tests.workflows.agent_helpers import chat, conversation_of, give_order

SHOP_ORDER_ID = "450789469"
TOKEN = "shpat_0123456789abcdef"


@pytest.fixture
async def shopify():
    async with served(ShopifyAdminStandIn(valid_tokens={TOKEN})) as standin:
        yield standin


async def _shop(deps, tenant, shopify, token: str | None = TOKEN) -> uuid.UUID:
    credentials = {"client_secret": "0123456789abcdef", **({"admin_access_token": token} if token else {})}
    async with deps.sessions.begin() as session:
        shop = await ensure_channel_account(
            session, deps.secrets, tenant_id=uuid.UUID(tenant.tenant_id), channel="shopify", name="shop",
            config={"shop_domain": "acme-store.myshopify.com", "admin_api_base_url": shopify.base_url()}, secrets=credentials,
        )  # fmt: skip
    return shop.id


async def _customer_with_order(http, deps, tenant, shopify, session: str, token: str | None = TOKEN) -> uuid.UUID:
    shop_id = await _shop(deps, tenant, shopify, token)
    await chat(http, tenant.webchat_id, session, "hello")
    conversation = await conversation_of(deps, tenant.tenant_id, session)
    shopify.add_paid_order(SHOP_ORDER_ID, "59.90")
    return await give_order(deps, tenant.tenant_id, conversation.customer_id, channel_account_id=shop_id, external_id=SHOP_ORDER_ID)


async def _action_status(deps, order_id) -> list[str]:
    async with deps.sessions() as session:
        return list(await session.scalars(select(OrderAction.status).where(OrderAction.order_id == order_id)))


async def test_a_confirmed_refund_is_made_at_the_store(http, deps, tenant, shopify):
    order_id = await _customer_with_order(http, deps, tenant, shopify, "shop-refund")
    shopify.fail_next = 2  # the store is briefly down: the activity retries

    await chat(http, tenant.webchat_id, "shop-refund", "Please refund order 1001")
    done = await chat(http, tenant.webchat_id, "shop-refund", "yes")

    [refund] = shopify.refunds[SHOP_ORDER_ID]
    assert [(t["amount"], t["kind"]) for t in refund["transactions"]] == [("59.90", "refund")]
    assert '"store_synced": true' in done["reply"] and "refunded at the store" in done["reply"]
    assert await _action_status(deps, order_id) == ["done"]


async def test_a_confirmed_cancellation_is_made_at_the_store(http, deps, tenant, shopify):
    await _customer_with_order(http, deps, tenant, shopify, "shop-cancel")

    await chat(http, tenant.webchat_id, "shop-cancel", "Please cancel order 1001")
    done = await chat(http, tenant.webchat_id, "shop-cancel", "yes")

    assert shopify.cancels == [SHOP_ORDER_ID] and '"store_synced": true' in done["reply"]


async def test_a_store_without_admin_access_leaves_it_to_a_person_and_says_so(http, deps, tenant, shopify):
    order_id = await _customer_with_order(http, deps, tenant, shopify, "shop-manual", token=None)

    await chat(http, tenant.webchat_id, "shop-manual", "Please refund order 1001")
    done = await chat(http, tenant.webchat_id, "shop-manual", "yes")

    assert shopify.refunds[SHOP_ORDER_ID] == []
    assert '"store_synced": false' in done["reply"] and "a person completes it" in done["reply"]
    assert await _action_status(deps, order_id) == ["requested"]


async def test_an_attempt_repeated_after_the_store_refunded_does_not_refund_twice(http, deps, tenant, shopify):
    order_id = await _customer_with_order(http, deps, tenant, shopify, "shop-twice")
    await chat(http, tenant.webchat_id, "shop-twice", "Please refund order 1001")
    await chat(http, tenant.webchat_id, "shop-twice", "yes")
    async with deps.sessions.begin() as session:  # as if the worker died before recording the store's answer
        action_id = await session.scalar(
            update(OrderAction).where(OrderAction.order_id == order_id).values(status="requested").returning(OrderAction.id)
        )

    again = await ActivityEnvironment().run(
        StoreSyncActivities(deps).sync_order_action, SyncOrderActionInput(tenant_id=tenant.tenant_id, action_id=str(action_id))
    )

    assert again.synced and len(shopify.refunds[SHOP_ORDER_ID]) == 1  # found by its note, not made again
    assert await _action_status(deps, order_id) == ["done"]
