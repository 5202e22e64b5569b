"""The conversation turn goes through the LLM gateway: usage rows, budgets, streaming to web chat."""

from __future__ import annotations

import json
import uuid

import websockets
from sqlalchemy import select, update

from models.conversations import Conversation
from models.llm_usage import LlmUsage
from models.tenants import Tenant
from workflows.conversation import FALLBACK_TEXT


async def _set_llm_settings(deps, tenant_id: str, llm: dict) -> None:
    async with deps.sessions.begin() as session:
        await session.execute(update(Tenant).where(Tenant.id == uuid.UUID(tenant_id)).values(settings={"llm": llm}))


async def _chat(http, tenant, session_id: str, text: str) -> dict:
    response = await http.post(
        f"/v1/webchat/{tenant.webchat_id}/messages", json={"session_id": session_id, "client_message_id": uuid.uuid4().hex, "text": text}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_answer_writes_a_usage_row_priced_by_the_tenants_table(http, tenant, deps):
    await _set_llm_settings(deps, tenant.tenant_id, {"pricing": {tenant.model: {"input": "1000", "output": "2000"}}})
    reply = await _chat(http, tenant, "usage-1", "what are your opening hours?")
    assert reply["reply"] == f"[{tenant.model}] what are your opening hours?"
    async with deps.sessions() as session:
        rows = (await session.scalars(select(LlmUsage).where(LlmUsage.tenant_id == uuid.UUID(tenant.tenant_id)))).all()
        conversation = await session.scalar(select(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id)))
    [row] = rows
    assert (row.provider, row.model, row.failover_count, row.cache_hit) == ("primary", tenant.model, 0, False)
    assert row.conversation_id == conversation.id and row.tier in ("fast", "standard", "reasoning")
    assert (row.input_tokens, row.output_tokens) == (12, 7)
    # 12 input tokens (4 of them cached, priced as input: no cached price given) and 7 output
    assert float(row.cost_usd) == (12 * 1000 + 7 * 2000) / 1_000_000


async def test_a_blocking_budget_gives_an_honest_reply_and_calls_a_person(http, tenant, deps, openai_standin):
    await _set_llm_settings(deps, tenant.tenant_id, {"budgets": {"limits": [{"period": "day", "metric": "tokens", "limit": "5", "action": "block"}]}})
    reply = await _chat(http, tenant, "budget-1", "hello")
    assert reply["reply"] == FALLBACK_TEXT and reply["needs_human"] is True
    assert openai_standin.calls_for(tenant.model) == []  # refused before any provider was called
    async with deps.sessions() as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id)))
    assert conversation.needs_human and "LLM budget" in (conversation.handoff_reason or "")


async def test_web_chat_websocket_receives_the_reply_as_it_streams(api, tenant):
    url = api.url.replace("http", "ws") + f"/v1/webchat/{tenant.webchat_id}/ws?session_id=stream-{uuid.uuid4().hex[:8]}"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"client_message_id": "s1", "text": "tell me about delivery times"}))
        deltas: list[str] = []
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "delta":
                deltas.append(message["text"])
            elif message["type"] == "reply":
                break
    assert len(deltas) > 1  # arrived in pieces, before the reply
    assert "".join(deltas).strip() == message["reply"] == f"[{tenant.model}] tell me about delivery times"
