"""A conversation turn answers from the tenant's knowledge base: the model sees the matching
entry as a numbered source (for a follow-up, the entry its previous turn points at), and the
customer's question is recorded for the coverage report."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from activities.knowledge import FOLLOW_UP_SECONDS
from activities.messages import KNOWLEDGE_CHECK_SECONDS
from core.ids import conversation_workflow_id
from models.conversations import Conversation, Message
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


REFUNDS = {
    "type": "policy",
    "title": "Refunds",
    "content": "Once your returned item reaches our warehouse, the refund is paid back to your card within 5 business days.",
}


async def test_a_follow_up_is_searched_with_the_customers_previous_turn(http, tenant, deps, openai_standin):
    key = await admin_key_for(deps, tenant.tenant_id)
    created = await http.post("/v1/knowledge/entries", json=REFUNDS, headers=bearer(key))
    assert created.status_code == 201, created.text
    await asyncio.sleep(KNOWLEDGE_CHECK_SECONDS + 0.5)
    follow_up = "ok and when will I see it?"

    # On its own the follow-up names nothing the knowledge base holds...
    await _chat(http, tenant, "kb-alone", follow_up)
    assert "within 5 business days" not in _system_prompts(openai_standin.calls_for(tenant.model)[-1])

    # ...but after the customer said what it is about, the model gets the refund policy.
    await _chat(http, tenant, "kb-follow-up", "I sent the jacket back for a refund")
    await _chat(http, tenant, "kb-follow-up", follow_up)
    prompt = _system_prompts(openai_standin.calls_for(tenant.model)[-1])
    assert "[1] (Refunds)" in prompt and "within 5 business days" in prompt

    # The coverage report keeps the customer's own words, answered.
    async with deps.sessions() as session:
        events = (await session.scalars(select(RetrievalEvent).where(RetrievalEvent.tenant_id == uuid.UUID(tenant.tenant_id)))).all()
    assert sorted((e.query, e.answered) for e in events if e.query == follow_up) == [(follow_up, False), (follow_up, True)]

    # A previous turn from long ago is another matter, not what a follow-up refers to. (The
    # reply may come from the semantic cache, so the search's own record tells.)
    await _chat(http, tenant, "kb-stale", "I sent the jacket back for a refund")
    stale = conversation_workflow_id(tenant.tenant_id, tenant.webchat_id, "kb-stale")
    async with deps.sessions.begin() as session:
        stale_id = await session.scalar(select(Conversation.id).where(Conversation.workflow_id == stale))
        aged = func.now() - timedelta(seconds=FOLLOW_UP_SECONDS + 60)
        await session.execute(update(Message).where(Message.conversation_id == stale_id).values(created_at=aged))
    await _chat(http, tenant, "kb-stale", follow_up)
    async with deps.sessions() as session:
        answered = await session.scalars(
            select(RetrievalEvent.answered).where(RetrievalEvent.conversation_id == stale_id, RetrievalEvent.query == follow_up)
        )
        assert answered.all() == [False]
