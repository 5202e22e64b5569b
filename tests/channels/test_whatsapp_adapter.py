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
from pathlib import Path

import httpx
import pytest

from channels.base import (
    Attachment,
    Button,
    ChannelError,
    InboundMessage,
    ListRow,
    Location,
    OutboundMedia,
    OutboundMessage,
    PayloadError,
    SignatureError,
    Template,
    WebhookRequest,
)
from channels.whatsapp import TemplateRequired, WhatsAppAdapter
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
    assert (msg.kind, msg.text, msg.external_id) == ("reply", "Track my order", "wamid.TAP")
    assert (msg.reply_payload, msg.reply_to_external_id) == ("track-order", "wamid.OURS")


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


async def test_text_over_the_cloud_api_limit_is_refused_not_cut(graph_standin):
    # render.fit shortens replies to 4096 at a word boundary; anything longer reaching the
    # adapter is a bug upstream, and cutting it blindly would send half a sentence.
    token = f"EAAG-{uuid.uuid4().hex}"
    graph_standin.valid_tokens.add(token)
    to = _recipient()
    async with httpx.AsyncClient() as http:
        with pytest.raises(ChannelError) as caught:
            await _adapter(http).send(
                OutboundMessage(to=to, text="a" * 4097, idempotency_key="k2"), _config(graph_standin.url), {"access_token": token}
            )
    assert caught.value.retryable is False and "4096" in str(caught.value)
    assert graph_standin.sends_to(to) == []


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


# --- every inbound type, from the payloads in Meta's webhook reference ------------------------------

PAYLOADS = Path(__file__).parent / "payloads" / "whatsapp"
OURS = "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="


def _payload(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()


def _parse_one(name: str) -> InboundMessage:
    [msg] = _adapter().parse(_request(_payload(name)), ACCOUNT_ID).messages
    assert (msg.contact_id, msg.contact_name, msg.sent_at) == ("16505551234", "Sheena Nelson", 1739321024.0)
    return msg


@pytest.mark.parametrize(
    ("name", "kind", "text"),
    [
        ("text", "text", "Does it come in another colour?"),
        ("image", "image", "[image] This arrived broken"),
        ("audio", "audio", "[audio]"),
        ("voice", "voice", "[voice]"),
        ("video", "video", "[video] See how it rattles"),
        ("document", "document", "[document: invoice-1001.pdf] My invoice"),
        ("sticker", "sticker", "[sticker]"),
        ("location", "location", "[location] Meta Headquarters, 1 Hacker Way, Menlo Park, CA 94025"),
        ("contacts", "contacts", "[contacts] Barbara J. Johnson +16505559999 +19175559999"),
        ("interactive_button_reply", "reply", "Track my order"),
        ("interactive_list_reply", "reply", "Priority Mail Express"),
        ("button", "reply", "Unsubscribe"),
        ("reaction", "reaction", "[reaction] \U0001f44d"),
        ("reaction_removed", "reaction", "[reaction removed]"),
        ("unsupported", "unsupported", "[unsupported: poll_update]"),
    ],
)
def test_every_message_type_reads_as_words_the_agent_understands(name, kind, text):
    msg = _parse_one(name)
    assert (msg.kind, msg.text) == (kind, text)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("image", Attachment("image", media_id="1003383421387256", mime_type="image/jpeg", caption="This arrived broken")),
        ("audio", Attachment("audio", media_id="1003383421387257", mime_type="audio/mpeg")),
        ("voice", Attachment("voice", media_id="1003383421387258", mime_type="audio/ogg; codecs=opus")),
        ("video", Attachment("video", media_id="1003383421387259", mime_type="video/mp4", caption="See how it rattles")),
        (
            "document",
            Attachment("document", media_id="1003383421387260", mime_type="application/pdf", filename="invoice-1001.pdf", caption="My invoice"),
        ),
        ("sticker", Attachment("sticker", media_id="1003383421387261", mime_type="image/webp")),
    ],
)
def test_media_arrives_as_an_attachment_to_download_by_id(name, expected):
    msg = _parse_one(name)
    assert msg.attachments == [expected]
    assert msg.content()["attachments"][0]["media_id"] == expected.media_id  # what the message row keeps


def test_location_keeps_coordinates_name_and_address():
    msg = _parse_one("location")
    assert msg.location == Location(37.483307, -122.148981, "Meta Headquarters", "1 Hacker Way, Menlo Park, CA 94025")


