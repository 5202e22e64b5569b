"""Creating tenants, channel accounts and providers (seed, admin API, tests, benchmarks)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import SecretBox
from models.channel_accounts import ChannelAccount
from models.tenants import LlmProvider, Tenant


async def ensure_tenant(session: AsyncSession, slug: str, name: str, tenant_id: uuid.UUID | None = None) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        tenant = Tenant(id=tenant_id or uuid.uuid4(), slug=slug, name=name, status="active")
        session.add(tenant)
        await session.flush()
    return tenant


async def ensure_channel_account(
    session: AsyncSession,
    box: SecretBox,
    *,
    tenant_id: uuid.UUID,
    channel: str,
    name: str,
    config: dict[str, Any],
    secrets: dict[str, Any],
    account_id: uuid.UUID | None = None,
) -> ChannelAccount:
    """Create the account if missing. An existing account keeps its secrets (a re-run of the
    seed must not rotate a verify token that Meta already knows)."""
    account_id = account_id or uuid.uuid4()
    account = await session.get(ChannelAccount, account_id)
    if account is None:
        account = ChannelAccount(
            id=account_id,
            tenant_id=tenant_id,
            channel=channel,
            name=name,
            config=config,
            secrets_encrypted=box.encrypt_json(secrets, context=str(account_id)) if secrets else None,
        )
        session.add(account)
        await session.flush()
    return account


async def set_provider(
    session: AsyncSession,
    box: SecretBox,
    *,
    tenant_id: uuid.UUID,
    name: str,
    base_url: str,
    model: str,
    api_key: str | None,
    kind: str = "openai_compatible",
    priority: int = 0,
) -> LlmProvider:
    """Create or update the tenant's provider called `name`."""
    provider = await session.scalar(
        select(LlmProvider).where(LlmProvider.tenant_id == tenant_id, LlmProvider.name == name)
    )
    if provider is None:
        provider = LlmProvider(id=uuid.uuid4(), tenant_id=tenant_id, name=name)
        session.add(provider)
    provider.kind = kind
    provider.base_url = base_url
    provider.model = model
    provider.priority = priority
    provider.enabled = True
    provider.api_key_encrypted = box.encrypt(api_key, context=str(provider.id)) if api_key else None
    await session.flush()
    return provider
