"""WhatsApp Cloud API adapter: webhook signatures, webhook payloads as Meta sends them, and sends to Graph.

Payload shapes follow the Cloud API webhook reference (`object: whatsapp_business_account`,
`entry[].changes[].value` with `metadata`, `contacts`, `messages` or `statuses`). Sends go to a
loopback Graph stand-in that answers in the real wire format.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import httpx
import pytest

from channels.base import ChannelError, OutboundMessage, PayloadError, SignatureError, WebhookRequest
from channels.whatsapp import WhatsAppAdapter
from core.embedded.ports import free_port

APP_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ACCOUNT_ID = "acct-1"
PHONE_NUMBER_ID = "106540352242922"


def _adapter(http: httpx.AsyncClient | None = None) -> WhatsAppAdapter:
    return WhatsAppAdapter(http or httpx.AsyncClient())


def _signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _webhook(value: dict, field: str = "messages") -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": field}]}],
    }


def _messages_value(messages: list[dict], contacts: list[dict] | None = None) -> dict:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": contacts if contacts is not None else [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": messages,
    }


def _text(wamid: str, body: str, sender: str = "16505551234", ts: str = "1749416383") -> dict:
    return {"from": sender, "id": wamid, "timestamp": ts, "type": "text", "text": {"body": body}}


def _without_id(message: dict) -> dict:
    return {k: v for k, v in message.items() if k != "id"}


def _request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(headers=headers or {}, body=body, url="https://frontdesk.example/webhooks/whatsapp/x")


def _raw(payload: object) -> bytes:
    return json.dumps(payload).encode()


# --- verify ---------------------------------------------------------------------------------------

BODY = _raw(_webhook(_messages_value([_text("wamid.A", "hi")])))
SECRETS = {"app_secret": APP_SECRET}
SIGNED = {"x-hub-signature-256": _signature(BODY)}


def test_verify_accepts_the_signature_meta_sends():
    _adapter().verify(_request(BODY, SIGNED), SECRETS)


@pytest.mark.parametrize(
    ("headers", "body", "secrets"),
    [
        pytest.param({}, BODY, SECRETS, id="missing-header"),
        pytest.param({"x-hub-signature-256": _signature(BODY).replace("sha256=", "sha1=")}, BODY, SECRETS, id="wrong-prefix"),
        pytest.param({"x-hub-signature-256": _signature(BODY, "another-secret")}, BODY, SECRETS, id="wrong-secret"),
        pytest.param(SIGNED, BODY.replace(b'"hi"', b'"hj"'), SECRETS, id="body-changed"),
        pytest.param(SIGNED, BODY, {}, id="no-app-secret"),
        # Starlette decodes header bytes as latin-1, so a forged header can carry non-ASCII text.
        pytest.param({"x-hub-signature-256": "sha256=" + "é" * 64}, BODY, SECRETS, id="non-ascii-header"),
    ],
)
def test_verify_rejects_anything_not_signed_with_the_app_secret(headers, body, secrets):
    with pytest.raises(SignatureError):
        _adapter().verify(_request(body, headers), secrets)


# --- parse ----------------------------------------------------------------------------------------


def test_text_message_becomes_an_inbound_message():
    parsed = _adapter().parse(_request(BODY), ACCOUNT_ID)
    assert parsed.statuses == []
    [msg] = parsed.messages
    assert msg.channel == "whatsapp"
    assert msg.channel_account_id == ACCOUNT_ID
    assert msg.external_id == "wamid.A"
    assert msg.contact_id == "16505551234"
    assert msg.contact_name == "Sheena Nelson"
    assert msg.text == "hi"
    assert msg.kind == "text"
    assert msg.sent_at == 1749416383.0


def test_several_messages_in_one_delivery_keep_their_order():
    contacts = [
        {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"},
        {"profile": {"name": "Ravi Kumar"}, "wa_id": "919876543210"},
    ]
    messages = [
        _text("wamid.1", "first"),
        _text("wamid.2", "second", sender="919876543210"),
        _text("wamid.3", "third"),
    ]
    parsed = _adapter().parse(_request(_raw(_webhook(_messages_value(messages, contacts)))), ACCOUNT_ID)
    assert [(m.external_id, m.text, m.contact_name) for m in parsed.messages] == [
        ("wamid.1", "first", "Sheena Nelson"),
        ("wamid.2", "second", "Ravi Kumar"),
        ("wamid.3", "third", "Sheena Nelson"),
    ]


@pytest.mark.parametrize(
    "interactive",
    [
        {"type": "button_reply", "button_reply": {"id": "track-order", "title": "Track my order"}},
        {"type": "list_reply", "list_reply": {"id": "track-order", "title": "Track my order", "description": "Where is it?"}},
    ],
    ids=["button_reply", "list_reply"],
)
def test_interactive_reply_arrives_as_the_title_the_customer_tapped(interactive):
    message = {
        "context": {"from": "15550783881", "id": "wamid.OURS"},
        "from": "16505551234",
        "id": "wamid.TAP",
        "timestamp": "1749416383",
        "type": "interactive",
        "interactive": interactive,
    }
    [msg] = _adapter().parse(_request(_raw(_webhook(_messages_value([message])))), ACCOUNT_ID).messages
    assert (msg.kind, msg.text, msg.external_id) == ("interactive", "Track my order", "wamid.TAP")


def test_image_message_is_delivered_with_its_kind_not_dropped():
    image = {
        "from": "16505551234",
        "id": "wamid.IMG",
        "timestamp": "1749416383",
        "type": "image",
        "image": {"caption": "", "mime_type": "image/jpeg", "sha256": "b1f6e0c3", "id": "1003383421387256"},
    }
    [msg] = _adapter().parse(_request(_raw(_webhook(_messages_value([image])))), ACCOUNT_ID).messages
    assert (msg.kind, msg.text, msg.external_id) == ("image", "[image]", "wamid.IMG")


def test_media_caption_reaches_the_agent():
    photo = {
        "from": "16505551234",
        "id": "wamid.CAP",
        "timestamp": "1700000000",
        "type": "image",
        "image": {"caption": "this arrived broken", "mime_type": "image/jpeg", "id": "42"},
    }
    [msg] = _adapter().parse(_request(_raw(_webhook(_messages_value([photo])))), ACCOUNT_ID).messages
    assert msg.text == "[image] this arrived broken"


def test_status_only_payload_gives_statuses_and_keeps_failure_errors():
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [
            {
                "id": "wamid.SENT1",
                "status": "delivered",
                "timestamp": "1750263773",
                "recipient_id": "16505551234",
                "conversation": {"id": "4bb1e1a8", "origin": {"type": "service"}},
                "pricing": {"billable": True, "pricing_model": "PMP", "category": "service"},
            },
            {
                "id": "wamid.SENT2",
                "status": "failed",
                "timestamp": "1750263774",
                "recipient_id": "16505551234",
                "errors": [
                    {
                        "code": 131047,
                        "title": "Re-engagement message",
                        "message": "Re-engagement message",
                        "error_data": {"details": "Message failed to send because more than 24 hours have passed."},
                    }
                ],
            },
        ],
    }
    parsed = _adapter().parse(_request(_raw(_webhook(value))), ACCOUNT_ID)
    assert parsed.messages == []
    delivered, failed = parsed.statuses
    assert (delivered.provider_message_id, delivered.status, delivered.recipient_id, delivered.occurred_at) == (
        "wamid.SENT1", "delivered", "16505551234", 1750263773.0,
    )
    assert delivered.errors == []
    assert (failed.provider_message_id, failed.status) == ("wamid.SENT2", "failed")
    assert [e["code"] for e in failed.errors] == [131047]


def test_changes_for_other_fields_are_ignored():
    account_update = {"phone_number": "15550783881", "event": "VERIFIED_ACCOUNT"}
    payload = _webhook(account_update, field="account_update")
    payload["entry"][0]["changes"].append({"value": _messages_value([_text("wamid.B", "still here")]), "field": "messages"})
    parsed = _adapter().parse(_request(_raw(payload)), ACCOUNT_ID)
    assert [m.external_id for m in parsed.messages] == ["wamid.B"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"not json at all", id="not-json"),
        pytest.param(b'{"object": "whatsapp_business_account", "entry": []}\xff', id="not-utf8"),
        pytest.param(b"\xff\xfe\xfa", id="binary"),
        pytest.param(_raw([_webhook(_messages_value([]))]), id="json-array"),
        pytest.param(_raw({**_webhook(_messages_value([])), "object": "page"}), id="wrong-object"),
        pytest.param(_raw({"object": "whatsapp_business_account", "entry": {"id": "1"}}), id="entry-not-list"),
        pytest.param(_raw(_webhook(_messages_value([_without_id(_text("wamid.C", "x"))]))), id="message-without-id"),
        pytest.param(_raw(_webhook(_messages_value([_text("wamid.C", "x", sender="1650 555 1234")]))), id="from-with-spaces"),
        pytest.param(_raw(_webhook(_messages_value([_text("wamid.C", "x", sender="../16505551234")]))), id="from-with-slash"),
        pytest.param(_raw(_webhook(_messages_value([_text("wamid." + "x" * 300, "x")]))), id="absurdly-long-id"),
    ],
)
def test_bodies_whatsapp_never_sends_are_refused(raw):
    with pytest.raises(PayloadError):
        _adapter().parse(_request(raw), ACCOUNT_ID)


# --- send -----------------------------------------------------------------------------------------


def _config(base_url: str) -> dict:
    return {"graph_base_url": f"{base_url}/v21.0", "phone_number_id": PHONE_NUMBER_ID}


def _recipient() -> str:
    return "9198" + str(uuid.uuid4().int)[:8]


async def test_send_posts_text_to_graph_with_the_bearer_token(graph_standin):
    token = f"EAAG-{uuid.uuid4().hex}"
    graph_standin.valid_tokens.add(token)
    to = _recipient()
    async with httpx.AsyncClient() as http:
        result = await _adapter(http).send(
            OutboundMessage(to=to, text="Your parcel ships today.", idempotency_key="k1"),
            _config(graph_standin.url),
            {"access_token": token},
        )
    [sent] = graph_standin.sends_to(to)
    assert (sent.phone_number_id, sent.token, sent.text) == (PHONE_NUMBER_ID, token, "Your parcel ships today.")
    assert result.provider_message_id == sent.wamid
    assert sent.client_reference == "k1"  # echoed in this message's receipts


def test_receipts_carry_back_our_reference():
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [
            {"id": "wamid.A", "status": "sent", "timestamp": "1750263773", "recipient_id": "1", "biz_opaque_callback_data": "conv:t:a:1:turn"},
            {"id": "wamid.B", "status": "sent", "timestamp": "1750263773", "recipient_id": "1", "biz_opaque_callback_data": "x" * 513},
            {"id": "wamid.C", "status": "sent", "timestamp": "1750263773", "recipient_id": "1"},
        ],
    }
    parsed = _adapter().parse(_request(_raw(_webhook(value))), ACCOUNT_ID)
    assert [s.client_reference for s in parsed.statuses] == ["conv:t:a:1:turn", None, None]


async def test_send_truncates_text_to_the_cloud_api_limit(graph_standin):
    token = f"EAAG-{uuid.uuid4().hex}"
    graph_standin.valid_tokens.add(token)
    to = _recipient()
    text = "a" * 4096 + "TAIL"
    async with httpx.AsyncClient() as http:
        await _adapter(http).send(
            OutboundMessage(to=to, text=text, idempotency_key="k2"), _config(graph_standin.url), {"access_token": token}
        )
    [sent] = graph_standin.sends_to(to)
    assert sent.text == "a" * 4096


async def test_send_with_a_rejected_token_is_not_retryable(graph_standin):
    async with httpx.AsyncClient() as http:
        with pytest.raises(ChannelError) as caught:
            await _adapter(http).send(
                OutboundMessage(to=_recipient(), text="hello", idempotency_key="k3"),
                _config(graph_standin.url),
                {"access_token": "revoked-token"},
            )
    assert caught.value.status == 401
    assert caught.value.retryable is False


async def test_send_to_an_unreachable_graph_is_retryable():
    async with httpx.AsyncClient() as http:
        with pytest.raises(ChannelError) as caught:
            await _adapter(http).send(
                OutboundMessage(to=_recipient(), text="hello", idempotency_key="k4"),
                _config(f"http://127.0.0.1:{free_port()}"),
                {"access_token": "any"},
            )
    assert caught.value.retryable is True


def test_unknown_status_kinds_are_ignored_not_refused():
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [
            {"id": "wamid.S1", "status": "deleted", "timestamp": "1700000000", "recipient_id": "16505551234"},
            {"id": "wamid.S2", "status": "read", "timestamp": "1700000001", "recipient_id": "16505551234"},
        ],
    }
    parsed = _adapter().parse(_request(_raw(_webhook(value))), ACCOUNT_ID)
    assert [(s.provider_message_id, s.status) for s in parsed.statuses] == [("wamid.S2", "read")]
