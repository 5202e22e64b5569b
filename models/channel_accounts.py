from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned


class ChannelAccount(TenantOwned, Base):
    """A tenant's account on one channel (a WhatsApp number, a web-chat widget...).

    `config` holds non-secret settings (phone_number_id, graph_base_url); credentials (app secret,
    access token, verify token) live only in `secrets_encrypted`, bound to this row's id.
    """

    __tablename__ = "channel_accounts"

    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    secrets_encrypted: Mapped[str | None] = mapped_column(Text)
