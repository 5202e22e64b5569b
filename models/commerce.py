"""Orders pushed by the tenant's store (Shopify, Magento), and the deliveries already applied.

Orders are upserted by (store account, the store's order id): two stores of one tenant number
their orders independently. `source_updated_at` keeps an older webhook arriving after a newer
one (stores deliver out of order) from rolling an order back.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned


class Order(TenantOwned, Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("channel_account_id", "external_id"),)

    channel_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)  # the store
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # shopify | magento
    external_id: Mapped[str] = mapped_column(String(64), nullable=False)  # the store's order id
    number: Mapped[str | None] = mapped_column(String(64))  # what the customer sees: "#1001"
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), nullable=False)  # open | cancelled | closed | ...
    financial_status: Mapped[str | None] = mapped_column(String(32))
    fulfillment_status: Mapped[str | None] = mapped_column(String(32))
    total: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    tracking: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    placed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CommerceWebhookDelivery(TenantOwned, Base):
    """One store webhook already applied (Shopify's X-Shopify-Webhook-Id): a redelivery is a no-op."""

    __tablename__ = "commerce_webhook_deliveries"
    __table_args__ = (UniqueConstraint("channel_account_id", "delivery_id"),)

    channel_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    delivery_id: Mapped[str] = mapped_column(String(128), nullable=False)
    topic: Mapped[str] = mapped_column(String(64), nullable=False)