def test_shared_contact_cards_are_kept_whole_for_the_agent():
    msg = _parse_one("contacts")
    [card] = msg.extra["contacts"]
    assert card["name"]["formatted_name"] == "Barbara J. Johnson"
    assert [p["phone"] for p in card["phones"]] == ["+16505559999", "+19175559999"]
    assert card["emails"][0]["email"] == "bjohnson@example.com"


@pytest.mark.parametrize(
    ("name", "payload"),
    [("interactive_button_reply", "track-order"), ("interactive_list_reply", "priority_express"), ("button", "unsubscribe-promos")],
)
def test_taps_carry_the_id_we_offered_and_the_message_it_answers(name, payload):
    msg = _parse_one(name)
    assert (msg.reply_payload, msg.reply_to_external_id) == (payload, OURS)
    assert msg.content()["reply_payload"] == payload


def test_a_quoted_reply_points_at_the_quoted_message():
    msg = _parse_one("text_reply")
    assert (msg.kind, msg.text, msg.reply_to_external_id, msg.reply_payload) == ("text", "Yes, that one please", OURS, None)


def test_reactions_name_the_message_and_the_emoji():
    added, removed = _parse_one("reaction"), _parse_one("reaction_removed")
    assert (added.reply_to_external_id, added.extra) == (OURS, {"emoji": "\U0001f44d"})
    assert (removed.reply_to_external_id, removed.extra) == (OURS, {"reaction_removed": True})


def test_unsupported_messages_keep_meta_s_error_code():
    msg = _parse_one("unsupported")
    assert msg.extra == {"errors": [{"code": 131051, "title": "Message type unknown"}]}


def test_a_type_meta_adds_later_arrives_with_its_name():
    message = {"from": "16505551234", "id": "wamid.NEW", "timestamp": "1739321024", "type": "poll", "poll": {"type": "single"}}
    [msg] = _adapter().parse(_request(_raw(_webhook(_messages_value([message])))), ACCOUNT_ID).messages
    assert (msg.kind, msg.text) == ("poll", "[poll: single]")


@pytest.mark.parametrize(
    "location",
    [{"name": "nowhere"}, {"latitude": "north", "longitude": 2}, {"latitude": 91, "longitude": 0}],
    ids=["no-coordinates", "not-a-number", "off-the-globe"],
)
def test_a_location_without_usable_coordinates_is_refused(location):
    message = {"from": "16505551234", "id": "wamid.LOC", "timestamp": "1739321024", "type": "location", "location": location}
    with pytest.raises(PayloadError):
        _adapter().parse(_request(_raw(_webhook(_messages_value([message])))), ACCOUNT_ID)


def test_recorded_statuses_sent_delivered_read():
    parsed = _adapter().parse(_request(_payload("statuses")), ACCOUNT_ID)
    assert parsed.messages == []
    assert [(s.provider_message_id, s.status, s.occurred_at) for s in parsed.statuses] == [
        (OURS, "sent", 1750263773.0),
        (OURS, "delivered", 1750263774.0),
        (OURS, "read", 1750263790.0),
    ]
    assert [s.client_reference for s in parsed.statuses] == ["conv:t:a:16505551234:turn-1"] * 2 + [None]


def test_recorded_failed_statuses_keep_their_error_codes():
    reengagement, undeliverable = _adapter().parse(_request(_payload("statuses_failed")), ACCOUNT_ID).statuses
    assert (reengagement.status, undeliverable.status) == ("failed", "failed")
    assert [e["code"] for e in reengagement.errors] == [131047]
    assert "24 hours" in reengagement.errors[0]["error_data"]["details"]
    assert reengagement.client_reference == "conv:t:a:16505551234:turn-2"
    assert [(e["code"], e["title"]) for e in undeliverable.errors] == [(131026, "Message undeliverable")]


# --- fetch_media --------------------------------------------------------------------------------


@pytest.fixture
def graph_token(graph_standin) -> str:
    token = f"EAAG-{uuid.uuid4().hex}"
    graph_standin.valid_tokens.add(token)
    yield token
    graph_standin.fail_with = None


async def test_fetch_media_downloads_with_the_access_token(graph_standin, graph_token):
    media_id = graph_standin.add_media(b"OggS\x00voice-note", "audio/ogg")
    async with httpx.AsyncClient() as http:
        data, mime = await _adapter(http).fetch_media(
            Attachment("voice", media_id=media_id), _config(graph_standin.url), {"access_token": graph_token}
        )
    assert (data, mime) == (b"OggS\x00voice-note", "audio/ogg")


