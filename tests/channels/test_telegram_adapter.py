"""Telegram Bot API adapter: the secret-token header, Update payloads as the Bot API documents
them (tests/channels/payloads/telegram/), and every send, file download and callback answer
against a loopback Bot API stand-in that answers in Telegram's envelope."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from channels.base import (
    Attachment,
    Button,
    ChannelError,
    InboundMessage,
    ListRow,
    OutboundMedia,
    OutboundMessage,
    PayloadError,
    SignatureError,
    WebhookRequest,
)
from channels.render import fit
from channels.telegram import ALLOWED_UPDATES, TelegramAdapter
from core.embedded.ports import free_port
from tests.standins.serve import served
from tests.standins.telegram_server import TelegramStandIn

PAYLOADS = Path(__file__).parent / "payloads" / "telegram"
ACCOUNT_ID = "acct-tg"
TOKEN = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "Wq3k_Zr8-secret-token-0123456789"
SECRETS = {"bot_token": TOKEN, "webhook_secret": SECRET}
CHAT = "123456789"


def _payload(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()


def _request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(headers=headers or {}, body=body, url="https://frontdesk.example/webhooks/telegram/x")


def _parse(body: bytes) -> list[InboundMessage]:
    return TelegramAdapter(httpx.AsyncClient()).parse(_request(body), ACCOUNT_ID).messages


def _one(name: str) -> InboundMessage:
    messages = _parse(_payload(name))
    assert len(messages) == 1
    return messages[0]


@pytest.fixture(scope="module")
async def bot_api():
    async with served(TelegramStandIn()) as standin:
        standin.valid_tokens.add(TOKEN)
        yield standin


@pytest.fixture
async def adapter(bot_api):
    bot_api.calls.clear()
    bot_api.errors.clear()
    async with httpx.AsyncClient(timeout=10) as http:
        yield TelegramAdapter(http)


def _config(bot_api) -> dict:
    return {"api_base_url": bot_api.url + "/"}  # as the account schema stores an HttpUrl


# --- verify ---------------------------------------------------------------------------------------


def test_verify_accepts_the_secret_token_set_with_setwebhook():
    TelegramAdapter(httpx.AsyncClient()).verify(_request(b"{}", {"x-telegram-bot-api-secret-token": SECRET}), SECRETS)


@pytest.mark.parametrize(
    ("headers", "secrets", "reason"),
    [
        ({}, SECRETS, "missing"),
        ({"x-telegram-bot-api-secret-token": "not-the-secret"}, SECRETS, "does not match"),
        ({"x-telegram-bot-api-secret-token": SECRET[:-1]}, SECRETS, "does not match"),
        ({"x-telegram-bot-api-secret-token": "sécret"}, SECRETS, "does not match"),  # non-ASCII must not crash
        ({"x-telegram-bot-api-secret-token": SECRET}, {"bot_token": TOKEN}, "no webhook secret"),
    ],
)
def test_verify_rejects_a_wrong_or_missing_secret_token(headers, secrets, reason):
    with pytest.raises(SignatureError, match=reason):
        TelegramAdapter(httpx.AsyncClient()).verify(_request(b"{}", headers), secrets)


# --- parse ----------------------------------------------------------------------------------------


def test_text_message():
    m = _one("text")
    assert (m.channel, m.channel_account_id, m.kind, m.text) == ("telegram", ACCOUNT_ID, "text", "Where is my order 1234?")
    assert m.external_id == f"{CHAT}:101"  # message ids count per chat
    assert m.contact_id == CHAT and m.contact_name == "Jane Smith" and m.sent_at == 1746268800.0
    assert m.attachments == [] and m.reply_to_external_id is None


def test_reply_quotes_the_message_it_answers():
    assert _one("reply").reply_to_external_id == f"{CHAT}:100"


def test_an_edit_is_a_new_message_quoting_the_original():
    m = _one("edited_message")
    assert m.text == "Where is my order 1243?"
    assert m.external_id == f"{CHAT}:101:e1746268861"  # stable across redeliveries of the same edit
    assert m.external_id != _one("text").external_id
    assert m.reply_to_external_id == f"{CHAT}:101" and m.extra == {"edited": True} and m.sent_at == 1746268861.0


@pytest.mark.parametrize(
    ("name", "kind", "text", "attachment"),
    [
        ("voice", "voice", "[voice]", Attachment("voice", "AwACAgIAAxkBAAIBZ2ZvdWNoZXIAAVoAAzX2gEsAAcXr8QABHgQ", mime_type="audio/ogg")),
        (
            "audio", "audio", "is this your jingle?",
            Attachment("audio", "CQACAgIAAxkBAAIBaGZvdWNoZXIAAVsAAzX2gEsAAcXr8QABHgQ", mime_type="audio/mpeg", filename="jingle.mp3", caption="is this your jingle?"),
        ),
        (
            "photo", "image", "The box arrived damaged",
            Attachment("image", "AgACAgIAAxkBAAIBaWZvdWNoZXIAAVwAAzX2gEsAAcXr8QABHgQ-x", mime_type="image/jpeg", caption="The box arrived damaged"),
        ),
        (
            "document", "document", "[document]",
            Attachment("document", "BQACAgIAAxkBAAIBamZvdWNoZXIAAV0AAzX2gEsAAcXr8QABHgQ", mime_type="application/pdf", filename="invoice-1234.pdf"),
        ),
        (
            "video", "video", "[video]",
            Attachment("video", "BAACAgIAAxkBAAIBa2ZvdWNoZXIAAV4AAzX2gEsAAcXr8QABHgQ", mime_type="video/mp4", filename="unboxing.mp4"),
        ),
        ("sticker", "sticker", "[sticker] 👍", Attachment("sticker", "CAACAgIAAxkBAAIBbGZvdWNoZXIAAV8AAzX2gEsAAcXr8QABHgQ", mime_type="image/webp")),
    ],
)  # fmt: skip
def test_media_messages_carry_the_file_to_fetch(name, kind, text, attachment):
    m = _one(name)
    assert (m.kind, m.text) == (kind, text)
    assert m.attachments == [attachment]  # the photo: its largest size


def test_location_and_venue():
    point = _one("location")
    assert point.kind == "location" and point.text == "[location]"
    assert (point.location.latitude, point.location.longitude) == (12.971599, 77.594566)
    venue = _one("venue")
    assert venue.location.name == "Acme Store MG Road" and venue.location.address == "12 MG Road, Bengaluru"
    assert venue.text == "[location] Acme Store MG Road, 12 MG Road, Bengaluru"


def test_shared_contact_card():
    m = _one("contact")
    assert m.kind == "contacts" and m.text == "[contacts] Ravi Kumar"
    assert m.extra == {"contacts": [{"name": "Ravi Kumar", "phone": "+919812345678", "user_id": 223344556}]}


def test_inline_keyboard_tap_reads_the_buttons_label():
    m = _one("callback_query")
    assert (m.kind, m.text, m.reply_payload) == ("reply", "Track my order", "track_order")
    assert m.external_id == "cb:4382bfdwdsf43" and m.extra == {"callback_query_id": "4382bfdwdsf43"}
    assert m.contact_id == CHAT and m.contact_name == "Jane Smith" and m.reply_to_external_id == f"{CHAT}:100"


def test_tap_on_an_inline_mode_message_answers_the_user_and_falls_back_to_the_data():
    m = _one("callback_query_inline")
    assert (m.contact_id, m.text, m.reply_payload, m.reply_to_external_id) == (CHAT, "size_m", "size_m", None)


@pytest.mark.parametrize("name", ["my_chat_member", "pinned_message"])
def test_updates_we_do_not_read_are_acknowledged_without_a_message(name):
    assert _parse(_payload(name)) == []


def test_game_callback_without_data_is_ignored():
    update = json.loads(_payload("callback_query"))
    del update["callback_query"]["data"]
    update["callback_query"]["game_short_name"] = "lumberjack"
    assert _parse(json.dumps(update).encode()) == []


def _mutated(name: str, change) -> bytes:
    update = json.loads(_payload(name))
    change(update)
    return json.dumps(update).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "Update object"),
        (b'{"message": {}}', "update_id"),
        (b'{"update_id": "1"}', "update_id"),
        (b'{"update_id": 1, "message": "hi"}', "'message' must be an object"),
        (b'{"update_id": 1, "message": {"message_id": 1, "date": 1, "text": "hi"}}', "'chat'"),
        (b'{"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": "abc"}, "text": "hi"}}', "chat"),
        (b'{"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": 1' + b"0" * 40 + b'}, "text": "hi"}}', "chat"),
        (b'{"update_id": 1' + b"0" * 5000 + b"}", "not JSON"),  # past Python's integer digit limit
        (b"[" * 100_000, "nested too deeply|not JSON"),
        (_mutated("text", lambda u: u["message"].update(text=["hi"])), "'text' must be a string"),
        (_mutated("photo", lambda u: u["message"].update(photo=[])), "photo"),
        (_mutated("voice", lambda u: u["message"]["voice"].pop("file_id")), "file_id"),
        (_mutated("location", lambda u: u["message"]["location"].update(latitude="north")), "latitude"),
        (_mutated("edited_message", lambda u: u["edited_message"].pop("edit_date")), "edit_date"),
        (_mutated("callback_query", lambda u: u["callback_query"].pop("id")), "'id'"),
        (_mutated("callback_query", lambda u: u["callback_query"].update(id="x" * 300)), "'id'"),
        (_mutated("callback_query", lambda u: u["callback_query"].update(data="d" * 65)), "64 bytes"),
    ],
)
def test_malformed_updates_are_payload_errors(body, reason):
    with pytest.raises(PayloadError, match=reason):
        _parse(body)


# --- send -----------------------------------------------------------------------------------------


def _out(text: str = "Your order ships tomorrow.", **rich) -> OutboundMessage:
    return OutboundMessage(to=CHAT, text=text, idempotency_key="conv:t:a:c:turn-1", **rich)


async def test_text_goes_out_with_sendmessage(adapter, bot_api):
    sent = await adapter.send(_out(), _config(bot_api), SECRETS)
    [call] = bot_api.calls
    assert (call.method, call.token, call.multipart) == ("sendMessage", TOKEN, False)
    assert call.params == {"chat_id": CHAT, "text": "Your order ships tomorrow."}
    assert sent.provider_message_id == f"{CHAT}:{call.result['message_id']}"
    assert TelegramAdapter.receipts_echo_reference is False  # Telegram has no delivery receipts


async def test_buttons_become_an_inline_keyboard_one_per_row(adapter, bot_api):
    buttons = [Button("track", "Track my order"), Button("cancel", "Cancel it"), Button("human", "Talk to a person")]
    await adapter.send(fit(_out("What next?", buttons=buttons), adapter.capabilities), _config(bot_api), SECRETS)
    [call] = bot_api.calls
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Track my order", "callback_data": "track"}],
            [{"text": "Cancel it", "callback_data": "cancel"}],
            [{"text": "Talk to a person", "callback_data": "human"}],
        ]
    }


async def test_list_rows_become_buttons_with_their_descriptions(adapter, bot_api):
    rows = [ListRow(f"size_{s}", s.upper(), f"fits {c} cm") for s, c in (("s", 90), ("m", 100))] + [ListRow("other", "Something else")]
    await adapter.send(_out("Pick a size", list_rows=rows, list_button="Sizes"), _config(bot_api), SECRETS)
    keyboard = bot_api.calls[0].params["reply_markup"]["inline_keyboard"]
    assert keyboard == [
        [{"text": "S — fits 90 cm", "callback_data": "size_s"}],
        [{"text": "M — fits 100 cm", "callback_data": "size_m"}],
        [{"text": "Something else", "callback_data": "other"}],
    ]


async def test_too_many_options_fall_back_as_the_renderer_says(adapter, bot_api):
    nine = [Button(f"b{i}", f"Option {i}") for i in range(9)]  # over 8 buttons: rows, still a keyboard
    await adapter.send(fit(_out("Choose", buttons=nine), adapter.capabilities), _config(bot_api), SECRETS)
    assert len(bot_api.calls[0].params["reply_markup"]["inline_keyboard"]) == 9
    twelve = [Button(f"b{i}", f"Option {i}") for i in range(12)]  # over 10 rows: numbered text
    await adapter.send(fit(_out("Choose", buttons=twelve), adapter.capabilities), _config(bot_api), SECRETS)
    assert "reply_markup" not in bot_api.calls[1].params and "12. Option 11" in bot_api.calls[1].params["text"]


async def test_option_ids_too_long_for_callback_data_go_as_numbered_text(adapter, bot_api):
    buttons = [Button("order:" + "9" * 70, "This order"), Button("other", "Another one")]
    await adapter.send(_out("Which order?", buttons=buttons), _config(bot_api), SECRETS)
    params = bot_api.calls[0].params
    assert "reply_markup" not in params
    assert params["text"] == "Which order?\n\n1. This order\n2. Another one\n\nReply with a number."


async def test_reply_quotes_the_customers_message(adapter, bot_api):
    await adapter.send(_out(reply_to_external_id=f"{CHAT}:101"), _config(bot_api), SECRETS)
    assert bot_api.calls[0].params["reply_parameters"] == {"message_id": 101, "allow_sending_without_reply": True}


async def test_photo_by_url_goes_with_sendphoto_and_a_caption(adapter, bot_api):
    media = OutboundMedia("image", url="https://cdn.example/box.jpg")
    sent = await adapter.send(_out("Here is your parcel", media=media, buttons=[Button("ok", "Looks good")]), _config(bot_api), SECRETS)
    [call] = bot_api.calls
    assert call.method == "sendPhoto" and not call.multipart
    assert call.params == {
        "chat_id": CHAT,
        "photo": "https://cdn.example/box.jpg",
        "caption": "Here is your parcel",
        "reply_markup": {"inline_keyboard": [[{"text": "Looks good", "callback_data": "ok"}]]},
    }
    assert sent.provider_message_id == f"{CHAT}:{call.result['message_id']}"


@pytest.mark.parametrize(
    ("kind", "method", "field_name", "mime", "filename"),
    [
        ("voice", "sendVoice", "voice", "audio/ogg", "reply.ogg"),
        ("audio", "sendAudio", "audio", "audio/mpeg", "reply.mp3"),
        ("document", "sendDocument", "document", "application/pdf", "invoice.pdf"),
        ("image", "sendPhoto", "photo", "image/png", "label.png"),
    ],
)
async def test_files_on_disk_are_uploaded_as_multipart(adapter, bot_api, tmp_path, kind, method, field_name, mime, filename):
    path = tmp_path / filename
    path.write_bytes(b"OggS\x00\x02" + bytes(range(200)))
    media = OutboundMedia(kind, path=str(path), mime_type=mime)
    await adapter.send(_out("Your refund is on its way.", media=media), _config(bot_api), SECRETS)
    [call] = bot_api.calls
    assert call.method == method and call.multipart
    assert call.params == {"chat_id": CHAT, "caption": "Your refund is on its way."}
    upload = call.uploads[field_name]
    assert (upload.filename, upload.content_type, upload.content) == (filename, mime, path.read_bytes())


async def test_text_too_long_for_a_caption_follows_the_media(adapter, bot_api):
    text = "word " * 300  # 1500 characters: over the 1024 of a caption
    media = OutboundMedia("voice", url="https://cdn.example/reply.ogg")
    sent = await adapter.send(_out(text, media=media, buttons=[Button("ok", "OK")]), _config(bot_api), SECRETS)
    voice, message = bot_api.calls
    assert voice.method == "sendVoice" and "caption" not in voice.params and "reply_markup" not in voice.params
    assert message.method == "sendMessage" and message.params["text"] == text and "reply_markup" in message.params
    assert sent.provider_message_id == f"{CHAT}:{message.result['message_id']}"


async def test_missing_media_file_is_not_retried(adapter, bot_api, tmp_path):
    media = OutboundMedia("voice", path=str(tmp_path / "gone.ogg"))
    with pytest.raises(ChannelError) as caught:
        await adapter.send(_out(media=media), _config(bot_api), SECRETS)
    assert not caught.value.retryable and bot_api.calls == []


async def test_flood_limit_is_retried_after_what_telegram_says(adapter, bot_api):
    bot_api.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(ChannelError) as caught:
        await adapter.send(_out(), _config(bot_api), SECRETS)
    error = caught.value
    assert (error.status, error.retryable, error.retry_after, error.maybe_delivered) == (429, True, 7, False)
    assert "Too Many Requests" in str(error)
    await adapter.send(_out(), _config(bot_api), SECRETS)  # the next attempt goes through
    assert len(bot_api.calls_of("sendMessage")) == 2


@pytest.mark.parametrize(
    ("code", "description", "retryable"),
    [
        (403, "Forbidden: bot was blocked by the user", False),
        (400, "Bad Request: chat not found", False),
        (502, "Bad Gateway", True),
    ],
)
async def test_telegram_errors_map_to_retryable_or_not(adapter, bot_api, code, description, retryable):
    bot_api.fail_next("sendMessage", code, description)
    with pytest.raises(ChannelError) as caught:
        await adapter.send(_out(), _config(bot_api), SECRETS)
    assert (caught.value.status, caught.value.retryable) == (code, retryable)
    assert description in str(caught.value)


async def test_revoked_token_is_not_retried_and_never_shown(adapter, bot_api):
    secrets = {**SECRETS, "bot_token": "7000000001:revokedrevokedrevokedrevokedrevoke"}
    with pytest.raises(ChannelError) as caught:
        await adapter.send(_out(), _config(bot_api), secrets)
    assert caught.value.status == 401 and not caught.value.retryable
    assert "revoked" not in str(caught.value)


async def test_unreachable_bot_api_is_retryable_and_names_no_token(adapter):
    with pytest.raises(ChannelError) as caught:
        await adapter.send(_out(), {"api_base_url": f"http://127.0.0.1:{free_port()}"}, SECRETS)
    assert caught.value.retryable and not caught.value.maybe_delivered
    assert TOKEN not in str(caught.value) and caught.value.__cause__ is None


async def test_account_without_a_token_is_not_retried(adapter, bot_api):
    with pytest.raises(ChannelError, match="bot_token") as caught:
        await adapter.send(_out(), _config(bot_api), {"webhook_secret": SECRET})
    assert not caught.value.retryable


# --- media download, callback answers, setWebhook -------------------------------------------------


async def test_voice_note_is_downloaded_through_getfile(adapter, bot_api):
    voice = _one("voice").attachments[0]
    bot_api.files[voice.media_id] = ("voice/file_3.oga", b"OggS-voice-note")
    content, mime = await adapter.fetch_media(voice, _config(bot_api), SECRETS)
    assert (content, mime) == (b"OggS-voice-note", "audio/ogg")
    assert [c.method for c in bot_api.calls] == ["getFile"] and bot_api.calls[0].params == {"file_id": voice.media_id}


async def test_expired_file_id_is_not_retried(adapter, bot_api):
    with pytest.raises(ChannelError) as caught:
        await adapter.fetch_media(Attachment("voice", media_id="AwACAgIAAx-unknown"), _config(bot_api), SECRETS)
    assert caught.value.status == 400 and not caught.value.retryable


async def test_button_tap_is_answered_so_it_stops_spinning(adapter, bot_api):
    await adapter.after_receive(_one("callback_query"), _config(bot_api), SECRETS)
    assert [(c.method, c.params) for c in bot_api.calls] == [("answerCallbackQuery", {"callback_query_id": "4382bfdwdsf43"})]
    await adapter.after_receive(_one("text"), _config(bot_api), SECRETS)  # nothing to answer
    assert len(bot_api.calls) == 1


async def test_late_callback_answer_is_dropped_but_flood_limit_is_retried(adapter, bot_api):
    tap = _one("callback_query")
    bot_api.fail_next("answerCallbackQuery", 400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
    await adapter.after_receive(tap, _config(bot_api), SECRETS)  # nothing a retry could fix
    bot_api.fail_next("answerCallbackQuery", 429, "Too Many Requests: retry after 2", retry_after=2)
    with pytest.raises(ChannelError) as caught:
        await adapter.after_receive(tap, _config(bot_api), SECRETS)
    assert caught.value.retryable and caught.value.retry_after == 2


async def test_set_webhook_sends_the_secret_and_the_updates_we_read(adapter, bot_api):
    await adapter.set_webhook("https://frontdesk.example/webhooks/telegram/abc", _config(bot_api), SECRETS)
    [call] = bot_api.calls
    assert call.method == "setWebhook"
    assert call.params == {
        "url": "https://frontdesk.example/webhooks/telegram/abc",
        "secret_token": SECRET,
        "allowed_updates": ["message", "edited_message", "callback_query"],
    }
    assert list(ALLOWED_UPDATES) == call.params["allowed_updates"]
