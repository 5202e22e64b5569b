"""Web-chat test helpers shared by the API's WebSocket tests and the widget's browser tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text

from models.admin_store import ensure_channel_account

# What a turn that offers choices stores with its reply (OutboundMessage.rich_content's shape).
CHOICES = {
    "buttons": [{"id": "track", "title": "Parcel status"}, {"id": "agent", "title": "Talk to a person"}],
    "list_rows": [{"id": "returns", "title": "Returns", "description": "30 days, free pickup"}],
}


async def webchat_account(deps, tenant_id: str, config: dict[str, Any]) -> str:
    """A second web-chat account of the tenant, with its own look and allowed origins."""
    async with deps.sessions.begin() as session:
        account = await ensure_channel_account(
            session, deps.secrets, tenant_id=uuid.UUID(tenant_id), channel="webchat", name="web", config=config, secrets={}
        )
    return str(account.id)


@asynccontextmanager
async def replies_offer_choices(deps, tenant_id: str, marker: str, content: dict | None = None) -> AsyncIterator[None]:
    """While open, the tenant's replies that contain `marker` are stored with buttons and list rows,
    as a turn offering choices stores them. Nothing in the turn writes choices yet (the reply
    model gives text only), so this trigger stands in for that step; everything after the row is
    written (the reply frame, the widget) is the product's own code."""
    name = f"test_choices_{uuid.uuid4().hex[:10]}"
    choices = json.dumps(content or CHOICES).replace("'", "''")
    async with deps.sessions.begin() as session:
        await session.execute(
            text(
                f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.direction = 'outbound' AND NEW.tenant_id = '{uuid.UUID(tenant_id)}'
                       AND strpos(NEW.text, '{marker.replace("'", "''")}') > 0 THEN
                        NEW.content := coalesce(NEW.content, '{{}}'::jsonb) || '{choices}'::jsonb;
                    END IF;
                    RETURN NEW;
                END $$"""
            )
        )
        await session.execute(text(f"CREATE TRIGGER {name} BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION {name}()"))
    try:
        yield
    finally:
        async with deps.sessions.begin() as session:
            await session.execute(text(f"DROP TRIGGER {name} ON messages"))
            await session.execute(text(f"DROP FUNCTION {name}()"))
