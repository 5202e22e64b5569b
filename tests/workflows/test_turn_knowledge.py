"""A conversation turn answers from the tenant's knowledge base: the model sees the matching
entry as a numbered source, and the customer's question is recorded for the coverage report."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from activities.messages import KNOWLEDGE_CHECK_SECONDS
from models.knowledge import RetrievalEvent
from tests.api.admin.conftest import admin_key_for, bearer

RETURNS = {"type": "policy", "title": "Returns", "content": "Unworn shoes can be returned within 45 days for a full refund."}


async def _chat(http, tenant, session_id: str, text: str) -> dict:
    body = {"session_id": session_id, "client_message_id": uuid.uuid4().hex, "text": text}
    response = await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _system_prompts(call: dict) -> str:
    return "\n".join(m["content"] for m in call["messages"] if m["role"] == "system")


async def test_a_turn_gives_the_model_the_matching_entry_and_records_the_question(http, tenant, deps, openai_standin):
    # Before the tenant has any knowledge, turns do not search at all.
    await _chat(http, tenant, "kb-before", "how long do I have to return shoes?")
    [before] = openai_standin.calls_for(tenant.model)
    assert "knowledge base" not in _system_prompts(before)

    key = await admin_key_for(deps, tenant.tenant_id)
    created = await http.post("/v1/knowledge/entries", json=RETURNS, headers=bearer(key))
    assert created.status_code == 201, created.text
    # The worker noticed "no knowledge" a moment ago and believes it for KNOWLEDGE_CHECK_SECONDS.
    await asyncio.sleep(KNOWLEDGE_CHECK_SECONDS + 0.5)
    await _chat(http, tenant, "kb-after", "how long do I have to return shoes?")
    prompt = _system_prompts(openai_standin.calls_for(tenant.model)[-1])
    assert "[1] (Returns)" in prompt and "within 45 days" in prompt

    async with deps.sessions() as session:
        events = (await session.scalars(select(RetrievalEvent).where(RetrievalEvent.tenant_id == uuid.UUID(tenant.tenant_id)))).all()
    assert events and all(e.query == "how long do I have to return shoes?" for e in events)
    assert any(e.answered for e in events)