async def test_fetch_media_with_a_wrong_token_is_refused(graph_standin, graph_token):
    media_id = graph_standin.add_media(b"\xff\xd8jpeg", "image/jpeg")
    async with httpx.AsyncClient() as http:
        with pytest.raises(ChannelError) as caught:
            await _adapter(http).fetch_media(Attachment("image", media_id=media_id), _config(graph_standin.url), {"access_token": "stolen"})
    assert (caught.value.status, caught.value.retryable) == (401, False)


async def test_fetch_media_that_meta_no_longer_has_is_not_retried(graph_standin, graph_token):
    async with httpx.AsyncClient() as http:
        with pytest.raises(ChannelError) as caught:
            await _adapter(http).fetch_media(Attachment("image", media_id="999"), _config(graph_standin.url), {"access_token": graph_token})
    assert (caught.value.status, caught.value.retryable) == (404, False)


@pytest.mark.parametrize("status", [429, 503])
async def test_fetch_media_when_graph_is_busy_is_retryable(graph_standin, graph_token, status):
    media_id = graph_standin.add_media(b"x", "image/jpeg")
    graph_standin.fail_with = status
    async with httpx.AsyncClient() as http:
        with pytest.raises(ChannelError) as caught:
            await _adapter(http).fetch_media(Attachment("image", media_id=media_id), _config(graph_standin.url), {"access_token": graph_token})
    assert (caught.value.status, caught.value.retryable) == (status, True)


async def test_fetch_media_from_an_unreachable_graph_is_retryable():
    async with httpx.AsyncClient() as http:
        with pytest.raises(ChannelError) as caught:
            await _adapter(http).fetch_media(
                Attachment("image", media_id="123"), _config(f"http://127.0.0.1:{free_port()}"), {"access_token": "any"}
            )
    assert caught.value.retryable is True


@pytest.mark.parametrize("media_id", [None, "../../me/accounts", "1/2"])
async def test_fetch_media_without_a_usable_media_id_calls_nothing(graph_standin, graph_token, media_id):
    async with httpx.AsyncClient() as http:
        with pytest.raises(ChannelError) as caught:
            await _adapter(http).fetch_media(Attachment("image", media_id=media_id), _config(graph_standin.url), {"access_token": graph_token})
    assert caught.value.retryable is False


# --- every outbound form, checked field by field ----------------------------------------------------


async def _send(graph_standin, token: str, message: OutboundMessage):
    async with httpx.AsyncClient() as http:
        return await _adapter(http).send(message, _config(graph_standin.url), {"access_token": token})


def _envelope(to: str, key: str | None = None, **part) -> dict:
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **part}
    if key is not None:
        body["biz_opaque_callback_data"] = key
    return body


def _file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


async def test_text_body_as_sent(graph_standin, graph_token):
    to = _recipient()
    result = await _send(graph_standin, graph_token, OutboundMessage(to=to, text="Shipped today.", idempotency_key="k-text", reply_to_external_id="wamid.Q"))
    [sent] = graph_standin.sends_to(to)
    assert sent.body == {
        **_envelope(to, "k-text", type="text", text={"preview_url": False, "body": "Shipped today."}),
        "context": {"message_id": "wamid.Q"},
    }
    assert result.provider_message_id == sent.wamid


async def test_image_from_storage_is_uploaded_then_sent_by_id(graph_standin, graph_token, tmp_path):
    to = _recipient()
    path = _file(tmp_path, "receipt.png", b"\x89PNG-bytes")
    media = OutboundMedia("image", path=path)
    await _send(graph_standin, graph_token, OutboundMessage(to=to, text="Your receipt", idempotency_key="k-img", media=media))
    [sent] = graph_standin.sends_to(to)
    media_id = sent.body["image"]["id"]
    upload = graph_standin.uploads[media_id]
    assert (upload.phone_number_id, upload.data, upload.mime_type, upload.filename) == (PHONE_NUMBER_ID, b"\x89PNG-bytes", "image/png", "receipt.png")
    assert sent.body == _envelope(to, "k-img", type="image", image={"id": media_id, "caption": "Your receipt"})


