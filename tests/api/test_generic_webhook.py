"""The generic webhook channel end to end: an account made through the admin API, a signed JSON
message in, the reply POSTed signed to the integration's callback URL, bad input refused."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from models.conversations import Conversation, Message
from tests.api.admin.conftest import admin_key_for, bearer
from tests.factories import eventually
from tests.standins.serve import served

SECRET = "integration-secret-7d1f0c2b9a8e"


def _sig(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Integration:
    """The tenant's own server: checks our signature the way its docs tell it to, records replies."""

    url: str = ""
    replies: list[dict] = field(default_factory=list)
    bad_signatures: int = 0

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/frontdesk/replies", self._reply, methods=["POST"])])

    def replies_to(self, contact: str) -> list[dict]:
        return [r for r in self.replies if r["to"] == contact]

    async def _reply(self, request: Request) -> Response:
        raw = await request.body()
        if not hmac.compare_digest(request.headers.get("x-frontdesk-signature", ""), _sig(raw)):
            self.bad_signatures += 1
            return Response(status_code=401)
        reply = json.loads(raw)
        self.replies.append(reply)
        return JSONResponse({"message_id": f"crm-{len(self.replies)}"})


@pytest.fixture(scope="module")
async def integration():
    async with served(Integration()) as server:
        yield server


@pytest.fixture
async def account(http, deps, tenant, integration) -> dict:
    key = await admin_key_for(deps, tenant.tenant_id)
    body = {
        "channel": "webhook", "name": "crm",
        "config": {"callback_url": f"{integration.url}/frontdesk/replies"}, "credentials": {"webhook_secret": SECRET},
    }  # fmt: skip
    r = await http.post("/v1/channel-accounts", json=body, headers=bearer(key))
    assert r.status_code == 201, r.text
    return r.json()


async def _post(http, account: dict, payload: dict | bytes, *, secret: str = SECRET):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await http.post(
        f"/webhooks/webhook/{account['id']}", content=body, headers={"content-type": "application/json", "x-frontdesk-signature": _sig(body, secret)}
    )


async def _replies(integration: Integration, contact: str, n: int) -> bool:
    return len(integration.replies_to(contact)) >= n


async def test_message_in_reply_out(http, account, integration, tenant, deps):
    assert account["webhook_url"].endswith(f"/webhooks/webhook/{account['id']}")
    contact = f"crm-customer-{uuid.uuid4().hex[:8]}"
    payload = {"message_id": f"m-{uuid.uuid4().hex}", "contact_id": contact, "text": "Do you ship to Pune?", "contact_name": "Asha"}
    response = await _post(http, account, payload)
    assert response.status_code == 200, response.text
    assert response.json() == {"messages": 1, "statuses": 0}

    await eventually(lambda: _replies(integration, contact, 1), what="reply at the callback URL")
    [reply] = integration.replies_to(contact)
    assert reply["text"] == f"[{tenant.model}] Do you ship to Pune?"
    assert reply["idempotency_key"] and reply["buttons"] == [] and reply["media"] is None
    assert integration.bad_signatures == 0

    async def recorded() -> bool:  # the integration's own id for the reply is kept
        async with deps.sessions() as session:
            row = await session.scalar(select(Message).where(Message.idempotency_key == reply["idempotency_key"]))
            return row is not None and row.status == "sent" and row.provider_message_id.startswith("crm-")

    await eventually(recorded, what="the reply recorded as sent with the integration's id")


async def test_redelivered_message_id_is_answered_once(http, account, integration, settings):
    contact = f"c-{uuid.uuid4().hex[:8]}"
    payload = {"message_id": "same-id-" + contact, "contact_id": contact, "text": "hello?"}
    for _ in range(3):
        assert (await _post(http, account, payload)).status_code == 200
    await eventually(lambda: _replies(integration, contact, 1), what="reply")
    await asyncio.sleep(settings.debounce_seconds * 3)
    assert len(integration.replies_to(contact)) == 1


@pytest.mark.parametrize("case", ["missing", "wrong_secret", "tampered"])
async def test_bad_signatures_are_401(http, account, deps, case):
    body = json.dumps({"message_id": "x1", "contact_id": "c1", "text": "hi"}).encode()
    headers = {"content-type": "application/json"}
    if case == "wrong_secret":
        headers["x-frontdesk-signature"] = _sig(body, "not-the-secret-000000")
    elif case == "tampered":
        headers["x-frontdesk-signature"] = _sig(body)
        body = body.replace(b"hi", b"ho")
    response = await http.post(f"/webhooks/webhook/{account['id']}", content=body, headers=headers)
    assert response.status_code == 401 and response.json()["title"] == "Invalid signature"


async def test_malformed_messages_are_400_with_every_reason(http, account, deps, tenant):
    response = await _post(http, account, {"contact_id": "has spaces", "text": 5, "colour": "red"})
    assert response.status_code == 400
    detail = response.json()["detail"]
    for reason in ("message_id: Field required", "contact_id", "text", "colour: Extra inputs are not permitted"):
        assert reason in detail
    assert (await _post(http, account, b"{not json")).status_code == 400
    await asyncio.sleep(0.3)
    async with deps.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id)))
    assert count == 0


async def test_secret_is_generated_when_not_given(http, deps, tenant, integration):
    key = await admin_key_for(deps, tenant.tenant_id)
    body = {"channel": "webhook", "name": "kiosk", "config": {"callback_url": f"{integration.url}/frontdesk/replies"}}
    r = await http.post("/v1/channel-accounts", json=body, headers=bearer(key))
    assert r.status_code == 201, r.text
    assert r.json()["credentials_set"] == ["webhook_secret"]
    bad = await http.post("/v1/channel-accounts", json={**body, "config": {"callback_url": "not a url"}}, headers=bearer(key))
    assert bad.status_code == 422
