"""Hostile and broken requests at every route: a 4xx with a reason, never a 5xx, never a turn."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select

from api.main import create_app
from models.conversations import Conversation
from tests.api.admin.conftest import admin_key_for
from tests.api.app_routes import api_routes
from tests.factories import new_phone, new_wamid, signature, whatsapp_payload

DEEP = ("[" * 100_000 + "]" * 100_000).encode()
DEEP_OBJECT = ('{"a":' * 50_000 + "1" + "}" * 50_000).encode()


def _bodies(tenant, settings) -> dict[str, bytes]:
    good = whatsapp_payload(tenant.phone_number_id, [(new_phone(), new_wamid(), "hi")])
    return {
        "truncated": good[: len(good) // 2],
        "not-json": b"hello=world",
        "deeply-nested-array": DEEP,
        "deeply-nested-object": DEEP_OBJECT,
        "huge": b'{"pad":"' + b"x" * (settings.max_body_bytes + 10) + b'"}',
        "empty": b"",
        "null": b"null",
        "number": b"42",
        "unknown-fields-only": json.dumps({"object": "whatsapp_business_account", "entry": [{"surprise": [1, {"x": None}]}], "extra": True}).encode(),
        "wrong-types": json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {"messages": [{"id": 5, "from": ["x"]}]}}]}]}).encode(),
    }


async def _conversations(deps, tenant) -> int:
    async with deps.sessions() as session:
        return await session.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id))
        )


async def test_whatsapp_webhook_refuses_bad_bodies_even_when_signed(http, tenant, settings, deps):
    for name, body in _bodies(tenant, settings).items():
        for signed in (True, False):
            headers = {"content-type": "application/json"}
            if signed:
                headers["x-hub-signature-256"] = signature(body, tenant.app_secret)
            response = await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers=headers)
            if name == "unknown-fields-only" and signed:
                assert response.status_code == 200, response.text  # nothing we act on: acknowledged
                continue
            assert 400 <= response.status_code < 500, (name, signed, response.status_code, response.text[:200])
            assert response.json()["title"], (name, signed)
    assert await _conversations(deps, tenant) == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
async def test_whatsapp_webhook_with_wrong_content_type_starts_nothing(http, tenant, deps, content_type):
    body = whatsapp_payload(tenant.phone_number_id, [(new_phone(), new_wamid(), "hi")])
    response = await http.post(
        f"/webhooks/whatsapp/{tenant.whatsapp_id}",
        content=body,
        headers={"content-type": content_type, "x-hub-signature-256": signature(body, "wrong")},
    )
    assert response.status_code == 401
    assert await _conversations(deps, tenant) == 0


async def test_webchat_refuses_bad_bodies(http, tenant, settings, deps):
    url = f"/v1/webchat/{tenant.webchat_id}/messages"
    for name, body in _bodies(tenant, settings).items():
        response = await http.post(url, content=body, headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:200])
    form = await http.post(url, content=b"session_id=a&client_message_id=b&text=c", headers={"content-type": "application/x-www-form-urlencoded"})
    assert 400 <= form.status_code < 500
    assert await _conversations(deps, tenant) == 0


async def test_verification_handshake_refuses_oversized_or_odd_queries(http, tenant):
    url = f"/webhooks/whatsapp/{tenant.whatsapp_id}"
    huge = await http.get(url, params={"hub.mode": "subscribe", "hub.verify_token": tenant.verify_token, "hub.challenge": "9" * 10_000})
    assert huge.status_code == 400 and "512" in huge.json()["detail"]
    not_uuid = await http.get("/webhooks/whatsapp/not-a-uuid", params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"})
    assert not_uuid.status_code == 404
    history = await http.get(f"/v1/webchat/{tenant.webchat_id}/messages", params={"session_id": "../etc", "limit": 100000})
    assert history.status_code == 422


async def test_chunked_bodies_without_length_are_refused(api, tenant):
    import httpx

    async def chunks():
        yield b'{"session_id":"s","client_message_id":"m",'
        yield b'"text":"hi"}'

    async with httpx.AsyncClient(base_url=api.url) as client:
        response = await client.post(f"/v1/webchat/{tenant.webchat_id}/messages", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 411
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_admin_routes_refuse_bad_bodies_with_reasons(make_api, deps, tenant, settings):
    """Every admin route that takes a body, with a valid admin key: broken bodies are 4xx with a
    reason, never a 5xx."""

    http = await make_api(admin_rate_per_key_per_s=10_000, admin_burst_per_key=10_000, admin_rate_per_tenant_per_s=10_000, admin_burst_per_tenant=10_000)
    key = await admin_key_for(deps, tenant.tenant_id)
    bodies = {
        **_bodies(tenant, settings),
        "unknown-fields": json.dumps({"surprise": True, "name": "x" * 10}).encode(),
        "wrong-types": json.dumps({"name": ["x"], "scopes": "admin", "email": 5, "settings": "none", "credentials": [1]}).encode(),
    }
    routes = [
        (method, route.path)
        for route in api_routes(create_app(settings).routes)
        if route.path.startswith("/v1/") and not route.path.startswith("/v1/webchat")
        for method in route.methods & {"POST", "PATCH"}
    ]
    assert len(routes) >= 10
    for method, path in routes:
        url = path.replace("{", "").replace("}", "")  # placeholder ids: 422 or 404, never a 5xx
        for name, body in bodies.items():
            for content_type in ("application/json", "text/plain"):
                headers = {"content-type": content_type, "authorization": f"Bearer {key}"}
                response = await http.request(method, url, content=body, headers=headers)
                assert 400 <= response.status_code < 500, (method, path, name, content_type, response.status_code, response.text[:200])
                assert response.json().get("title"), (method, path, name)
