"""Building tenants and channel payloads for tests (through the same code the product uses)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.crypto import SecretBox
from models.admin_store import ensure_channel_account, ensure_tenant, set_provider


@dataclass
class TestTenant:
    __test__ = False  # not a test class, whatever its name

    tenant_id: str
    slug: str
    model: str
    webchat_id: str
    whatsapp_id: str
    phone_number_id: str
    app_secret: str
    verify_token: str
    access_token: str


async def create_tenant(
    sessions: async_sessionmaker[AsyncSession],
    box: SecretBox,
    *,
    openai_url: str | None,
    graph_url: str,
    model: str | None = None,
) -> TestTenant:
    """A tenant with a web-chat and a WhatsApp account; its provider answers with `model`."""
    slug = f"t-{uuid.uuid4().hex[:10]}"
    model = model or f"model-{slug}"
    t = TestTenant(
        tenant_id="", slug=slug, model=model, webchat_id="", whatsapp_id="",
        phone_number_id=str(secrets.randbelow(10**15)), app_secret=secrets.token_hex(16),
        verify_token=secrets.token_urlsafe(12), access_token=secrets.token_urlsafe(24),
    )  # fmt: skip
    async with sessions.begin() as session:
        tenant = await ensure_tenant(session, slug, f"Tenant {slug}")
        webchat = await ensure_channel_account(
            session, box, tenant_id=tenant.id, channel="webchat", name="web", config={}, secrets={}
        )
        whatsapp = await ensure_channel_account(
            session, box, tenant_id=tenant.id, channel="whatsapp", name="wa",
            config={"phone_number_id": t.phone_number_id, "graph_base_url": f"{graph_url}/v21.0"},
            secrets={"app_secret": t.app_secret, "verify_token": t.verify_token, "access_token": t.access_token},
        )  # fmt: skip
        if openai_url:
            await set_provider(
                session, box, tenant_id=tenant.id, name="primary", base_url=f"{openai_url}/v1", model=model, api_key="sk-test"
            )
    t.tenant_id, t.webchat_id, t.whatsapp_id = str(tenant.id), str(webchat.id), str(whatsapp.id)
    return t


def whatsapp_payload(
    phone_number_id: str,
    messages: list[tuple[str, str, str]] | None = None,
    statuses: list[tuple[str, str]] | None = None,
) -> bytes:
    """Cloud API webhook body. messages: (from, wamid, text); statuses: (wamid, status)."""
    now = str(int(time.time()))
    value: dict = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": "Test Customer"}, "wa_id": frm} for frm, _, _ in messages]
        value["messages"] = [
            {"from": frm, "id": wamid, "timestamp": now, "type": "text", "text": {"body": text}}
            for frm, wamid, text in messages
        ]
    if statuses:
        value["statuses"] = [
            {"id": wamid, "status": status, "timestamp": now, "recipient_id": "15551234567"} for wamid, status in statuses
        ]
    body = {"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}]}
    return json.dumps(body).encode()


def signature(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def new_wamid() -> str:
    return f"wamid.in{uuid.uuid4().hex}"


def new_phone() -> str:
    return "91" + str(secrets.randbelow(10**10)).zfill(10)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
