"""The dashboard's live feed: authenticated by a session token, scoped to one tenant."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.api.admin.conftest import AdminTenant, admin_key_for, bearer, key_with
from tests.factories import create_tenant


def _ws_url(http, path: str) -> str:
    return str(http.base_url).replace("http://", "ws://").rstrip("/") + path


async def _next_event(ws, event_type: str, timeout: float = 15) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == event_type:
                return event


async def test_session_token_opens_the_feed_and_sees_only_its_tenant(http, deps, openai_standin, graph_standin):
    a = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    b = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    admin = bearer(await admin_key_for(deps, a.tenant_id))
    user = {"email": "live@example.com", "name": "Live", "role": "agent", "password": "p" * 12}
    assert (await http.post("/v1/users", json=user, headers=admin)).status_code == 201
    tokens = (await http.post("/v1/auth/login", json={"tenant": a.slug, "email": user["email"], "password": user["password"]})).json()

    async with websockets.connect(_ws_url(http, "/v1/events/ws"), subprotocols=["bearer", tokens["access_token"]]) as ws:
        assert (await _next_event(ws, "ready"))["tenant_id"] == a.tenant_id
        for tenant in (b, a):  # B's message must not show up on A's feed
            r = await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json={"session_id": "live", "client_message_id": "m1", "text": "hi"})
            assert r.status_code == 200
        received = await _next_event(ws, "message.received")
        conversations = (await http.get("/v1/conversations", headers=admin)).json()["items"]
        assert received["conversation_id"] == conversations[0]["id"] and received["channel"] == "webchat"


@pytest.mark.parametrize("kind", ["garbage", "missing", "no scope"])
async def test_bad_tokens_are_closed_with_a_reason(http, deps, openai_standin, graph_standin, kind):
    t = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    tenant = AdminTenant(id=t.tenant_id, slug=t.slug, key=await admin_key_for(deps, t.tenant_id))
    token = {"garbage": "not.a.token", "missing": None, "no scope": (await key_with(http, tenant, "knowledge:write"))["key"]}[kind]
    url = _ws_url(http, "/v1/events/ws") + (f"?access_token={token}" if token else "")
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == (4403 if kind == "no scope" else 4401)
