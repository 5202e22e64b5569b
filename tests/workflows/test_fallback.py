"""When no provider answers, the customer still gets an honest reply and a person is called in."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from core import temporal as sa
from core.ids import conversation_workflow_id
from models.admin_store import set_provider
from models.conversations import Conversation
from tests.factories import create_tenant
from workflows.conversation import FALLBACK_TEXT


async def _chat(http, account_id: str, session: str, text: str) -> dict:
    response = await http.post(
        f"/v1/webchat/{account_id}/messages",
        json={"session_id": session, "client_message_id": uuid.uuid4().hex, "text": text},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _conversation(deps, tenant_id: str) -> Conversation:
    async with deps.sessions() as session:
        return await session.scalar(select(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant_id)))


async def test_provider_down_gives_fallback_and_handoff(http, tenant, openai_standin, deps, temporal):
    openai_standin.fail_with = 500
    reply = await _chat(http, tenant.webchat_id, "down-1", "Can I return these shoes?")
    assert reply["reply"] == FALLBACK_TEXT
    assert reply["needs_human"] is True
    attempts = [c for c in openai_standin.calls_for(tenant.model)]
    assert len(attempts) == 3  # Temporal retried the provider before giving up

    conversation = await _conversation(deps, tenant.tenant_id)
    assert conversation.needs_human and conversation.status == "handoff"
    assert "500" in (conversation.handoff_reason or "")
    handle = temporal.get_workflow_handle(conversation_workflow_id(tenant.tenant_id, tenant.webchat_id, "down-1"))
    description = await handle.describe()
    assert description.typed_search_attributes.get(sa.CONVERSATION_STATUS) == "handoff"

    openai_standin.fail_with = None  # provider is back: the bot answers again, flag stays for the human
    again = await _chat(http, tenant.webchat_id, "down-1", "Hello?")
    assert again["reply"] == f"[{tenant.model}] Hello?"
    assert again["needs_human"] is True


async def test_no_provider_configured_gives_fallback(http, deps, graph_standin):
    bare = await create_tenant(deps.sessions, deps.secrets, openai_url=None, graph_url=graph_standin.url)
    reply = await _chat(http, bare.webchat_id, "np-1", "hi")
    assert reply["reply"] == FALLBACK_TEXT and reply["needs_human"] is True
    assert "no chat provider" in ((await _conversation(deps, bare.tenant_id)).handoff_reason or "")


async def test_failing_provider_fails_over_to_the_next(http, tenant, openai_standin, deps):
    async with deps.sessions.begin() as session:
        await set_provider(
            session, deps.secrets, tenant_id=uuid.UUID(tenant.tenant_id), name="backup",
            base_url=f"{openai_standin.url}/v1", model=f"{tenant.model}-backup", api_key="sk-b", priority=1,
        )  # fmt: skip
    openai_standin.failing_models.add(tenant.model)
    try:
        reply = await _chat(http, tenant.webchat_id, "fo-1", "Any discounts?")
    finally:
        openai_standin.failing_models.discard(tenant.model)
    assert reply["reply"] == f"[{tenant.model}-backup] Any discounts?"
    assert reply["needs_human"] is False
