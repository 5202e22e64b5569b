"""Channel accounts and LLM providers, with their secrets decrypted only on the way out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import SecretBox
from llm.base import ProviderConfig
from models.channel_accounts import ChannelAccount
from models.tenants import LlmProvider, Tenant


@dataclass(frozen=True)
class ResolvedChannelAccount:
    id: uuid.UUID
    tenant_id: uuid.UUID
    channel: str
    status: str
    config: dict[str, Any]
    secrets: dict[str, Any]


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


async def channel_account_by_id(
    session: AsyncSession, box: SecretBox, channel_account_id: str
) -> ResolvedChannelAccount | None:
    """Webhooks and web chat address a channel account by id; that id decides the tenant."""
    account_uuid = parse_uuid(channel_account_id)
    if account_uuid is None:
        return None
    row = await session.scalar(
        select(ChannelAccount)
        .join(Tenant, Tenant.id == ChannelAccount.tenant_id)
        .where(ChannelAccount.id == account_uuid, Tenant.status == "active")
    )
    if row is None:
        return None
    return ResolvedChannelAccount(
        id=row.id,
        tenant_id=row.tenant_id,
        channel=row.channel,
        status=row.status,
        config=dict(row.config or {}),
        secrets=box.decrypt_json(row.secrets_encrypted, context=str(row.id)),
    )


async def tenant_providers(session: AsyncSession, box: SecretBox, tenant_id: uuid.UUID) -> list[ProviderConfig]:
    rows = await session.scalars(
        select(LlmProvider)
        .where(LlmProvider.tenant_id == tenant_id, LlmProvider.enabled.is_(True))
        .order_by(LlmProvider.priority, LlmProvider.name)
    )
    return [
        ProviderConfig(
            name=row.name,
            kind=row.kind,
            base_url=row.base_url,
            model=row.model,
            api_key=box.decrypt(row.api_key_encrypted, context=str(row.id)) if row.api_key_encrypted else None,
        )
        for row in rows
    ]


async def tenant_profile(session: AsyncSession, tenant_id: uuid.UUID) -> tuple[str, dict[str, Any]] | None:
    """The tenant's name and settings (its LLM policy among them)."""
    row = (await session.execute(select(Tenant.name, Tenant.settings).where(Tenant.id == tenant_id))).first()
    return (row[0], dict(row[1] or {})) if row else None
