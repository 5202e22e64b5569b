"""The demo tenant `frontdesk dev` creates (idempotently) so there is something to talk to."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.crypto import SecretBox
from core.ids import named_uuid
from models.accounts_store import channel_account_by_id
from models.admin_store import ensure_channel_account, ensure_tenant, set_provider

DEMO_TENANT_SLUG = "demo"
DEMO_TENANT_ID = named_uuid("tenant:demo")
DEMO_WEBCHAT_ID = named_uuid("demo:webchat")
DEMO_WHATSAPP_ID = named_uuid("demo:whatsapp")
DEMO_PHONE_NUMBER_ID = "100000000000001"


@dataclass
class DemoSeed:
    tenant_id: str
    webchat_account_id: str
    whatsapp_account_id: str
    whatsapp_verify_token: str


@dataclass
class DemoProvider:
    base_url: str
    model: str
    api_key: str | None
    kind: str = "openai_compatible"


async def seed_demo(
    sessions: async_sessionmaker[AsyncSession], box: SecretBox, provider: DemoProvider | None = None
) -> DemoSeed:
    async with sessions.begin() as session:
        tenant = await ensure_tenant(session, DEMO_TENANT_SLUG, "Demo Store", DEMO_TENANT_ID)
        await ensure_channel_account(
            session, box, tenant_id=tenant.id, channel="webchat", name="Demo web chat",
            config={"greeting": "Hi! How can we help?"}, secrets={}, account_id=DEMO_WEBCHAT_ID,
        )  # fmt: skip
        await ensure_channel_account(
            session, box, tenant_id=tenant.id, channel="whatsapp", name="Demo WhatsApp",
            config={"phone_number_id": DEMO_PHONE_NUMBER_ID},
            secrets={
                "app_secret": secrets.token_hex(16),
                "verify_token": secrets.token_urlsafe(16),
                "access_token": "set-a-real-cloud-api-token",
            },
            account_id=DEMO_WHATSAPP_ID,
        )  # fmt: skip
        if provider:
            await set_provider(
                session, box, tenant_id=tenant.id, name="default",
                base_url=provider.base_url, model=provider.model, api_key=provider.api_key, kind=provider.kind,
            )  # fmt: skip
    async with sessions() as session:
        whatsapp = await channel_account_by_id(session, box, str(DEMO_WHATSAPP_ID))
    return DemoSeed(
        tenant_id=str(DEMO_TENANT_ID),
        webchat_account_id=str(DEMO_WEBCHAT_ID),
        whatsapp_account_id=str(DEMO_WHATSAPP_ID),
        whatsapp_verify_token=str(whatsapp.secrets.get("verify_token")) if whatsapp else "",
    )
