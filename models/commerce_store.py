"""Applying a store's webhook: record the delivery, link the customer, upsert the order.

All of it runs in the caller's one tenant transaction (models/tenant_db.tenant_transaction), so
the dedupe row commits with the work it stands for: a crash leaves neither, and the store's
redelivery does the work again.

How a store's customer is linked to the people Frontdesk already talks to, within the tenant:
1. by the store's own customer id: identity (channel "shopify" | "magento", the store's id);
2. by phone (E.164): identity ("phone", "+91..."), a WhatsApp/SMS/Twilio identity with that
   number (WhatsApp ids are the digits without "+"), or customers.phone;
3. by e-mail (lower-cased): identity ("email", address), or customers.email.
The oldest match wins; with none, a customer is created. The store id, phone and e-mail are then
recorded as identities of that customer (unique per tenant: an identity already held by another
customer stays with it), and blank name/e-mail/phone fields are filled, never overwritten (support
may have corrected them).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from channels.commerce import NormalisedCustomer, NormalisedOrder, StoreEvent
from models.commerce import CommerceWebhookDelivery, Order
from models.customers import Customer, CustomerIdentity
from models.messages_store import PHONE_CHANNELS

EMAIL_IDENTITY = "email"
PHONE_IDENTITY = "phone"
# Channels whose contact id is a phone number: WhatsApp's digits without "+", Twilio's "+E.164".
_KNOWN_BY_NUMBER = PHONE_CHANNELS
_MAX_IDENTITY_CHARS = CustomerIdentity.__table__.c.external_id.type.length


@dataclass(frozen=True)
class StoreOutcome:
    result: str  # applied | duplicate | stale
    order_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Store:
    """The store account a webhook came from: two stores of one tenant number their orders and
    customers independently."""

    account_id: uuid.UUID
    source: str  # shopify | magento

    def customer_identity(self, store_customer_id: str) -> tuple[str, str]:
        return self.source, f"{self.account_id}:{store_customer_id}"


async def apply_store_event(session: AsyncSession, tenant_id: uuid.UUID, account_id: uuid.UUID, event: StoreEvent) -> StoreOutcome:
    store = Store(account_id, event.source)
    if not await _claim_delivery(session, tenant_id, store, event):
        return StoreOutcome("duplicate")
    if event.order is not None:
        return await upsert_order(session, tenant_id, store, event.order)
    customer_id = await link_customer(session, tenant_id, store, event.customer) if event.customer else None
    return StoreOutcome("applied", customer_id=customer_id)


async def _claim_delivery(session: AsyncSession, tenant_id: uuid.UUID, store: Store, event: StoreEvent) -> bool:
    """False when this delivery was already applied. A concurrent attempt with the same id waits
    here on the unique index until the first commits (then False) or rolls back (then True)."""
    claimed = await session.scalar(
        insert(CommerceWebhookDelivery)
        .values(
            id=uuid.uuid4(), tenant_id=tenant_id, channel_account_id=store.account_id, source=store.source,
            delivery_id=event.delivery_id, topic=event.topic,
        )  # fmt: skip
        .on_conflict_do_nothing(index_elements=["channel_account_id", "delivery_id"])
        .returning(CommerceWebhookDelivery.id)
    )
    return claimed is not None


async def upsert_order(session: AsyncSession, tenant_id: uuid.UUID, store: Store, order: NormalisedOrder) -> StoreOutcome:
    """Stores deliver out of order (a retried orders/create after an orders/updated): a payload
    older than the stored order changes nothing, not even the customer links."""
    key = (Order.tenant_id == tenant_id, Order.channel_account_id == store.account_id, Order.external_id == order.external_id)
    stored = (await session.execute(select(Order.id, Order.source_updated_at).where(*key))).first()
    if stored is not None and stored.source_updated_at is not None and stored.source_updated_at > order.updated_at:
        return StoreOutcome("stale", order_id=stored.id)
    customer_id = await link_customer(session, tenant_id, store, order.customer)
    values: dict[str, Any] = {
        "number": order.number,
        "email": order.customer.email,
        "phone": order.customer.phone,
        "status": order.status,
        "financial_status": order.financial_status,
        "fulfillment_status": order.fulfillment_status,
        "total": order.total,
        "currency": order.currency,
        "items": [asdict(line) for line in order.items],
        "tracking": [asdict(t) for t in order.tracking],
        "placed_at": order.placed_at,
        "source_updated_at": order.updated_at,
        "updated_at": func.now(),
    }
    statement = insert(Order).values(
        id=uuid.uuid4(), tenant_id=tenant_id, channel_account_id=store.account_id, source=store.source,
        external_id=order.external_id, customer_id=customer_id, **values,
    )
    excluded = statement.excluded
    order_id = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=["channel_account_id", "external_id"],
            set_={**values, "customer_id": func.coalesce(excluded.customer_id, Order.customer_id)},
            # Checked again here: a newer payload may have committed since the read above.
            where=or_(Order.source_updated_at.is_(None), Order.source_updated_at <= excluded.source_updated_at),
        ).returning(Order.id)
    )
    if order_id is None:
        return StoreOutcome("stale", order_id=stored.id if stored else None)
    return StoreOutcome("applied", order_id=order_id, customer_id=customer_id)


async def link_customer(session: AsyncSession, tenant_id: uuid.UUID, store: Store, customer: NormalisedCustomer) -> uuid.UUID | None:
    """The tenant's customer this store customer is (found or created), or None when the store
    gave nothing to know them by."""
    identities = _identities(store, customer)
    if not identities:
        return None
    customer_id = await _find_customer(session, tenant_id, store, customer)
    if customer_id is None:
        customer_id = await _create_customer(session, tenant_id, customer, identities[0])
    else:
        await _fill_blanks(session, tenant_id, customer_id, customer)
    for channel, external_id in identities:
        await _add_identity(session, tenant_id, customer_id, channel, external_id)
    return customer_id


def _identities(store: Store, customer: NormalisedCustomer) -> list[tuple[str, str]]:
    found = []
    if customer.store_customer_id:
        found.append(store.customer_identity(customer.store_customer_id))
    if customer.phone:
        found.append((PHONE_IDENTITY, customer.phone))
    if customer.email and len(customer.email) <= _MAX_IDENTITY_CHARS:  # longer ones link by customers.email only
        found.append((EMAIL_IDENTITY, customer.email))
    return found


async def _find_customer(session: AsyncSession, tenant_id: uuid.UUID, store: Store, customer: NormalisedCustomer) -> uuid.UUID | None:
    lookups: list[tuple[ColumnElement[bool], ColumnElement[bool] | None]] = []
    if customer.store_customer_id:
        lookups.append((_identity_is(*store.customer_identity(customer.store_customer_id)), None))
    if customer.phone:
        channels_with_number = and_(
            CustomerIdentity.channel.in_(_KNOWN_BY_NUMBER), CustomerIdentity.external_id.in_([customer.phone[1:], customer.phone])
        )
        lookups.append((or_(_identity_is(PHONE_IDENTITY, customer.phone), channels_with_number), Customer.phone == customer.phone))
    if customer.email:
        lookups.append((_identity_is(EMAIL_IDENTITY, customer.email), Customer.email == customer.email))
    for by_identity, by_field in lookups:
        held = select(CustomerIdentity.customer_id).where(CustomerIdentity.tenant_id == tenant_id, by_identity)
        match = Customer.id.in_(held) if by_field is None else or_(Customer.id.in_(held), by_field)
        found = await session.scalar(
            select(Customer.id).where(Customer.tenant_id == tenant_id, match).order_by(Customer.created_at, Customer.id).limit(1)
        )
        if found is not None:
            return found
    return None


def _identity_is(channel: str, external_id: str) -> ColumnElement[bool]:
    return and_(CustomerIdentity.channel == channel, CustomerIdentity.external_id == external_id)


async def _create_customer(
    session: AsyncSession, tenant_id: uuid.UUID, customer: NormalisedCustomer, claim: tuple[str, str]
) -> uuid.UUID:
    """A new customer, made ours by inserting its first identity. Two deliveries about one new
    customer can race here: the second waits on the identity's unique index, then takes the
    first's customer and drops its own (the pattern of messages_store.ensure_customer)."""
    customer_id = uuid.uuid4()
    session.add(Customer(id=customer_id, tenant_id=tenant_id, display_name=customer.name, email=customer.email, phone=customer.phone))
    await session.flush()
    if await _add_identity(session, tenant_id, customer_id, *claim):
        return customer_id
    await session.execute(text("DELETE FROM customers WHERE id = :id"), {"id": customer_id})
    channel, external_id = claim
    return await session.scalar(
        select(CustomerIdentity.customer_id).where(CustomerIdentity.tenant_id == tenant_id, _identity_is(channel, external_id))
    )


async def _add_identity(session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID, channel: str, external_id: str) -> bool:
    inserted = await session.scalar(
        insert(CustomerIdentity)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, customer_id=customer_id, channel=channel, external_id=external_id)
        .on_conflict_do_nothing(index_elements=["tenant_id", "channel", "external_id"])
        .returning(CustomerIdentity.id)
    )
    return inserted is not None


async def _fill_blanks(session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID, customer: NormalisedCustomer) -> None:
    await session.execute(
        update(Customer)
        .where(Customer.tenant_id == tenant_id, Customer.id == customer_id)
        .values(
            display_name=func.coalesce(Customer.display_name, customer.name),
            email=func.coalesce(Customer.email, customer.email),
            phone=func.coalesce(Customer.phone, customer.phone),
        )
    )
