"""Messenger and Instagram adapters: signatures, every webhook event from recorded payloads, media
downloads, and sends to a loopback Send API that answers in Graph's wire format.

Payloads under payloads/messenger and payloads/instagram follow the Messenger Platform webhook
reference (messages, messaging_postbacks, message_reactions, message_deliveries, message_reads,
message_echoes) and the Instagram messaging webhook examples (story_mention, reply_to.story,
share/ig_post, ig_reel, messaging_seen, is_deleted, is_unsupported).
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
    OutboundMedia,
    OutboundMessage,
    PayloadError,
    SignatureError,
    WebhookRequest,
)
from channels.messenger import InstagramAdapter, MessengerAdapter
from channels.render import fit
from core.embedded.ports import free_port
from tests.standins.messenger_server import Failure, MessengerStandIn
from tests.standins.serve import served

PAYLOADS = Path(__file__).parent / "payloads"
APP_SECRET = "5e0f9a7c3b2d4e6f8a1b0c9d8e7f6a5b"
ACCOUNT_ID = "acct-1"
PAGE_ID = "682498302938465"
PSID = "1254459154682919"
IGSID = "6701536396615426"
ADAPTERS = {"messenger": MessengerAdapter, "instagram": InstagramAdapter}


@pytest.fixture(scope="module")
async def messenger_standin():
    async with served(MessengerStandIn()) as standin:
        yield standin


def _raw(platform: str, name: str) -> bytes:
    return (PAYLOADS / platform / f"{name}.json").read_bytes()


def _request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(headers=headers or {}, body=body, url="https://frontdesk.example/webhooks/messenger/x")


def _parse(platform: str, name: str):
    return ADAPTERS[platform](httpx.AsyncClient()).parse(_request(_raw(platform, name)), ACCOUNT_ID)


def _one(platform: str, name: str):
    parsed = _parse(platform, name)
    assert parsed.statuses == []
    [message] = parsed.messages
    assert (message.channel, message.channel_account_id) == (platform, ACCOUNT_ID)
    return message


def _signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- verify and handshake ---------------------------------------------------------------------

BODY = _raw("messenger", "text")


@pytest.mark.parametrize("platform", ADAPTERS)
def test_verify_accepts_metas_signature(platform):
    ADAPTERS[platform](httpx.AsyncClient()).verify(_request(BODY, {"x-hub-signature-256": _signature(BODY)}), {"app_secret": APP_SECRET})


@pytest.mark.parametrize("platform", ADAPTERS)
@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param({}, BODY, id="missing"),
        pytest.param({"x-hub-signature-256": _signature(BODY, "another-secret")}, BODY, id="wrong-secret"),
        pytest.param({"x-hub-signature-256": _signature(BODY)}, BODY.replace(b"Pune", b"Puna"), id="body-changed"),
        pytest.param({"x-hub-signature-256": "sha1=" + _signature(BODY)[7:]}, BODY, id="wrong-prefix"),
    ],
)
def test_verify_refuses_anything_not_signed_with_the_app_secret(platform, headers, body):
    with pytest.raises(SignatureError):
        ADAPTERS[platform](httpx.AsyncClient()).verify(_request(body, headers), {"app_secret": APP_SECRET})


@pytest.mark.parametrize("platform", ADAPTERS)
def test_handshake_echoes_the_challenge_only_for_the_verify_token(platform):
    adapter = ADAPTERS[platform](httpx.AsyncClient())
    secrets = {"verify_token": "tok-0123456789"}
    query = {"hub.mode": "subscribe", "hub.verify_token": "tok-0123456789", "hub.challenge": "1158201444"}
    assert adapter.handshake(query, secrets) == "1158201444"
    with pytest.raises(SignatureError):
        adapter.handshake({**query, "hub.verify_token": "guess"}, secrets)
    with pytest.raises(PayloadError):
        adapter.handshake({"hub.mode": "subscribe"}, secrets)


# --- parse: what the customer said --------------------------------------------------------------


@pytest.mark.parametrize("platform", ADAPTERS)
def test_text_message(platform):
    message = _one(platform, "text")
    assert message.kind == "text"
    assert message.contact_id == (PSID if platform == "messenger" else IGSID)
    assert message.text in {"Hi, do you ship to Pune?", "Is the blue kurta in stock in M?"}
    assert message.sent_at == 1718443000.123  # Meta's milliseconds, as seconds
    assert message.external_id.startswith("m_" if platform == "messenger" else "aWdf")


@pytest.mark.parametrize("platform", ADAPTERS)
def test_quick_reply_carries_its_payload(platform):
    message = _one(platform, "quick_reply")
    assert message.kind == "reply"
    assert (message.text, message.reply_payload) in {("Track my order", "TRACK_ORDER"), ("Size M", "SIZE_M")}


@pytest.mark.parametrize(("platform", "title", "payload"), [("messenger", "Talk to a person", "HUMAN_HANDOFF"), ("instagram", "Track my order", "TRACK_ORDER")])
def test_postback_is_a_reply_with_its_title_and_payload(platform, title, payload):
    message = _one(platform, "postback")
    assert (message.kind, message.text, message.reply_payload) == ("reply", title, payload)
    assert message.external_id.startswith("m_" if platform == "messenger" else "aWdf")


def test_postback_without_a_mid_gets_a_key_that_survives_redelivery():
    first, again = _one("messenger", "get_started"), _one("messenger", "get_started")
    assert first.external_id == again.external_id == f"postback:{PSID}:1718443000123"
    assert (first.text, first.reply_payload) == ("Get Started", "GET_STARTED")
    assert first.extra["referral"]["ref"] == "summer-sale"


@pytest.mark.parametrize("platform", ADAPTERS)
def test_reply_to_a_message_names_the_quoted_message(platform):
    message = _one(platform, "reply_to")
    expected = "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU" if platform == "messenger" else _one("instagram", "text").external_id
    assert message.reply_to_external_id == expected
    assert message.kind == "text"


@pytest.mark.parametrize(
    ("platform", "name", "kind", "attachment_kind"),
    [
        ("messenger", "audio", "audio", "audio"),
        ("messenger", "video", "video", "video"),
        ("messenger", "file", "document", "document"),
        ("instagram", "image", "image", "image"),
        ("instagram", "audio", "audio", "audio"),
        ("instagram", "video", "video", "video"),
        ("instagram", "file", "document", "document"),
    ],
)
def test_media_arrives_as_a_downloadable_attachment(platform, name, kind, attachment_kind):
    message = _one(platform, name)
    [attachment] = message.attachments
    assert (message.kind, message.text) == (kind, f"[{kind}]")
    assert attachment.kind == attachment_kind
    assert attachment.url.startswith("https://")
    assert json.loads(_raw(platform, name))["entry"][0]["messaging"][0]["message"]["attachments"][0]["payload"]["url"] == attachment.url


def test_several_images_in_one_message_are_all_kept():
    message = _one("messenger", "image")
    assert [a.kind for a in message.attachments] == ["image", "image"]
    assert message.text == "[image] [image]"
    assert message.attachments[0].url != message.attachments[1].url


def test_sticker_sent_in_both_transition_forms_arrives_once():
    message = _one("messenger", "sticker")
    assert message.kind == "sticker"
    assert [a.kind for a in message.attachments] == ["sticker"]


def test_location_has_coordinates_and_place_name():
    message = _one("messenger", "location")
    assert message.kind == "location"
    assert (message.location.latitude, message.location.longitude, message.location.name) == (18.5362, 73.894, "Koregaon Park, Pune")
    assert message.text == "[location] Koregaon Park, Pune"


def test_shared_link_keeps_what_the_customer_typed_and_the_link():
    message = _one("messenger", "fallback")
    assert message.text == "https://shop.example.com/p/blue-kurta"
    assert message.extra["shared"] == [{"type": "fallback", "url": "https://shop.example.com/p/blue-kurta", "title": "Blue cotton kurta - Example Shop"}]


def test_shared_post_without_payload_still_reaches_the_agent():
    message = _one("messenger", "fallback_without_payload")
    assert message.kind == "share"
    assert message.text == "[fallback] Shared post https://www.facebook.com/examplepage/posts/1029384756"
    assert message.attachments == []


def test_instagram_post_share_gives_its_caption_and_link_not_a_download():
    message = _one("instagram", "share")
    assert message.kind == "share" and message.attachments == []
    assert [s["type"] for s in message.extra["shared"]] == ["share", "ig_post"]
    assert "New arrivals: cotton kurtas" in message.text


def test_instagram_reel_share():
    message = _one("instagram", "ig_reel")
    assert message.kind == "share"
    assert message.extra["shared"][0]["title"] == "How to style a kurta"
    assert message.text.startswith("[ig_reel] How to style a kurta https://lookaside.fbsbx.com/")


def test_story_mention_keeps_the_story_link_and_downloads_nothing():
    message = _one("instagram", "story_mention")
    assert (message.kind, message.text, message.attachments) == ("story_mention", "[story mention]", [])
    assert message.extra["story_mention"]["url"].startswith("https://lookaside.fbsbx.com/ig_messaging_cdn/")


def test_story_reply_says_which_story_it_answers():
    message = _one("instagram", "story_reply")
    assert (message.kind, message.text) == ("text", "Love this colour! Price?")
    assert message.extra["story_reply"]["id"] == "18034567890999999"
    assert message.extra["story_reply"]["url"].startswith("https://lookaside.fbsbx.com/")
    assert message.reply_to_external_id is None


@pytest.mark.parametrize("platform", ADAPTERS)
def test_reaction_points_at_the_message_reacted_to(platform):
    message = _one(platform, "reaction")
    assert message.kind == "reaction"
    assert message.reply_to_external_id == ("m_standin000001" if platform == "messenger" else "m_standin000005")
    assert message.extra["action"] == "react" and message.extra["reaction"] == "love"
    assert message.text.startswith("[reaction] ❤")


def test_removing_a_reaction_is_its_own_event():
    unreact, react = _one("instagram", "unreact"), _one("instagram", "reaction")
    assert unreact.external_id != react.external_id
    assert (unreact.text, unreact.extra["action"]) == ("[removed reaction]", "unreact")


def test_unsupported_instagram_content_is_said_not_dropped():
    message = _one("instagram", "unsupported")
    assert (message.kind, message.text) == ("unsupported", "[unsupported message]")


def test_unsent_instagram_message_is_dropped():
    parsed = _parse("instagram", "deleted")
    assert parsed.messages == [] and parsed.statuses == []


def test_a_batch_keeps_every_message_and_receipt_in_order():
    parsed = _parse("messenger", "batch")
    assert [(m.external_id, m.contact_id, m.text) for m in parsed.messages] == [
        ("m_batch1", PSID, "first"),
        ("m_batch2", "2290124451122334", "second"),
    ]
    assert [(s.provider_message_id, s.status) for s in parsed.statuses] == [("m_standin000004", "delivered")]


# --- parse: receipts and our own echoes ---------------------------------------------------------


def test_delivery_marks_each_listed_message_delivered():
    parsed = _parse("messenger", "delivery")
    assert parsed.messages == []
    assert [(s.provider_message_id, s.status, s.recipient_id, s.occurred_at) for s in parsed.statuses] == [
        ("m_standin000001", "delivered", PSID, 1718443001.253),
        ("m_standin000002", "delivered", PSID, 1718443001.253),
    ]


def test_messenger_read_watermark_is_ignored():
    parsed = _parse("messenger", "read")
    assert parsed.messages == [] and parsed.statuses == []


def test_instagram_seen_marks_that_message_read():
    parsed = _parse("instagram", "seen")
    assert parsed.messages == []
    assert [(s.provider_message_id, s.status, s.recipient_id) for s in parsed.statuses] == [("m_standin000005", "read", IGSID)]


def test_echo_of_our_send_is_a_sent_receipt_with_our_reference_not_a_message():
    parsed = _parse("messenger", "echo")
    assert parsed.messages == []
    [status] = parsed.statuses
    assert (status.provider_message_id, status.status, status.recipient_id) == ("m_standin000003", "sent", PSID)
    assert status.client_reference == "conv:t:a:1254459154682919:turn-7"


@pytest.mark.parametrize(("platform", "name"), [("messenger", "echo_from_inbox"), ("instagram", "echo")])
def test_other_echoes_are_ignored(platform, name):
    parsed = _parse(platform, name)
    assert parsed.messages == [] and parsed.statuses == []


# --- parse: bodies Meta never sends --------------------------------------------------------------


def _event(body: dict, sender: str = PSID) -> bytes:
    return json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": 1, "messaging": [{"sender": {"id": sender}, "recipient": {"id": PAGE_ID}, "timestamp": 1, **body}]}]}).encode()


@pytest.mark.parametrize(
    ("platform", "raw"),
    [
        pytest.param("messenger", b"{not json", id="not-json"),
        pytest.param("messenger", b"\xff\xfe", id="binary"),
        pytest.param("messenger", b"[]", id="array"),
        pytest.param("instagram", _raw("messenger", "text"), id="page-payload-on-instagram"),
        pytest.param("messenger", _raw("instagram", "text"), id="instagram-payload-on-messenger"),
        pytest.param("messenger", b'{"object": "page", "entry": {}}', id="entry-not-list"),
        pytest.param("messenger", b'{"object": "page", "entry": [{"messaging": {}}]}', id="messaging-not-list"),
        pytest.param("messenger", _event({"message": {"text": "no mid"}}), id="message-without-mid"),
        pytest.param("messenger", _event({"message": {"mid": "m_1", "text": "hi"}}, sender=""), id="no-sender"),
        pytest.param("messenger", _event({"message": {"mid": "m_1", "text": "hi"}}, sender="../1254"), id="sender-with-slash"),
        pytest.param("messenger", _event({"message": {"mid": "m_" + "x" * 300, "text": "hi"}}), id="absurd-mid"),
        pytest.param("messenger", _event({"message": {"mid": "m_1"}}), id="empty-message"),
        pytest.param("messenger", _event({"message": {"mid": "m_1", "attachments": {"type": "image"}}}), id="attachments-not-list"),
        pytest.param("messenger", _event({"message": {"mid": "m_1", "attachments": [{"type": "location", "payload": {}}]}}), id="location-without-coordinates"),
        pytest.param("messenger", _event({"postback": {"mid": "m_1"}}), id="empty-postback"),
        pytest.param("messenger", _event({"delivery": {"mids": "m_1", "watermark": 1}}), id="mids-not-list"),
    ],
)
def test_bodies_meta_never_sends_are_refused(platform, raw):
    with pytest.raises(PayloadError):
        ADAPTERS[platform](httpx.AsyncClient()).parse(_request(raw), ACCOUNT_ID)


# --- fetch_media ---------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ADAPTERS)
async def test_fetch_media_downloads_the_cdn_url(platform, messenger_standin):
    name = f"{uuid.uuid4().hex}.jpg"
    messenger_standin.cdn[name] = (b"\xff\xd8\xff\xe0 jpeg bytes", "image/jpeg")
    async with httpx.AsyncClient() as http:
        data, mime = await ADAPTERS[platform](http).fetch_media(Attachment(kind="image", url=f"{messenger_standin.url}/cdn/{name}"), {}, {})
    assert (data, mime) == (b"\xff\xd8\xff\xe0 jpeg bytes", "image/jpeg")


async def test_fetch_media_of_an_expired_link_is_a_final_error(messenger_standin):
    async with httpx.AsyncClient() as http:
        with pytest.raises(ChannelError) as caught:
            await MessengerAdapter(http).fetch_media(Attachment(kind="image", url=f"{messenger_standin.url}/cdn/gone.jpg"), {}, {})
    assert (caught.value.status, caught.value.retryable) == (404, False)


async def test_fetch_media_without_a_url_is_a_final_error():
    with pytest.raises(ChannelError) as caught:
        await MessengerAdapter(httpx.AsyncClient()).fetch_media(Attachment(kind="image", media_id="123"), {}, {})
    assert caught.value.retryable is False


# --- send ----------------------------------------------------------------------------------------


def _token(standin: MessengerStandIn) -> str:
    token = f"EAAG-{uuid.uuid4().hex}"
    standin.valid_tokens.add(token)
    return token


def _config(standin: MessengerStandIn, page_id: str | None = PAGE_ID) -> dict:
    return {"graph_base_url": f"{standin.url}/v21.0", **({"page_id": page_id} if page_id else {})}


def _recipient() -> str:
    return str(uuid.uuid4().int)[:16]


async def _send(platform: str, standin: MessengerStandIn, message: OutboundMessage, **config) -> str:
    async with httpx.AsyncClient() as http:
        adapter = ADAPTERS[platform](http)
        result = await adapter.send(fit(message, adapter.capabilities), _config(standin, **config), {"page_access_token": _token(standin)})
    return result.provider_message_id


async def test_messenger_text_body(messenger_standin):
    to = _recipient()
    mid = await _send("messenger", messenger_standin, OutboundMessage(to=to, text="Your parcel ships today.", idempotency_key="conv:t:a:1:turn-1"))
    [call] = messenger_standin.sends_to(to)
    assert call.node == PAGE_ID
    assert call.body == {
        "recipient": {"id": to},
        "messaging_type": "RESPONSE",
        # echoed back in message_echoes: how a retried send learns this one got through
        "message": {"text": "Your parcel ships today.", "metadata": "conv:t:a:1:turn-1"},
    }
    assert mid == call.message_id


async def test_instagram_text_body_goes_to_me_without_messenger_only_fields(messenger_standin):
    to = _recipient()
    await _send("instagram", messenger_standin, OutboundMessage(to=to, text="Yes, M is in stock.", idempotency_key="k"), page_id=None)
    [call] = messenger_standin.sends_to(to)
    assert call.node == "me"
    assert call.body == {"recipient": {"id": to}, "message": {"text": "Yes, M is in stock."}}


@pytest.mark.parametrize("platform", ADAPTERS)
async def test_buttons_go_as_quick_replies(platform, messenger_standin):
    to = _recipient()
    buttons = [Button("SIZE_S", "Small"), Button("SIZE_M", "Medium"), Button("SIZE_L", "Large")]
    await _send(platform, messenger_standin, OutboundMessage(to=to, text="Which size?", idempotency_key="k", buttons=buttons))
    [call] = messenger_standin.sends_to(to)
    assert call.body["message"]["text"] == "Which size?"
    assert call.body["message"]["quick_replies"] == [
        {"content_type": "text", "title": "Small", "payload": "SIZE_S"},
        {"content_type": "text", "title": "Medium", "payload": "SIZE_M"},
        {"content_type": "text", "title": "Large", "payload": "SIZE_L"},
    ]


async def test_more_options_than_quick_replies_become_numbered_text(messenger_standin):
    to = _recipient()
    buttons = [Button(f"opt-{n}", f"Option {n}") for n in range(14)]
    await _send("messenger", messenger_standin, OutboundMessage(to=to, text="Pick one", idempotency_key="k", buttons=buttons))
    [call] = messenger_standin.sends_to(to)
    assert "quick_replies" not in call.body["message"]
    assert "14. Option 13" in call.body["message"]["text"]


@pytest.mark.parametrize(("platform", "limit"), [("messenger", 2000), ("instagram", 1000)])
async def test_long_text_is_cut_to_the_platform_limit(platform, limit, messenger_standin):
    to = _recipient()
    await _send(platform, messenger_standin, OutboundMessage(to=to, text="word " * 1000, idempotency_key="k"))
    [call] = messenger_standin.sends_to(to)
    text = call.body["message"]["text"]
    assert len(text) <= limit and text.endswith("…")


async def test_instagram_counts_bytes_not_characters(messenger_standin):
    to = _recipient()
    await _send("instagram", messenger_standin, OutboundMessage(to=to, text="नमस्ते " * 200, idempotency_key="k"))
    [call] = messenger_standin.sends_to(to)
    assert len(call.body["message"]["text"].encode()) <= 1000 and call.body["message"]["text"].endswith("…")


async def test_media_by_url_then_text_with_the_quick_replies(messenger_standin):
    to = _recipient()
    message = OutboundMessage(
        to=to,
        text="Here is your invoice.",
        idempotency_key="conv:t:a:2:turn-1",
        media=OutboundMedia(kind="document", url="https://files.example.com/invoice-1001.pdf"),
        buttons=[Button("THANKS", "Thanks")],
    )
    mid = await _send("messenger", messenger_standin, message)
    media, text = messenger_standin.sends_to(to)
    assert media.body == {
        "recipient": {"id": to},
        "messaging_type": "RESPONSE",
        "message": {"attachment": {"type": "file", "payload": {"url": "https://files.example.com/invoice-1001.pdf"}}},
    }
    assert text.body["message"] == {
        "text": "Here is your invoice.",
        "quick_replies": [{"content_type": "text", "title": "Thanks", "payload": "THANKS"}],
        "metadata": "conv:t:a:2:turn-1",
    }
    assert mid == text.message_id


@pytest.mark.parametrize(("platform", "platform_field"), [("messenger", None), ("instagram", "instagram")])
async def test_stored_media_is_uploaded_then_sent_by_attachment_id(platform, platform_field, messenger_standin, tmp_path):
    to = _recipient()
    audio = tmp_path / "reply.m4a"
    audio.write_bytes(b"\x00\x00\x00\x20ftypM4A " + platform.encode() + uuid.uuid4().bytes)
    message = OutboundMessage(to=to, text="", idempotency_key="k", media=OutboundMedia(kind="audio", path=str(audio), mime_type="audio/mp4"))
    await _send(platform, messenger_standin, message)
    upload = next(u for u in messenger_standin.uploads if u.data == audio.read_bytes())
    assert (upload.node, upload.filename, upload.content_type) == (PAGE_ID, "reply.m4a", "audio/mp4")
    assert json.loads(upload.form["message"]) == {"attachment": {"type": "audio", "payload": {"is_reusable": True}}}
    assert upload.form.get("platform") == platform_field
    [call] = messenger_standin.sends_to(to)
    assert call.body["message"]["attachment"] == {"type": "audio", "payload": {"attachment_id": upload.attachment_id}}


async def test_voice_on_instagram_falls_back_to_text(messenger_standin):
    to = _recipient()
    message = OutboundMessage(to=to, text="Your order ships today.", idempotency_key="k", media=OutboundMedia(kind="voice", path="/nowhere/reply.ogg"))
    await _send("instagram", messenger_standin, message)
    [call] = messenger_standin.sends_to(to)
    assert call.body["message"] == {"text": "Your order ships today."}


async def test_unreadable_media_file_is_a_final_error(messenger_standin):
    message = OutboundMessage(to=_recipient(), text="", idempotency_key="k", media=OutboundMedia(kind="image", path="/nowhere/x.jpg"))
    with pytest.raises(ChannelError) as caught:
        await _send("messenger", messenger_standin, message)
    assert caught.value.retryable is False


# --- Graph errors --------------------------------------------------------------------------------


async def test_a_revoked_token_is_refused_for_good(messenger_standin):
    async with httpx.AsyncClient() as http:
        with pytest.raises(ChannelError) as caught:
            await MessengerAdapter(http).send(OutboundMessage(to=_recipient(), text="hi", idempotency_key="k"), _config(messenger_standin), {"page_access_token": "revoked"})
    assert (caught.value.status, caught.value.retryable) == (401, False)
    assert "Invalid OAuth access token" in str(caught.value)


@pytest.mark.parametrize(
    ("failure", "retryable", "retry_after"),
    [
        pytest.param(
            Failure(400, {"message": "(#10) This message is sent outside of allowed window.", "type": "OAuthException", "code": 10, "error_subcode": 2018278}),
            False, None, id="outside-24h-window",
        ),
        pytest.param(Failure(400, {"message": "(#100) No matching user found", "type": "OAuthException", "code": 100, "error_subcode": 2018001}), False, None, id="unknown-user"),
        pytest.param(Failure(500, {"message": "An unexpected error has occurred. Please retry your request later.", "code": 2, "is_transient": True}), True, None, id="server-error"),
        pytest.param(Failure(429, {"message": "(#613) Calls to this api have exceeded the rate limit.", "code": 613}, {"retry-after": "30"}), True, 30.0, id="rate-limited"),
    ],
)  # fmt: skip
async def test_graph_errors_keep_metas_reason_and_say_whether_to_retry(failure, retryable, retry_after, messenger_standin):
    messenger_standin.fail_next.append(failure)
    with pytest.raises(ChannelError) as caught:
        await _send("messenger", messenger_standin, OutboundMessage(to=_recipient(), text="hi", idempotency_key="k"))
    assert (caught.value.status, caught.value.retryable, caught.value.retry_after) == (failure.status, retryable, retry_after)
    assert failure.error["message"] in str(caught.value)


async def test_a_failed_upload_sends_nothing(messenger_standin, tmp_path):
    image = tmp_path / "p.png"
    image.write_bytes(b"\x89PNG")
    to = _recipient()
    messenger_standin.fail_next.append(Failure(400, {"message": "(#100) Upload attachment failure.", "code": 100}))
    with pytest.raises(ChannelError):
        await _send("messenger", messenger_standin, OutboundMessage(to=to, text="a photo", idempotency_key="k", media=OutboundMedia(kind="image", path=str(image))))
    assert messenger_standin.sends_to(to) == []


async def test_an_unreachable_graph_is_retryable():
    async with httpx.AsyncClient() as http:
        with pytest.raises(ChannelError) as caught:
            await MessengerAdapter(http).send(
                OutboundMessage(to=_recipient(), text="hi", idempotency_key="k"),
                {"graph_base_url": f"http://127.0.0.1:{free_port()}/v21.0", "page_id": PAGE_ID},
                {"page_access_token": "any"},
            )
    assert caught.value.retryable is True


async def test_an_account_without_a_token_is_a_final_error():
    with pytest.raises(ChannelError) as caught:
        await MessengerAdapter(httpx.AsyncClient()).send(OutboundMessage(to=PSID, text="hi", idempotency_key="k"), {"page_id": PAGE_ID}, {})
    assert caught.value.retryable is False
