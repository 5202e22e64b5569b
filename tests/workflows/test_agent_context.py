"""What the model is given each turn: the customer's language, their orders, the conversation's
newest turns, and a rolling summary of what fell out of the window."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from models.conversation_memory import ConversationMemory
from tests.factories import eventually
from tests.workflows.agent_helpers import chat, conversation_of, give_order


def _system_text(request: dict) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "system")


async def test_a_hinglish_customer_is_answered_in_hinglish(http, tenant, openai_standin):
    await chat(http, tenant.webchat_id, "hinglish-1", "bhai mera order kab tak aayega? bahut din ho gaye")

    request = openai_standin.calls_for(tenant.model)[-1]
    assert "Reply in Hinglish" in _system_text(request)


async def test_the_model_sees_the_customers_orders(http, deps, tenant, openai_standin):
    session = f"orders-{uuid.uuid4().hex[:6]}"
    await chat(http, tenant.webchat_id, session, "hello")
    conversation = await conversation_of(deps, tenant.tenant_id, session)
    await give_order(deps, tenant.tenant_id, conversation.customer_id, number="#4242")

    await chat(http, tenant.webchat_id, session, "what did I buy?")

    assert "#4242" in _system_text(openai_standin.calls_for(tenant.model)[-1])


async def test_a_long_conversation_keeps_its_newest_turns_and_is_summarised(http, deps, tenant, openai_standin):
    session = f"long-{uuid.uuid4().hex[:6]}"
    for n in range(40):
        await chat(http, tenant.webchat_id, session, f"message number {n} " + "with quite a few words to fill the budget " * 6)

    request = openai_standin.calls_for(tenant.model)[-1]
    said = [m["content"] for m in request["messages"] if m["role"] == "user"]
    assert said[-1].startswith("message number 39")  # the newest turn is always there...
    assert not any(s.startswith("message number 0 ") for s in said)  # ...the oldest made room
    conversation = await conversation_of(deps, tenant.tenant_id, session)

    async def summarised() -> bool:
        async with deps.sessions() as db:
            memory = await db.scalar(select(ConversationMemory).where(ConversationMemory.conversation_id == conversation.id))
            return memory is not None and memory.summarised_through_seq > 0 and bool(memory.summary)

    await eventually(summarised, timeout=20, what="the rolling summary written in the background")
