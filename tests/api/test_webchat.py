"""Web chat over HTTP and WebSocket: one durable turn per client message, retries answered once."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import websockets
from sqlalchemy import func, select

from models.conversations import Conversation, Message
from tests.web.support import replies_offer_choices, webchat_account


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
    async with websockets.connect(_ws_url(api, tenant.webchat_id)) as ws:
        await ws.send(json.dumps({"type": "message", "client_message_id": "w1", "text": "hello over websocket"}))
        frames = await _frames_until_answer(ws, "w1")
        kinds = [f["type"] for f in frames]
        assert kinds[0] == "typing" and kinds[-1] == "reply"
        assert kinds.count("token") > 1  # the reply streamed in pieces, all before the reply itself
        reply = frames[-1]
        assert reply["text"] == f"[{tenant.model}] hello over websocket"
        assert reply["in_reply_to"] == "w1" and reply["buttons"] == [] and reply["duplicate"] is False
        assert "".join(f["text"] for f in frames if f["type"] == "token").strip() == reply["text"]
        await ws.send(json.dumps({"type": "message", "client_message_id": "w2"}))  # no text
        error = await _frames_until_answer(ws, "w2")
        assert error[-1]["type"] == "error" and error[-1]["status"] == 422 and "text" in error[-1]["reason"]


def _ws_url(api, account_id: str, session: str | None = None) -> str:
    session = session or f"s-{uuid.uuid4().hex[:8]}"
    return api.url.replace("http://", "ws://") + f"/v1/webchat/{account_id}/ws?session_id={session}"


async def _frames_until_answer(ws, client_message_id: str | None) -> list[dict]:
    """Frames up to the reply or error about that message (None: the next error about none)."""
    frames: list[dict] = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=20))
        frames.append(frame)
        about = frame.get("in_reply_to") or frame.get("client_message_id")
        if frame["type"] in ("reply", "error") and about == client_message_id:
            return frames


async def _quiet(ws, seconds: float) -> list[dict]:
    """Whatever else arrives within `seconds`."""
    frames: list[dict] = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=seconds)))
    except TimeoutError:
        return frames


async def test_duplicate_client_message_id_is_answered_once(api, tenant, deps, openai_standin):
    frame = json.dumps({"type": "message", "client_message_id": "dup-1", "text": "only once please"})
    async with websockets.connect(_ws_url(api, tenant.webchat_id)) as ws:
        await ws.send(frame)
        await ws.send(frame)  # a widget resending before the first reply came
        frames = await _frames_until_answer(ws, "dup-1")
        later = await _quiet(ws, 1.5)
    assert [f["type"] for f in frames + later].count("reply") == 1
    assert len(openai_standin.calls_for(tenant.model)) == 1
    assert [(m.direction, m.text) for m in await _messages(deps, tenant.tenant_id)] == [
        ("inbound", "only once please"),
        ("outbound", f"[{tenant.model}] only once please"),
    ]


async def test_resend_after_a_dropped_connection_joins_the_running_turn(api, tenant, deps, openai_standin):
    openai_standin.slow_seconds = 2.0  # the reply stalls after its first word
    session = f"s-{uuid.uuid4().hex[:8]}"
    frame = json.dumps({"type": "message", "client_message_id": "drop-1", "text": "SLOW where is my order"})
    async with websockets.connect(_ws_url(api, tenant.webchat_id, session)) as ws:
        await ws.send(frame)
        assert json.loads(await asyncio.wait_for(ws.recv(), timeout=20))["type"] == "typing"
        await asyncio.sleep(0.5)  # the turn is running (the model stalls 2 s): the connection drops now
    async with websockets.connect(_ws_url(api, tenant.webchat_id, session)) as ws:
        await ws.send(frame)  # the widget's resend: same session, same client_message_id
        frames = await _frames_until_answer(ws, "drop-1")
    assert frames[-1]["type"] == "reply"
    assert frames[-1]["text"] == f"[{tenant.model}] SLOW where is my order"
    assert len(openai_standin.calls_for(tenant.model)) == 1  # one turn, not two
    assert [m.direction for m in await _messages(deps, tenant.tenant_id)] == ["inbound", "outbound"]


async def test_bad_frames_get_error_frames_and_the_chat_goes_on(api, tenant, deps):
    bad = [
        ("{nope", "JSON"),
        ("[1, 2]", "JSON objects"),
        (json.dumps({"type": "shout", "text": "hi"}), "unknown frame type"),
        (json.dumps({"type": "message", "client_message_id": "b1", "text": ""}), "text"),
        (json.dumps({"type": "message", "client_message_id": "has space", "text": "hi"}), "client_message_id"),
        (json.dumps({"type": "message", "client_message_id": "b2", "text": "hi", "session_id": "other"}), "session_id"),
        (json.dumps({"type": "message", "client_message_id": "b3", "text": "hi", "admin": True}), "admin"),
        (json.dumps({"type": "message", "client_message_id": "b4", "text": "x" * 5000}), "text"),
        (json.dumps({"type": "message", "client_message_id": "b5", "text": "hi", "reply_payload": 7}), "reply_payload"),
        (json.dumps({"type": "message", "client_message_id": "b6", "text": "nul\x00"}), "NUL"),
        ("x" * 20_000, "longer than"),
    ]
    async with websockets.connect(_ws_url(api, tenant.webchat_id)) as ws:
        for raw, reason in bad:
            await ws.send(raw)
            error = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            assert error["type"] == "error" and error["status"] == 422, (raw[:60], error)
            assert reason in error["reason"], (raw[:60], error)
        await ws.send(b"\x00\x01binary")
        error = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        assert error["type"] == "error" and "binary" in error["reason"]
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), timeout=10)) == {"type": "pong"}
        await ws.send(json.dumps({"type": "message", "client_message_id": "good", "text": "still there?"}))
        frames = await _frames_until_answer(ws, "good")
    assert frames[-1]["text"] == f"[{tenant.model}] still there?"
    assert [m.text for m in await _messages(deps, tenant.tenant_id)] == ["still there?", frames[-1]["text"]]  # no turn for the bad ones


async def test_websocket_refuses_browsers_on_sites_not_allowed(api, tenant, deps):
    account = await webchat_account(deps, tenant.tenant_id, {"allowed_origins": ["https://shop.example/", "http://localhost:8080/"]})
    for origin in ("https://evil.example", "http://shop.example", "https://shop.example.evil.example", "null"):
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(_ws_url(api, account), origin=origin):
                pass
        assert refused.value.response.status_code == 403, origin
    with pytest.raises(websockets.exceptions.InvalidStatus):  # no allowed origins: no browser at all
        async with websockets.connect(_ws_url(api, tenant.webchat_id), origin="https://shop.example"):
            pass
    for origin in ("https://shop.example", "https://SHOP.example:443", "http://localhost:8080"):
        async with websockets.connect(_ws_url(api, account), origin=origin) as ws:
            await ws.send(json.dumps({"type": "message", "client_message_id": "o1", "text": f"from {origin}"}))
            frames = await _frames_until_answer(ws, "o1")
            assert frames[-1]["type"] == "reply", origin


async def test_reply_offers_buttons_and_a_tap_sends_its_payload(api, http, tenant, deps):
    async with replies_offer_choices(deps, tenant.tenant_id, marker="options"):
        async with websockets.connect(_ws_url(api, tenant.webchat_id)) as ws:
            await ws.send(json.dumps({"type": "message", "client_message_id": "c1", "text": "show me the options"}))
            offered = (await _frames_until_answer(ws, "c1"))[-1]
            assert offered["buttons"] == [
                {"id": "track", "title": "Parcel status"},
                {"id": "agent", "title": "Talk to a person"},
                {"id": "returns", "title": "Returns", "description": "30 days, free pickup"},
            ]
            tap = {"type": "message", "client_message_id": "c2", "text": "Parcel status", "reply_payload": "track"}
            await ws.send(json.dumps(tap))
            answer = (await _frames_until_answer(ws, "c2"))[-1]
        assert answer["text"] == f"[{tenant.model}] Parcel status" and answer["buttons"] == []
        posted = await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=_body("more options"))
        assert [b["id"] for b in posted.json()["buttons"]] == ["track", "agent", "returns"]  # the POST gets them too
    tapped = next(m for m in await _messages(deps, tenant.tenant_id) if m.text == "Parcel status")
    assert tapped.content["reply_payload"] == "track"


async def test_widget_script_carries_the_accounts_look(http, tenant, deps):
    look = {"brand_color": "#ff5a1f", "position": "left", "greeting": "Hi! </script><b>Ask</b> us", "title": "Acme help"}
    account = await webchat_account(deps, tenant.tenant_id, look)
    response = await http.get(f"/v1/webchat/{account}/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age" in response.headers["cache-control"]
    script = response.text
    assert "function frontdeskWidget(config)" in script and "frontdeskWidget({" in script
    assert '"brand_color": "#ff5a1f"' in script and '"position": "left"' in script and "Acme help" in script
    assert "Hi! </script>" not in script and "Hi! \\u003c/script>\\u003cb>Ask" in script  # the greeting cannot end a script element
    default = await http.get(f"/v1/webchat/{tenant.webchat_id}/widget.js")
    assert '"position": "right"' in default.text and '"brand_color": "#2563eb"' in default.text
    assert (await http.get(f"/v1/webchat/{uuid.uuid4()}/widget.js")).status_code == 404
    assert (await http.get(f"/v1/webchat/{tenant.whatsapp_id}/widget.js")).status_code == 404


async def test_bad_requests_get_reasons_not_turns(http, tenant, deps):
    url = f"/v1/webchat/{tenant.webchat_id}/messages"
    cases = [
        ({"session_id": "s", "client_message_id": "m", "text": ""}, 422),
        ({"session_id": "bad id with spaces", "client_message_id": "m", "text": "hi"}, 422),
        ({"session_id": "s", "client_message_id": "m", "text": "hi", "extra": 1}, 422),
        ({"session_id": "s", "client_message_id": "m", "text": "x" * 5000}, 422),
        ({"session_id": "s", "client_message_id": "m", "text": "nul\x00byte"}, 422),
        ({"session_id": "s", "client_message_id": "m", "text": "hi", "reply_payload": "a\x00b"}, 422),
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
