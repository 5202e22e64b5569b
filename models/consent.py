"""Customers who told a channel to stop messaging them (SMS "STOP"): nothing is sent to them on
that channel account until they opt back in ("START")."""

from __future__ import annotations

import uuid

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned


class ChannelOptOut(TenantOwned, Base):
    __tablename__ = "channel_opt_outs"
    __table_args__ = (UniqueConstraint("channel_account_id", "contact_id"),)

    channel_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    contact_id: Mapped[str] = mapped_column(String(128), nullable=False)
    keyword: Mapped[str] = mapped_column(String(32), nullable=False)  # what the customer sent
