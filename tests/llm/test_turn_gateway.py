"""The conversation turn goes through the LLM gateway: usage rows, budgets, streaming to web chat."""

from __future__ import annotations

import json
import uuid

import websockets
from sqlalchemy import select, update

from activities.replies import GenerateReplyInput, ReplyActivities
from agent.notices import notice
from core.events import tenant_channel
from models.admin_store import set_provider
from models.conversations import Conversation
from models.llm_usage import LlmUsage
from models.tenants import Tenant


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
    # A used-up budget hands over: the customer is told a person is coming, and the AI stops.
    assert reply["reply"] == notice("handoff", "en") and reply["needs_human"] is True
    assert openai_standin.calls_for(tenant.model) == []  # refused before any provider was called
    async with deps.sessions() as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id)))
    assert conversation.status == "handoff" and "budget" in (conversation.handoff_reason or "")


async def test_web_chat_websocket_receives_the_reply_as_it_streams(api, tenant):
    url = api.url.replace("http", "ws") + f"/v1/webchat/{tenant.webchat_id}/ws?session_id=stream-{uuid.uuid4().hex[:8]}"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"client_message_id": "s1", "text": "tell me about delivery times"}))
        deltas: list[str] = []
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "token":
                deltas.append(message["text"])
            elif message["type"] == "reply":
                break
    assert len(deltas) > 1  # arrived in pieces, before the reply
    assert "".join(deltas).strip() == message["text"] == f"[{tenant.model}] tell me about delivery times"


async def test_budget_alerts_reach_the_dashboard_event_stream(http, tenant, deps):
    await _set_llm_settings(deps, tenant.tenant_id, {"budgets": {"limits": [{"period": "month", "metric": "tokens", "limit": "10", "action": "alert"}]}})
    pubsub = deps.redis.pubsub()
    await pubsub.subscribe(tenant_channel(tenant.tenant_id))
    try:
        reply = await _chat(http, tenant, "alert-1", "hello")
        assert reply["reply"] == f"[{tenant.model}] hello"  # alert-only: nothing refused
        seen: list[dict] = []
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message:
                seen.append(json.loads(message["data"]))
            if sum(e["type"] == "llm.budget_alert" for e in seen) == 2:
                break
    finally:
        await pubsub.aclose()
    alerts = [e["alert"] for e in seen if e["type"] == "llm.budget_alert"]
    assert sorted(alerts) == ["100% of the monthly tokens limit (10) used", "80% of the monthly tokens limit (10) used"]


async def test_an_agent_with_its_own_tiers_is_answered_by_its_providers(http, tenant, deps, openai_standin):
    async with deps.sessions.begin() as session:
        await set_provider(session, deps.secrets, tenant_id=uuid.UUID(tenant.tenant_id), name="returns-desk",
                           base_url=f"{openai_standin.url}/v1", model="returns-model", api_key="sk-test", priority=5)  # fmt: skip
    everywhere = {tier: ["primary"] for tier in ("fast", "standard", "reasoning")}
    returns = {tier: ["returns-desk"] for tier in ("fast", "standard", "reasoning")}
    await _set_llm_settings(deps, tenant.tenant_id, {"routing": {"tiers": everywhere}, "agents": {"returns": {"tiers": returns}}})
    first = await _chat(http, tenant, "agent-1", "I want to send these shoes back")
    assert first["reply"].startswith(f"[{tenant.model}]")  # no agent: the tenant's tiers

    async with deps.sessions() as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id)))
    reply = await ReplyActivities(deps).generate_reply(GenerateReplyInput(tenant.tenant_id, str(conversation.id), agent="returns"))
    assert (reply.provider, reply.text) == ("returns-desk", "[returns-model] I want to send these shoes back")
    async with deps.sessions() as session:
        agents = (await session.scalars(select(LlmUsage.agent).where(LlmUsage.tenant_id == uuid.UUID(tenant.tenant_id)))).all()
    assert sorted(agents, key=str) == sorted([None, "returns"], key=str)
