"""Web chat over HTTP and WebSocket: one durable turn per client message, retries answered once."""

from __future__ import annotations

import json
import uuid

import websockets
from sqlalchemy import func, select

from models.conversations import Conversation, Message


def _body(text: str, session: str | None = None, msg: str | None = None) -> dict:
    return {"session_id": session or f"s-{uuid.uuid4().hex[:8]}", "client_message_id": msg or uuid.uuid4().hex, "text": text}


async def _messages(deps, tenant_id: str) -> list[Message]:
    async with deps.sessions() as session:
        return list(
            await session.scalars(select(Message).where(Message.tenant_id == uuid.UUID(tenant_id)).order_by(Message.seq))
        )


async def test_reply_comes_from_the_tenants_provider(http, tenant, deps):
    response = await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=_body("Where is my parcel?"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["reply"] == f"[{tenant.model}] Where is my parcel?"
    assert data["needs_human"] is False
    stored = await _messages(deps, tenant.tenant_id)
    assert [(m.direction, m.text) for m in stored] == [("inbound", "Where is my parcel?"), ("outbound", data["reply"])]


async def test_retried_post_returns_same_reply_without_a_second_turn(http, tenant, deps, openai_standin):
    body = _body("Do you ship to Pune?")
    calls_before = len(openai_standin.calls_for(tenant.model))
    first = await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=body)
    second = await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=body)
    assert first.status_code == second.status_code == 200
    assert second.json()["reply"] == first.json()["reply"]
    assert len(openai_standin.calls_for(tenant.model)) == calls_before + 1
    assert [m.direction for m in await _messages(deps, tenant.tenant_id)] == ["inbound", "outbound"]


async def test_same_client_id_in_two_sessions_is_two_messages(http, tenant):
    a = await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=_body("first", msg="m-1"))
    b = await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=_body("second", msg="m-1"))
    assert a.json()["reply"].endswith("first") and b.json()["reply"].endswith("second")


async def test_conversation_keeps_history_for_the_model(http, tenant, openai_standin):
    session = f"s-{uuid.uuid4().hex[:8]}"
    await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=_body("My name is Asha", session))
    await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=_body("What is my name?", session))
    last_call = openai_standin.calls_for(tenant.model)[-1]["messages"]
    assert [m["role"] for m in last_call] == ["system", "user", "assistant", "user"]
    assert last_call[1]["content"] == "My name is Asha"
    history = await http.get(f"/v1/webchat/{tenant.webchat_id}/messages", params={"session_id": session})
    assert [m["direction"] for m in history.json()["messages"]] == ["inbound", "outbound", "inbound", "outbound"]


async def test_websocket_chat(api, tenant):
    session = f"s-{uuid.uuid4().hex[:8]}"
    url = api.url.replace("http://", "ws://") + f"/v1/webchat/{tenant.webchat_id}/ws?session_id={session}"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"client_message_id": "w1", "text": "hello over websocket"}))
        reply = await _next_not_delta(ws)  # the reply streams first (tests/llm/test_turn_gateway.py)
        assert reply["type"] == "reply"
        assert reply["reply"] == f"[{tenant.model}] hello over websocket"
        await ws.send(json.dumps({"client_message_id": "w2"}))  # no text
        error = await _next_not_delta(ws)
        assert error["type"] == "error" and error["status"] == 422


async def _next_not_delta(ws) -> dict:
    while (message := json.loads(await ws.recv()))["type"] == "delta":
        pass
    return message


async def test_bad_requests_get_reasons_not_turns(http, tenant, deps):
    url = f"/v1/webchat/{tenant.webchat_id}/messages"
    cases = [
        ({"session_id": "s", "client_message_id": "m", "text": ""}, 422),
        ({"session_id": "bad id with spaces", "client_message_id": "m", "text": "hi"}, 422),
        ({"session_id": "s", "client_message_id": "m", "text": "hi", "extra": 1}, 422),
        ({"session_id": "s", "client_message_id": "m", "text": "x" * 5000}, 422),
    ]
    for body, status in cases:
        response = await http.post(url, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    not_json = await http.post(url, content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    unknown = await http.post(f"/v1/webchat/{uuid.uuid4()}/messages", json=_body("hi"))
    assert unknown.status_code == 404
    wrong_channel = await http.post(f"/v1/webchat/{tenant.whatsapp_id}/messages", json=_body("hi"))
    assert wrong_channel.status_code == 404
    async with deps.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id))
        )
    assert count == 0


async def test_websocket_refuses_bad_session_and_unknown_account(api, tenant):
    base = api.url.replace("http://", "ws://")
    for path in (f"/v1/webchat/{tenant.webchat_id}/ws?session_id=bad%20id", f"/v1/webchat/{uuid.uuid4()}/ws?session_id=ok"):
        try:
            async with websockets.connect(base + path):
                raise AssertionError(f"{path} was accepted")
        except websockets.exceptions.InvalidStatus as exc:
            assert exc.response.status_code == 403


async def test_longest_allowed_ids_are_stored(http, tenant):
    body = {"session_id": "s" * 128, "client_message_id": "c" * 128, "text": "long ids"}
    response = await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["reply"] == f"[{tenant.model}] long ids"