async def test_media_with_a_public_url_is_sent_by_link(graph_standin, graph_token):
    to = _recipient()
    media = OutboundMedia("video", url="https://cdn.example.com/unboxing.mp4")
    await _send(graph_standin, graph_token, OutboundMessage(to=to, text="How to open it", idempotency_key="k-vid", media=media))
    [sent] = graph_standin.sends_to(to)
    assert sent.body == _envelope(to, "k-vid", type="video", video={"link": "https://cdn.example.com/unboxing.mp4", "caption": "How to open it"})


async def test_document_keeps_its_file_name(graph_standin, graph_token):
    to = _recipient()
    media = OutboundMedia("document", url="https://cdn.example.com/i/1001.pdf", filename="invoice-1001.pdf")
    await _send(graph_standin, graph_token, OutboundMessage(to=to, text="Invoice attached", idempotency_key="k-doc", media=media))
    [sent] = graph_standin.sends_to(to)
    assert sent.body["document"] == {"link": "https://cdn.example.com/i/1001.pdf", "caption": "Invoice attached", "filename": "invoice-1001.pdf"}


async def test_a_caption_too_long_for_media_goes_first_as_text(graph_standin, graph_token):
    to = _recipient()
    text = "word " * 300  # 1500 characters: over the 1024 a caption may have
    media = OutboundMedia("image", url="https://cdn.example.com/a.jpg")
    result = await _send(graph_standin, graph_token, OutboundMessage(to=to, text=text, idempotency_key="k-long", media=media))
    words, image = graph_standin.sends_to(to)
    assert words.body == _envelope(to, "k-long", type="text", text={"preview_url": False, "body": text})
    assert image.body == _envelope(to, type="image", image={"link": "https://cdn.example.com/a.jpg"})  # no caption, no key
    assert result.provider_message_id == words.wamid


async def test_voice_note_follows_its_words_as_a_text_message(graph_standin, graph_token, tmp_path):
    # WhatsApp audio has no caption: the text goes first (it must reach the customer even if
    # the audio cannot), then the voice note, uploaded as OGG/Opus and flagged as voice.
    to = _recipient()
    media = OutboundMedia("voice", path=_file(tmp_path, "reply.ogg", b"OggS-opus"), mime_type="audio/ogg")
    result = await _send(graph_standin, graph_token, OutboundMessage(to=to, text="Your order ships today.", idempotency_key="k-voice", media=media))
    words, voice = graph_standin.sends_to(to)
    assert words.body == _envelope(to, "k-voice", type="text", text={"preview_url": False, "body": "Your order ships today."})
    assert voice.body == _envelope(to, type="audio", audio={"id": voice.body["audio"]["id"], "voice": True})
    assert graph_standin.uploads[voice.body["audio"]["id"]].mime_type == "audio/ogg"
    assert result.provider_message_id == words.wamid  # the receipt that proves the reply went


async def test_audio_without_words_goes_alone(graph_standin, graph_token):
    to = _recipient()
    media = OutboundMedia("audio", url="https://cdn.example.com/jingle.mp3")
    await _send(graph_standin, graph_token, OutboundMessage(to=to, text="", idempotency_key="k-aud", media=media))
    [sent] = graph_standin.sends_to(to)
    assert sent.body == _envelope(to, "k-aud", type="audio", audio={"link": "https://cdn.example.com/jingle.mp3"})


async def test_media_that_cannot_be_uploaded_leaves_the_words_to_go_alone(graph_standin, graph_token, tmp_path):
    to = _recipient()
    media = OutboundMedia("voice", path=str(tmp_path / "never-written.ogg"), mime_type="audio/ogg")
    await _send(graph_standin, graph_token, OutboundMessage(to=to, text="Here is what I said.", idempotency_key="k-fb", media=media))
    [sent] = graph_standin.sends_to(to)
    assert sent.body == _envelope(to, "k-fb", type="text", text={"preview_url": False, "body": "Here is what I said."})


async def test_media_that_cannot_be_uploaded_with_no_words_is_refused(graph_standin, graph_token, tmp_path):
    to = _recipient()
    media = OutboundMedia("image", path=str(tmp_path / "missing.png"))
    with pytest.raises(ChannelError) as caught:
        await _send(graph_standin, graph_token, OutboundMessage(to=to, text=" ", idempotency_key="k-none", media=media))
    assert caught.value.retryable is False and "unreadable" in str(caught.value)
    assert graph_standin.sends_to(to) == []


