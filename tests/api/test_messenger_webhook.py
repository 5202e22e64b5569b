"""Messenger and Instagram webhooks end to end: the handshake, signatures, a customer's message
answered through the Send API stand-in, and receipts recorded against our reply."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from models.admin_store import ensure_channel_account
from models.conversations import Conversation, Message
from tests.factories import eventually, signature
from tests.standins.messenger_server import MessengerStandIn
from tests.standins.serve import served


@pytest.fixture(scope="module")
async def messenger_standin():
    async with served(MessengerStandIn()) as standin:
        yield standin


@dataclass
class MetaAccount:
    id: str
    channel: str
    page_id: str
    app_secret: str
    verify_token: str
    token: str


async def _account(deps, tenant, standin: MessengerStandIn, channel: str, *, with_page_id: bool, **config) -> MetaAccount:
    account = MetaAccount(
        id="", channel=channel, page_id=str(10**14 + secrets.randbelow(10**14)), app_secret=secrets.token_hex(16),
        verify_token=secrets.token_urlsafe(12), token=f"EAAG{secrets.token_urlsafe(24)}",
    )  # fmt: skip
    standin.valid_tokens.add(account.token)
    if with_page_id:
        config["page_id"] = account.page_id
    async with deps.sessions.begin() as session:
        row = await ensure_channel_account(
            session, deps.secrets, tenant_id=uuid.UUID(tenant.tenant_id), channel=channel, name=channel,
            config={"graph_base_url": f"{standin.url}/v21.0", **config},
            secrets={"app_secret": account.app_secret, "verify_token": account.verify_token, "page_access_token": account.token},
        )  # fmt: skip
    account.id = str(row.id)
    return account


@pytest.fixture
async def messenger(deps, tenant, messenger_standin) -> MetaAccount:
    return await _account(deps, tenant, messenger_standin, "messenger", with_page_id=True)


@pytest.fixture
async def instagram(deps, tenant, messenger_standin) -> MetaAccount:
    # No page_id: sends go to the Page token's own Page (/me).
    return await _account(deps, tenant, messenger_standin, "instagram", with_page_id=False, instagram_account_id="17841405822304914")


def _psid() -> str:
    return str(10**15 + secrets.randbelow(9 * 10**15))


def _body(obj: str, account_id: str, events: list[dict]) -> bytes:
    return json.dumps({"object": obj, "entry": [{"id": account_id, "time": int(time.time() * 1000), "messaging": events}]}).encode()


def _message(sender: str, recipient: str, text: str, **extra) -> dict:
    mid = f"m_{uuid.uuid4().hex}"
    return {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": int(time.time() * 1000), "message": {"mid": mid, "text": text, **extra}}


async def _post(http, account: MetaAccount, body: bytes, secret: str | None = None):
    return await http.post(
        f"/webhooks/{account.channel}/{account.id}",
        content=body,
        headers={"content-type": "application/json", "x-hub-signature-256": signature(body, secret or account.app_secret)},
    )


async def _count(deps, model, *where) -> int:
    async with deps.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def test_verification_handshake(http, messenger, instagram):
    for account in (messenger, instagram):
        url = f"/webhooks/{account.channel}/{account.id}"
        ok = await http.get(url, params={"hub.mode": "subscribe", "hub.verify_token": account.verify_token, "hub.challenge": "1158201444"})
        assert ok.status_code == 200 and ok.text == "1158201444"
        wrong = await http.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
        assert wrong.status_code == 403
        missing = await http.get(url, params={"hub.mode": "subscribe"})
        assert missing.status_code == 400 and "hub.verify_token" in missing.json()["detail"]


async def test_signed_messenger_message_is_answered_through_the_send_api(http, tenant, messenger, messenger_standin, deps):
    psid = _psid()
    response = await _post(http, messenger, _body("page", messenger.page_id, [_message(psid, messenger.page_id, "Do you ship to Pune?")]))
    assert response.status_code == 200, response.text
    assert response.json() == {"messages": 1, "statuses": 0}

    async def answered() -> bool:
        return bool(messenger_standin.sends_to(psid))

    await eventually(answered, what="a reply through the Send API")
    [send] = messenger_standin.sends_to(psid)
    assert (send.node, send.token) == (messenger.page_id, messenger.token)
    assert send.body["messaging_type"] == "RESPONSE"
    assert send.body["message"]["text"] == f"[{tenant.model}] Do you ship to Pune?"

    async def status_of_reply() -> str | None:
        async with deps.sessions() as session:
            return await session.scalar(select(Message.status).where(Message.provider_message_id == send.message_id))

    await eventually(lambda: _is(status_of_reply, "sent"), what="the reply recorded as sent")
    # Meta's receipts: the echo of our own send (never a new turn), then the delivery.
    echo = {"sender": {"id": messenger.page_id}, "recipient": {"id": psid}, "timestamp": int(time.time() * 1000),
            "message": {"is_echo": True, "app_id": 1517776481860111, "mid": send.message_id, "text": send.body["message"]["text"],
                        "metadata": send.body["message"]["metadata"]}}  # fmt: skip
    delivery = {"sender": {"id": psid}, "recipient": {"id": messenger.page_id}, "timestamp": int(time.time() * 1000),
                "delivery": {"mids": [send.message_id], "watermark": int(time.time() * 1000)}}  # fmt: skip
    response = await _post(http, messenger, _body("page", messenger.page_id, [echo, delivery]))
    assert response.json() == {"messages": 0, "statuses": 2}
    await eventually(lambda: _is(status_of_reply, "delivered"), what="the reply marked delivered")
    await asyncio.sleep(1.0)
    assert len(messenger_standin.sends_to(psid)) == 1
    inbound = await _count(deps, Message, Message.tenant_id == uuid.UUID(tenant.tenant_id), Message.direction == "inbound")
    assert inbound == 1


async def _is(read, expected) -> bool:
    return await read() == expected


async def test_instagram_story_reply_is_answered_from_the_tokens_page(http, tenant, instagram, messenger_standin, deps):
    igsid = _psid()
    story = {"story": {"id": "18034567890999999", "url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18034567890999999"}}
    event = _message(igsid, "17841405822304914", "Love this colour! Price?", reply_to=story)
    assert (await _post(http, instagram, _body("instagram", "17841405822304914", [event]))).status_code == 200

    async def answered() -> bool:
        return bool(messenger_standin.sends_to(igsid))

    await eventually(answered, what="a reply through the Send API")
    [send] = messenger_standin.sends_to(igsid)
    assert send.node == "me"  # no page_id configured: the Page token's own Page
    assert send.body == {"recipient": {"id": igsid}, "message": {"text": f"[{tenant.model}] Love this colour! Price?"}}
    async with deps.sessions() as session:
        row = await session.scalar(select(Message).where(Message.external_id == event["message"]["mid"]))
    assert row.content["extra"]["story_reply"]["id"] == "18034567890999999"


@pytest.mark.parametrize("case", ["missing", "wrong_secret", "tampered"])
async def test_bad_signatures_are_401_and_start_nothing(http, tenant, messenger, deps, case):
    body = _body("page", messenger.page_id, [_message(_psid(), messenger.page_id, "hello")])
    headers = {"content-type": "application/json"}
    if case == "wrong_secret":
        headers["x-hub-signature-256"] = signature(body, "not-the-secret")
    elif case == "tampered":
        headers["x-hub-signature-256"] = signature(body, messenger.app_secret)
        body = body.replace(b"hello", b"hellO")
    response = await http.post(f"/webhooks/messenger/{messenger.id}", content=body, headers=headers)
    assert response.status_code == 401 and response.json()["title"] == "Invalid signature"
    await asyncio.sleep(0.5)
    assert await _count(deps, Conversation, Conversation.tenant_id == uuid.UUID(tenant.tenant_id)) == 0


async def test_bodies_messenger_never_sends_are_400(http, tenant, messenger, deps):
    instagram_body = _body("instagram", "17841405822304914", [_message(_psid(), "17841405822304914", "hi")])
    for body in (b"{not json", instagram_body, b'{"object":"page","entry":{}}'):
        response = await _post(http, messenger, body)
        assert response.status_code == 400, body
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await _count(deps, Conversation, Conversation.tenant_id == uuid.UUID(tenant.tenant_id)) == 0


async def test_an_echo_of_a_message_typed_in_the_page_inbox_starts_no_turn(http, tenant, messenger, messenger_standin, deps):
    psid = _psid()
    echo = _message(messenger.page_id, psid, "Hi, this is Priya from the shop.", is_echo=True, app_id=263902037430900)
    response = await _post(http, messenger, _body("page", messenger.page_id, [echo]))
    assert response.json() == {"messages": 0, "statuses": 0}
    await asyncio.sleep(1.5)
    assert messenger_standin.sends_to(psid) == []
    assert await _count(deps, Conversation, Conversation.tenant_id == uuid.UUID(tenant.tenant_id)) == 0
