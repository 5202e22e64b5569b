"""Carrying a recorded cancellation or refund out at the store it came from.

The tool (agent/tools/orders.py) records the action in our database under the tool call's key;
this activity then asks the store, and marks the action `done` once the store has it. Retries are
safe: an action already `done` returns at once, and the store client looks before it acts
(channels/shopify_admin.py). A store that cannot do it (no Admin API token, a Magento store, the
store refusing) gives `synced: false` with the reason, which the model tells the customer: a
person completes it in the store.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from channels.shopify_admin import ShopifyAdmin, StoreRefused, StoreResult, StoreUnavailable
from core.logging import get_logger
from models import accounts_store
from models.agent_tools import OrderAction
from models.commerce import Order
from models.tenant_db import tenant_transaction

SYNCED_TOOLS = ("cancel_order", "refund_order")
log = get_logger()


@dataclass
class SyncOrderActionInput:
    tenant_id: str
    action_id: str


@dataclass
class SyncOrderActionResult:
    synced: bool
    detail: str
    store_ref: str | None = None


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidInput", non_retryable=True)


class StoreSyncActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn
    async def sync_order_action(self, input: SyncOrderActionInput) -> SyncOrderActionResult:
        try:
            tenant_id, action_id = uuid.UUID(input.tenant_id), uuid.UUID(input.action_id)
        except ValueError:
            raise _invalid(f"not a UUID: {input.tenant_id!r} / {input.action_id!r}") from None
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            row = (
                await session.execute(
                    select(OrderAction, Order)
                    .join(Order, Order.id == OrderAction.order_id)
                    .where(OrderAction.tenant_id == tenant_id, OrderAction.id == action_id)
                )
            ).first()
            if row is None:
                raise _invalid(f"tenant {tenant_id} has no order action {action_id}")
            action, order = row
            if action.status == "done":
                return SyncOrderActionResult(True, "already carried out at the store")
            account = await accounts_store.channel_account_by_id(session, self._deps.secrets, str(order.channel_account_id))
        admin = ShopifyAdmin.for_account(self._deps.http, account.config, account.secrets) if account else None
        if account is None or account.channel != "shopify" or admin is None:
            return SyncOrderActionResult(False, "this store is not connected for changes; a person completes it in the store")
        try:
            result = await self._carry_out(admin, action, order)
        except StoreUnavailable as exc:
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
            raise ApplicationError(str(exc), type="StoreUnavailable", next_retry_delay=delay) from exc
        except StoreRefused as exc:
            log.warning("store refused an order action", tenant_id=input.tenant_id, action_id=input.action_id, error=str(exc))
            return SyncOrderActionResult(False, f"{exc}; a person completes it in the store")
        if result.done:
            async with tenant_transaction(self._deps.sessions, tenant_id) as session:
                await session.execute(
                    update(OrderAction).where(OrderAction.tenant_id == tenant_id, OrderAction.id == action_id).values(status="done")
                )
        return SyncOrderActionResult(result.done, result.detail, result.store_ref)

    async def _carry_out(self, admin: ShopifyAdmin, action: OrderAction, order: Order) -> StoreResult:
        if action.kind == "cancel":
            return await admin.cancel(order.external_id, action.reason)
        if action.amount is None or not (action.currency or order.currency):
            return StoreResult(False, "the refund has no amount or currency to send the store")
        return await admin.refund(order.external_id, str(action.id), action.amount, action.currency or order.currency, action.reason)
