"""WhatsApp Cloud API webhook: handshake, signatures, bad bodies, receipts, redelivery, bursts."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.conversations import Conversation, Message, MessageStatusEvent
from tests.factories import eventually, new_phone, new_wamid, signature, whatsapp_payload


async def _post(http, tenant, body: bytes, *, secret: str | None = None, headers: dict | None = None):
    sig = signature(body, secret or tenant.app_secret)
    return await http.post(
        f"/webhooks/whatsapp/{tenant.whatsapp_id}",
        content=body,
        headers={"content-type": "application/json", "x-hub-signature-256": sig, **(headers or {})},
    )


async def _count(deps, model, *where) -> int:
    async with deps.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def test_verification_handshake(http, tenant):
    url = f"/webhooks/whatsapp/{tenant.whatsapp_id}"
    ok = await http.get(url, params={"hub.mode": "subscribe", "hub.verify_token": tenant.verify_token, "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = await http.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert wrong.status_code == 403
    missing = await http.get(url, params={"hub.mode": "subscribe"})
    assert missing.status_code == 400 and "hub.verify_token" in missing.json()["detail"]


async def test_signed_message_is_answered_through_graph(http, tenant, graph_standin, deps):
    phone, wamid = new_phone(), new_wamid()
    response = await _post(http, tenant, whatsapp_payload(tenant.phone_number_id, [(phone, wamid, "Hi, is the shop open?")]))
    assert response.status_code == 200, response.text
    await eventually(lambda: _has_sends(graph_standin, phone, 1), what="graph send")
    send = graph_standin.sends_to(phone)[0]
    assert send.phone_number_id == tenant.phone_number_id
    assert send.token == tenant.access_token
    assert send.text == f"[{tenant.model}] Hi, is the shop open?"

    async def marked_read() -> bool:  # the customer sees blue ticks
        return wamid in graph_standin.reads

    await eventually(marked_read, what="the message marked read")

    async def sent_recorded() -> bool:
        async with deps.sessions() as session:
            row = await session.scalar(select(Message).where(Message.provider_message_id == send.wamid))
            return row is not None and row.status == "sent"

    await eventually(sent_recorded, what="outbound message marked sent")


async def _has_sends(graph_standin, phone: str, n: int) -> bool:
    return len(graph_standin.sends_to(phone)) >= n


@pytest.mark.parametrize(
    "case",
    ["missing", "wrong_secret", "wrong_prefix", "tampered"],
)
async def test_bad_signatures_are_401_and_start_nothing(http, tenant, deps, case):
    phone = new_phone()
    body = whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), "hello")])
    headers = {"content-type": "application/json"}
    if case == "wrong_secret":
        headers["x-hub-signature-256"] = signature(body, "not-the-secret")
    elif case == "wrong_prefix":
        headers["x-hub-signature-256"] = signature(body, tenant.app_secret).replace("sha256=", "sha1=")
    elif case == "tampered":
        headers["x-hub-signature-256"] = signature(body, tenant.app_secret)
        body = body.replace(b"hello", b"hellO")
    response = await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["title"] == "Invalid signature"
    await asyncio.sleep(0.5)
    assert await _count(deps, Conversation, Conversation.tenant_id == uuid.UUID(tenant.tenant_id)) == 0


async def test_malformed_json_is_400_and_starts_no_turn(http, tenant, deps):
    for body in (b"{not json", b"[1,2]", b'{"object":"page","entry":[]}', b'{"object":"whatsapp_business_account","entry":{}}'):
        response = await _post(http, tenant, body)
        assert response.status_code == 400, body
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await _count(deps, Conversation, Conversation.tenant_id == uuid.UUID(tenant.tenant_id)) == 0


async def test_oversized_body_is_413(http, tenant, settings):
    body = b'{"object":"whatsapp_business_account","entry":[],"pad":"' + b"x" * settings.max_body_bytes + b'"}'
    response = await _post(http, tenant, body)
    assert response.status_code == 413


async def test_unknown_account_is_404(http, tenant):
    body = whatsapp_payload(tenant.phone_number_id, [(new_phone(), new_wamid(), "hi")])
    response = await http.post(f"/webhooks/whatsapp/{uuid.uuid4()}", content=body, headers={"x-hub-signature-256": signature(body, tenant.app_secret)})
    assert response.status_code == 404


async def test_status_callback_is_recorded_not_a_turn(http, tenant, graph_standin, deps):
    phone = new_phone()
    await _post(http, tenant, whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), "order status?")]))
    await eventually(lambda: _has_sends(graph_standin, phone, 1), what="reply")
    wamid = graph_standin.sends_to(phone)[0].wamid
    conversations_before = await _count(deps, Conversation, Conversation.tenant_id == uuid.UUID(tenant.tenant_id))
    inbound_before = await _count(deps, Message, Message.tenant_id == uuid.UUID(tenant.tenant_id), Message.direction == "inbound")

    for status in ("delivered", "read", "delivered"):  # late 'delivered' must not undo 'read'
        response = await _post(http, tenant, whatsapp_payload(tenant.phone_number_id, statuses=[(wamid, status)]))
        assert response.status_code == 200
        assert response.json() == {"messages": 0, "statuses": 1}

    async def read_recorded() -> bool:
        async with deps.sessions() as session:
            return await session.scalar(select(Message.status).where(Message.provider_message_id == wamid)) == "read"

    await eventually(read_recorded, what="status read")
    assert await _count(deps, MessageStatusEvent, MessageStatusEvent.provider_message_id == wamid) == 2
    assert await _count(deps, Conversation, Conversation.tenant_id == uuid.UUID(tenant.tenant_id)) == conversations_before
    assert await _count(deps, Message, Message.tenant_id == uuid.UUID(tenant.tenant_id), Message.direction == "inbound") == inbound_before
    await asyncio.sleep(1.0)
    assert len(graph_standin.sends_to(phone)) == 1


async def test_triple_redelivery_gets_one_reply(http, tenant, graph_standin, deps, settings):
    phone, wamid = new_phone(), new_wamid()
    body = whatsapp_payload(tenant.phone_number_id, [(phone, wamid, "Is COD available?")])
    for _ in range(3):
        assert (await _post(http, tenant, body)).status_code == 200
    await eventually(lambda: _has_sends(graph_standin, phone, 1), what="reply")
    await asyncio.sleep(settings.debounce_seconds * 3)
    assert len(graph_standin.sends_to(phone)) == 1
    assert await _count(deps, Message, Message.external_id == wamid) == 1


async def test_burst_within_window_gets_one_reply(http, tenant, graph_standin, deps, settings):
    phone = new_phone()
    texts = ["hi", "I ordered shoes", "order 1234, where is it?"]
    for text in texts:  # back to back, each its own webhook, well inside the window
        assert (await _post(http, tenant, whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), text)]))).status_code == 200
    await eventually(lambda: _has_sends(graph_standin, phone, 1), what="reply")
    await asyncio.sleep(settings.debounce_seconds * 3)
    sends = graph_standin.sends_to(phone)
    assert len(sends) == 1
    assert sends[0].text == f"[{tenant.model}] order 1234, where is it?"
    assert await _count(deps, Message, Message.tenant_id == uuid.UUID(tenant.tenant_id), Message.direction == "inbound") == 3
    assert await _count(deps, Message, Message.tenant_id == uuid.UUID(tenant.tenant_id), Message.direction == "outbound") == 1


async def test_messages_after_a_pause_get_their_own_reply(http, tenant, graph_standin, settings):
    phone = new_phone()
    await _post(http, tenant, whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), "first question")]))
    await eventually(lambda: _has_sends(graph_standin, phone, 1), what="first reply")
    await _post(http, tenant, whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), "second question")]))
    await eventually(lambda: _has_sends(graph_standin, phone, 2), what="second reply")
    assert [s.text.split("] ")[1] for s in graph_standin.sends_to(phone)] == ["first question", "second question"]


async def test_channel_refusing_the_reply_flags_the_conversation_for_a_person(http, tenant, graph_standin, deps):
    graph_standin.valid_tokens.discard(tenant.access_token)  # e.g. the token was revoked at Meta
    phone = new_phone()
    assert (await _post(http, tenant, whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), "hello?")]))).status_code == 200

    async def flagged() -> bool:
        async with deps.sessions() as session:
            conversation = await session.scalar(select(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id)))
            return bool(conversation and conversation.needs_human)

    await eventually(flagged, what="the conversation to be flagged")
    async with deps.sessions() as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id)))
        outbound = await session.scalar(select(Message).where(Message.tenant_id == uuid.UUID(tenant.tenant_id), Message.direction == "outbound"))
    assert "401" in (conversation.handoff_reason or "")
    assert outbound.status == "failed" and "Invalid OAuth access token" in (outbound.error or "")
    assert graph_standin.sends_to(phone) == []


# --- rich inbound messages reach the turn --------------------------------------------------------

PAYLOADS = Path(__file__).parent.parent / "channels" / "payloads" / "whatsapp"


def _recorded(name: str, phone_number_id: str, phone: str, wamid: str) -> bytes:
    """A payload from Meta's webhook reference, re-addressed to this test's account and customer."""
    body = json.loads((PAYLOADS / f"{name}.json").read_text())
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    value["contacts"][0]["wa_id"] = phone
    value["messages"][0].update({"from": phone, "id": wamid, "timestamp": str(int(time.time()))})
    return json.dumps(body).encode()


async def _inbound_row(deps, wamid: str) -> Message | None:
    async with deps.sessions() as session:
        return await session.scalar(select(Message).where(Message.external_id == wamid, Message.direction == "inbound"))


async def test_signed_image_reaches_the_turn_with_its_attachment(http, tenant, graph_standin, deps):
    phone, wamid = new_phone(), new_wamid()
    response = await _post(http, tenant, _recorded("image", tenant.phone_number_id, phone, wamid))
    assert response.status_code == 200 and response.json() == {"messages": 1, "statuses": 0}
    await eventually(lambda: _has_sends(graph_standin, phone, 1), what="reply to the photo")
    assert graph_standin.sends_to(phone)[0].text == f"[{tenant.model}] [image] This arrived broken"
    row = await _inbound_row(deps, wamid)
    assert row.text == "[image] This arrived broken"
    assert row.content["kind"] == "image"
    assert row.content["attachments"] == [
        {"kind": "image", "media_id": "1003383421387256", "mime_type": "image/jpeg", "caption": "This arrived broken"}
    ]


async def test_signed_button_tap_reaches_the_turn_with_its_payload(http, tenant, graph_standin, deps):
    phone, wamid = new_phone(), new_wamid()
    response = await _post(http, tenant, _recorded("interactive_button_reply", tenant.phone_number_id, phone, wamid))
    assert response.status_code == 200
    await eventually(lambda: _has_sends(graph_standin, phone, 1), what="reply to the tap")
    # The tap's title is what the model reads: "Track my order" has it look the order up first.
    assert graph_standin.sends_to(phone)[0].text.startswith(f"[{tenant.model}] ")
    row = await _inbound_row(deps, wamid)
    assert (row.text, row.content["kind"], row.content["reply_payload"]) == ("Track my order", "reply", "track-order")
    assert row.content["reply_to"] == "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="


async def test_a_location_without_coordinates_is_400_and_starts_no_turn(http, tenant, deps):
    phone, wamid = new_phone(), new_wamid()
    body = json.loads(_recorded("location", tenant.phone_number_id, phone, wamid))
    del body["entry"][0]["changes"][0]["value"]["messages"][0]["location"]["latitude"]
    response = await _post(http, tenant, json.dumps(body).encode())
    assert response.status_code == 400 and "latitude" in response.json()["detail"]
    await asyncio.sleep(0.5)
    assert await _inbound_row(deps, wamid) is None