async def test_reply_buttons_body_as_sent(graph_standin, graph_token):
    to = _recipient()
    buttons = [Button("track", "Track my order"), Button("agent", "Talk to a person")]
    await _send(graph_standin, graph_token, OutboundMessage(to=to, text="What next?", idempotency_key="k-btn", buttons=buttons))
    [sent] = graph_standin.sends_to(to)
    assert sent.body == _envelope(
        to,
        "k-btn",
        type="interactive",
        interactive={
            "type": "button",
            "body": {"text": "What next?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "track", "title": "Track my order"}},
                    {"type": "reply", "reply": {"id": "agent", "title": "Talk to a person"}},
                ]
            },
        },
    )


async def test_buttons_carry_an_image_as_their_header(graph_standin, graph_token):
    to = _recipient()
    message = OutboundMessage(
        to=to, text="Is this yours?", idempotency_key="k-hdr", buttons=[Button("yes", "Yes")], media=OutboundMedia("image", url="https://cdn.example.com/p.jpg")
    )
    await _send(graph_standin, graph_token, message)
    [sent] = graph_standin.sends_to(to)
    assert sent.body["interactive"]["header"] == {"type": "image", "image": {"link": "https://cdn.example.com/p.jpg"}}


async def test_media_a_list_cannot_carry_follows_it(graph_standin, graph_token):
    to = _recipient()
    message = OutboundMessage(
        to=to, text="Pick a size", idempotency_key="k-lm", list_rows=[ListRow("s", "Small")], media=OutboundMedia("image", url="https://cdn.example.com/sizes.jpg")
    )
    result = await _send(graph_standin, graph_token, message)
    options, chart = graph_standin.sends_to(to)
    assert (options.body["interactive"]["type"], options.client_reference) == ("list", "k-lm")
    assert chart.body == _envelope(to, type="image", image={"link": "https://cdn.example.com/sizes.jpg"})
    assert result.provider_message_id == options.wamid


async def test_list_body_as_sent(graph_standin, graph_token):
    to = _recipient()
    rows = [ListRow("express", "Express", "Next day"), ListRow("standard", "Standard")]
    await _send(graph_standin, graph_token, OutboundMessage(to=to, text="Pick a delivery", idempotency_key="k-list", list_rows=rows, list_button="Delivery options"))
    [sent] = graph_standin.sends_to(to)
    assert sent.body == _envelope(
        to,
        "k-list",
        type="interactive",
        interactive={
            "type": "list",
            "body": {"text": "Pick a delivery"},
            "action": {
                "button": "Delivery options",
                "sections": [
                    {
                        "title": "Delivery options",
                        "rows": [{"id": "express", "title": "Express", "description": "Next day"}, {"id": "standard", "title": "Standard"}],
                    }
                ],
            },
        },
    )


async def test_a_list_without_a_label_gets_one(graph_standin, graph_token):
    to = _recipient()
    await _send(graph_standin, graph_token, OutboundMessage(to=to, text="Pick", idempotency_key="k-lbl", list_rows=[ListRow("a", "A")]))
    [sent] = graph_standin.sends_to(to)
    assert sent.body["interactive"]["action"]["button"] == "Options"


async def test_template_body_as_sent(graph_standin, graph_token):
    to = _recipient()
    template = Template("order_update", "en_US", ["Sheena", "A-1001"])
    await _send(graph_standin, graph_token, OutboundMessage(to=to, text="Hi Sheena, order A-1001 shipped", idempotency_key="k-tpl", template=template))
    [sent] = graph_standin.sends_to(to)
    assert sent.body == _envelope(
        to,
        "k-tpl",
        type="template",
        template={
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Sheena"}, {"type": "text", "text": "A-1001"}]}],
        },
    )


