"""Store webhooks (Shopify, Magento): orders and customers pushed by a tenant's shop.

`POST /webhooks/{store}/{channel_account_id}`, the account being a channel account of that
store's kind (channels/account_settings.py). Answered 200 only once the delivery and its
effect are committed together, so every failure makes the store redeliver: 401 for a bad
signature, 400 (with the reason) for a body the store would not send, 404 for an unknown
account, 503 with Retry-After while the database is unreachable or the write lost a race.
A redelivery, an older version of a stored order and an unused topic are all 200 no-ops,
told apart by `result`.
"""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from api.deps import AppState, StateDep
from api.problems import Problem
from api.routes.channel_webhooks import webhook_request
from channels.base import PayloadError, SignatureError
from channels.commerce import StoreWebhooks
from channels.magento import MagentoWebhooks
from channels.shopify import ShopifyWebhooks
from models import commerce_store
from models.tenant_db import tenant_transaction

STORES: dict[str, StoreWebhooks] = {store.source: store for store in (ShopifyWebhooks(), MagentoWebhooks())}
# SQLSTATE class 40 (serialization failure, deadlock): two deliveries about one customer raced;
# the store's retry succeeds.
_RACE_SQLSTATE_CLASS = "40"
RETRY_AFTER_SECONDS = "5"


class StoreWebhookAck(BaseModel):
    result: Literal["applied", "duplicate", "stale", "ignored"]
    order_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None


def store_router(source: str, store: StoreWebhooks) -> APIRouter:
    router = APIRouter(prefix=f"/webhooks/{source}", tags=["webhooks"])

    @router.post(
        "/{channel_account_id}",
        response_model=StoreWebhookAck,
        responses={400: {}, 401: {}, 403: {}, 404: {}, 413: {}, 503: {}},
        name=f"{source}_webhook",
    )
    async def receive(channel_account_id: str, request: Request, state: StateDep) -> StoreWebhookAck:
        return await _receive(source, store, channel_account_id, request, state)

    return router


async def _receive(source: str, store: StoreWebhooks, channel_account_id: str, request: Request, state: AppState) -> StoreWebhookAck:
    account = await state.accounts.require(channel_account_id, source)
    raw = await request.body()  # capped by BodyLimitMiddleware
    delivery = webhook_request(request, raw, state.settings.public_url)
    try:
        store.verify(delivery, account.secrets)
    except SignatureError as exc:
        raise Problem(401, "Invalid signature", str(exc)) from None
    try:
        event = store.parse(delivery, account.config)
    except PayloadError as exc:
        raise Problem(400, "Malformed webhook payload", str(exc)) from None
    if event is None:
        return StoreWebhookAck(result="ignored")
    try:
        async with tenant_transaction(state.sessions, account.tenant_id) as session:
            outcome = await commerce_store.apply_store_event(session, account.tenant_id, account.id, event)
    except DBAPIError as exc:
        if not _lost_race(exc):
            raise  # an outage is answered 503 by the app's handler (api/problems.py)
        raise Problem(503, "Concurrent update, retry", type(exc).__name__, {"Retry-After": RETRY_AFTER_SECONDS}) from None
    return StoreWebhookAck(result=outcome.result, order_id=outcome.order_id, customer_id=outcome.customer_id)  # type: ignore[arg-type]


def _lost_race(exc: DBAPIError) -> bool:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_RACE_SQLSTATE_CLASS)


router = APIRouter()
for _source, _store in STORES.items():
    router.include_router(store_router(_source, _store))
