"""Carrying a recorded cancellation or refund out at the store it came from, and turning a
recorded payment request into a Stripe Checkout link.

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
from channels.remote_errors import StoreRefused, StoreUnavailable
from channels.shopify_admin import ShopifyAdmin, StoreResult
from channels.stripe_payments import StripeCheckout
from core.logging import get_logger
from models import accounts_store
from models.agent_tools import OrderAction, PaymentIntent
from models.channel_accounts import ChannelAccount
from models.commerce import Order
from models.tenant_db import tenant_transaction

SYNCED_TOOLS = ("cancel_order", "refund_order")
PAYMENT_TOOL = "create_payment_intent"
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


@dataclass
class PaymentLinkInput:
    tenant_id: str
    payment_intent_id: str


@dataclass
class PaymentLinkResult:
    synced: bool
    detail: str
    payment_url: str | None = None


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidInput", non_retryable=True)


def _retry_later(exc: StoreUnavailable) -> ApplicationError:
    """Temporal retries it, after the wait the store asked for (a 429's Retry-After) if any."""
    delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
    return ApplicationError(str(exc), type="StoreUnavailable", next_retry_delay=delay)


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
            raise _retry_later(exc) from exc
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

    @activity.defn
    async def send_payment_link(self, input: PaymentLinkInput) -> PaymentLinkResult:
        """A Stripe Checkout link for a recorded payment intent (the tenant's Stripe account);
        the same link on a retry (kept on the intent, and Stripe's idempotency key)."""
        try:
            tenant_id, intent_id = uuid.UUID(input.tenant_id), uuid.UUID(input.payment_intent_id)
        except ValueError:
            raise _invalid(f"not a UUID: {input.tenant_id!r} / {input.payment_intent_id!r}") from None
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            intent = await session.scalar(select(PaymentIntent).where(PaymentIntent.tenant_id == tenant_id, PaymentIntent.id == intent_id))
            if intent is None:
                raise _invalid(f"tenant {tenant_id} has no payment intent {intent_id}")
            if intent.payment_url:
                return PaymentLinkResult(True, "payment link created", intent.payment_url)
            account_id = await session.scalar(
                select(ChannelAccount.id)
                .where(ChannelAccount.tenant_id == tenant_id, ChannelAccount.channel == "stripe", ChannelAccount.status == "active")
                .order_by(ChannelAccount.created_at)
                .limit(1)
            )
            account = await accounts_store.channel_account_by_id(session, self._deps.secrets, str(account_id)) if account_id else None
        checkout = StripeCheckout.for_account(self._deps.http, account.config, account.secrets) if account else None
        if checkout is None:
            return PaymentLinkResult(False, "no payment provider is connected; a person sends the payment request")
        try:
            link = await checkout.payment_link(str(intent.id), intent.amount, intent.currency, intent.description)
        except StoreUnavailable as exc:
            raise _retry_later(exc) from exc
        except StoreRefused as exc:
            log.warning("payment provider refused a link", tenant_id=input.tenant_id, payment_intent_id=input.payment_intent_id, error=str(exc))
            return PaymentLinkResult(False, f"{exc}; a person sends the payment request")
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            await session.execute(
                update(PaymentIntent)
                .where(PaymentIntent.tenant_id == tenant_id, PaymentIntent.id == intent_id, PaymentIntent.payment_url.is_(None))
                .values(provider="stripe", provider_ref=link.session_id, payment_url=link.url, status="awaiting_payment")
            )
        return PaymentLinkResult(True, "payment link created", link.url)