async def test_template_without_parameters_has_no_components(graph_standin, graph_token):
    to = _recipient()
    await _send(graph_standin, graph_token, OutboundMessage(to=to, text="Hello", idempotency_key="k-tpl0", template=Template("hello_world")))
    [sent] = graph_standin.sends_to(to)
    assert sent.body["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


def _options(n: int, title: str = "Option") -> list[Button]:
    return [Button(f"id{i}", f"{title} {i}") for i in range(n)]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        pytest.param(dict(buttons=_options(4)), "4 buttons", id="four-buttons"),
        pytest.param(dict(buttons=[Button("a", "A title of 21 chars..")]), "button title", id="button-title-21"),
        pytest.param(dict(buttons=[Button("x" * 257, "Fine")]), "button id", id="button-id-257"),
        pytest.param(dict(buttons=[Button("a", "Same"), Button("b", "Same")]), "same title", id="duplicate-titles"),
        pytest.param(dict(text="t" * 1025, buttons=_options(2)), "1024", id="button-body-1025"),
        pytest.param(dict(list_rows=[ListRow(f"r{i}", f"Row {i}") for i in range(11)]), "11 list rows", id="eleven-rows"),
        pytest.param(dict(list_rows=[ListRow("r", "A row title of 25 chars..")]), "row title", id="row-title-25"),
        pytest.param(dict(list_rows=[ListRow("r", "Row", "d" * 73)]), "description", id="row-description-73"),
        pytest.param(dict(list_rows=[ListRow("x" * 201, "Row")]), "row id", id="row-id-201"),
        pytest.param(dict(list_rows=[ListRow("r", "Row")], list_button="A label of 21 chars.."), "button label", id="list-label-21"),
        pytest.param(dict(buttons=_options(2), list_rows=[ListRow("r", "Row")]), "not both", id="buttons-and-list"),
        pytest.param(dict(text=""), "nothing to send", id="empty"),
        pytest.param(dict(media=OutboundMedia("sticker", url="https://x.example/s.webp")), "sticker", id="sticker-media"),
        pytest.param(dict(media=OutboundMedia("image")), "exactly one", id="media-without-source"),
        pytest.param(dict(media=OutboundMedia("image", url="file:///etc/passwd")), "http", id="media-file-url"),
        pytest.param(dict(template=Template("Order Update")), "template name", id="template-name"),
        pytest.param(dict(template=Template("order_update", "english")), "language", id="template-language"),
        pytest.param(dict(template=Template("order_update", body_parameters=["line\nbreak"])), "parameter", id="template-newline"),
    ],
)
async def test_what_whatsapp_would_refuse_is_refused_before_sending(graph_standin, graph_token, message, reason):
    to = _recipient()
    fields = {"text": "Choose", **message}
    with pytest.raises(ChannelError) as caught:
        await _send(graph_standin, graph_token, OutboundMessage(to=to, idempotency_key="k-lim", **fields))
    assert caught.value.retryable is False
    assert reason in str(caught.value)
    assert graph_standin.sends_to(to) == []


async def test_outside_the_24_hour_window_a_template_is_needed(graph_standin, graph_token):
    to = _recipient()
    graph_standin.closed_windows.add(to)
    with pytest.raises(TemplateRequired) as caught:
        await _send(graph_standin, graph_token, OutboundMessage(to=to, text="Any news?", idempotency_key="k-24h"))
    assert (caught.value.status, caught.value.retryable) == (400, False)
    assert "template" in str(caught.value) and "24 hours" in str(caught.value)
    assert graph_standin.sends_to(to) == []
    await _send(graph_standin, graph_token, OutboundMessage(to=to, text="", idempotency_key="k-24h-t", template=Template("order_update")))
    assert [s.type for s in graph_standin.sends_to(to)] == ["template"]


async def test_graph_refusing_a_message_is_not_retryable(graph_standin, graph_token):
    graph_standin.fail_with = 400
    with pytest.raises(ChannelError) as caught:
        await _send(graph_standin, graph_token, OutboundMessage(to=_recipient(), text="hi", idempotency_key="k-400"))
    assert (caught.value.status, caught.value.retryable) == (400, False)


# --- mark as read ---------------------------------------------------------------------------------


async def test_after_receive_marks_the_message_read(graph_standin, graph_token):
    msg = _parse_one("text")
    async with httpx.AsyncClient() as http:
        await _adapter(http).after_receive(msg, _config(graph_standin.url), {"access_token": graph_token})
    assert graph_standin.reads[-1] == msg.external_id
    assert graph_standin.sends_to(msg.contact_id) == []  # a read receipt is not a message


async def test_mark_read_with_a_revoked_token_raises(graph_standin):
    async with httpx.AsyncClient() as http:
        with pytest.raises(ChannelError) as caught:
            await _adapter(http).after_receive(_parse_one("text"), _config(graph_standin.url), {"access_token": "revoked"})
    assert (caught.value.status, caught.value.retryable) == (401, False)
