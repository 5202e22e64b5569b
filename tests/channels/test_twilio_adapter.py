"""Twilio adapter (SMS and WhatsApp through Twilio): X-Twilio-Signature, inbound forms as Twilio
posts them (recorded shapes under payloads/twilio/), status callbacks, consent keywords, and sends
to a loopback server speaking Twilio's Messages API, checked field by field."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode

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
from channels.render import fit
from channels.twilio import EMPTY_TWIML, TwilioAdapter
from tests.standins.serve import served
from tests.standins.twilio_server import TwilioStandIn, twilio_signature

PAYLOADS = Path(__file__).parent / "payloads" / "twilio"
AUTH_TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
ACCOUNT_SID = "ACae0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d"
URL = "https://frontdesk.example.com/webhooks/twilio/acct-1"
ACCOUNT_ID = "acct-1"


def _adapter(http: httpx.AsyncClient | None = None) -> TwilioAdapter:
    return TwilioAdapter(http or httpx.AsyncClient())


def _body(name: str) -> bytes:
    return (PAYLOADS / f"{name}.form").read_text().strip().encode()


def _signed(body: bytes, url: str = URL, token: str = AUTH_TOKEN) -> WebhookRequest:
    params = parse_qsl(body.decode(), keep_blank_values=True)
    return WebhookRequest(headers={"x-twilio-signature": twilio_signature(token, url, params)}, body=body, url=url)


def _parse(name: str, url: str = URL):
    request = _signed(_body(name), url)
    _adapter().verify(request, {"auth_token": AUTH_TOKEN})
    return _adapter().parse(request, ACCOUNT_ID)


# --- verify ---------------------------------------------------------------------------------------


def test_signature_matches_twilios_published_example():
    # The example from Twilio's request-validator tests: token 12345, this URL and these params.
    params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309", "To": "+18005551212", "Caller": "+14158675309"}
    body = urlencode(params).encode()
    request = WebhookRequest(headers={"x-twilio-signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="}, body=body, url="https://mycompany.com/myapp.php?foo=1&bar=2")
    _adapter().verify(request, {"auth_token": "12345"})
    # A repeated parameter: its values are signed in sorted order.
    body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"
    request = WebhookRequest(headers={"x-twilio-signature": "IK+Dwps556ElfBT0I3Rgjkr1wJU="}, body=body, url="https://mycompany.com/myapp.php?foo=1&bar=2")
    _adapter().verify(request, {"auth_token": "12345"})


@pytest.mark.parametrize(
    ("signed_url", "received_url"),
    [
        pytest.param(URL, URL, id="same-url"),
        pytest.param("https://frontdesk.example.com:443/webhooks/twilio/acct-1", URL, id="twilio-added-default-port"),
        pytest.param(URL, "https://frontdesk.example.com:443/webhooks/twilio/acct-1", id="proxy-added-default-port"),
        pytest.param(URL + "?frontdesk_ref=k%3A1", URL + "?frontdesk_ref=k%3A1", id="with-query"),
    ],
)
def test_verify_accepts_what_twilio_signs(signed_url, received_url):
    body = _body("sms_text")
    request = _signed(body, signed_url)
    _adapter().verify(WebhookRequest(headers=request.headers, body=body, url=received_url), {"auth_token": AUTH_TOKEN})


@pytest.mark.parametrize(
    ("case", "secrets"),
    [
        ("missing", {"auth_token": AUTH_TOKEN}),
        ("wrong-token", {"auth_token": AUTH_TOKEN}),
        ("other-url", {"auth_token": AUTH_TOKEN}),  # signed for the public URL, checked against the internal one
        ("param-changed", {"auth_token": AUTH_TOKEN}),
        ("param-added", {"auth_token": AUTH_TOKEN}),
        ("non-ascii", {"auth_token": AUTH_TOKEN}),
        ("not-form", {"auth_token": AUTH_TOKEN}),
        ("no-token", {}),
    ],
)
def test_verify_rejects_anything_twilio_did_not_sign(case, secrets):
    body = _body("sms_text")
    request = _signed(body)
    headers, url = dict(request.headers), URL
    if case == "missing":
        headers = {}
    elif case == "wrong-token":
        headers = _signed(body, token="0" * 32).headers
    elif case == "other-url":
        url = "http://10.0.0.5:8000/webhooks/twilio/acct-1"
    elif case == "param-changed":
        body = body.replace(b"shipped", b"shipper")
    elif case == "param-added":
        body += b"&Extra=1"
    elif case == "non-ascii":
        headers = {"x-twilio-signature": "é" * 28}
    elif case == "not-form":
        body = b"\xff\xfe{not form"
    with pytest.raises(SignatureError):
        _adapter().verify(WebhookRequest(headers=headers, body=body, url=url), secrets)


def test_webhook_is_answered_with_empty_twiml():
    ack = _adapter().webhook_ack(_parse("sms_text"))
    assert ack.media_type == "text/xml"
    assert ack.body == b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>' == EMPTY_TWIML


# --- parse: inbound -------------------------------------------------------------------------------


def test_sms_text():
    parsed = _parse("sms_text")
    assert parsed.statuses == []
    [msg] = parsed.messages
    assert (msg.channel, msg.channel_account_id) == ("twilio", ACCOUNT_ID)
    assert msg.external_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    assert msg.contact_id == "+16505551234"
    assert (msg.kind, msg.text, msg.consent) == ("text", "Hi, is my order 1234 shipped?", None)
    assert msg.attachments == [] and msg.location is None


def test_mms_with_two_images_keeps_both_urls_and_the_caption():
    [msg] = _parse("mms_two_images").messages
    assert msg.kind == "image"
    assert msg.text == "[image] the box arrived crushed"
    assert [(a.kind, a.mime_type, a.url.rsplit("/", 1)[1]) for a in msg.attachments] == [
        ("image", "image/jpeg", "ME0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        ("image", "image/png", "ME1b2c3d4e5f60718293a4b5c6d7e8f90a"),
    ]
    assert msg.attachments[0].caption == "the box arrived crushed"


def test_whatsapp_text_strips_the_whatsapp_prefix_and_keeps_the_profile_name():
    [msg] = _parse("whatsapp_text").messages
    assert msg.contact_id == "+16505551234"
    assert msg.contact_name == "Sheena Nelson"
    assert msg.text == "Hello! Can I change my delivery address?"


def test_whatsapp_voice_note_is_an_audio_attachment_to_download():
    [msg] = _parse("whatsapp_voice").messages
    assert (msg.kind, msg.text) == ("audio", "[audio]")
    [attachment] = msg.attachments
    assert attachment.mime_type == "audio/ogg" and attachment.url.endswith("/Media/ME2c3d4e5f60718293a4b5c6d7e8f90a1b")


def test_whatsapp_location():
    [msg] = _parse("whatsapp_location").messages
    assert msg.kind == "location"
    assert (msg.location.latitude, msg.location.longitude) == (37.7879277, -122.4075267)
    assert (msg.location.name, msg.location.address) == ("Twilio HQ", "375 Beale St, San Francisco, CA 94105")
    assert msg.text == "[location] Twilio HQ 375 Beale St, San Francisco, CA 94105"


def test_whatsapp_quick_reply_carries_the_payload_we_offered():
    [msg] = _parse("whatsapp_button").messages
    assert (msg.kind, msg.text, msg.reply_payload) == ("reply", "Track my order", "track-order")
    assert msg.reply_to_external_id == "SMe5f60718293a4b5c6d7e8f90a1b2c3d4"


# --- consent --------------------------------------------------------------------------------------


def _sms(body: str, **extra: str) -> bytes:
    return urlencode({"MessageSid": "SM" + "a" * 32, "From": "+16505551234", "To": "+14155550100", "Body": body, "NumMedia": "0", **extra}).encode()


@pytest.mark.parametrize("word", ["STOP", "stop", " Stop ", "STOPALL", "unsubscribe", "Cancel", "END", "quit"])
def test_stop_family_keywords_opt_out(word):
    [msg] = _adapter().parse(WebhookRequest({}, _sms(word), URL), ACCOUNT_ID).messages
    assert msg.consent == "opt_out"


@pytest.mark.parametrize("word", ["START", "start", "UNSTOP"])
def test_start_keywords_opt_in(word):
    [msg] = _adapter().parse(WebhookRequest({}, _sms(word), URL), ACCOUNT_ID).messages
    assert msg.consent == "opt_in"


def test_a_plain_yes_answers_the_agent_unless_twilio_took_it_as_an_opt_in():
    [answer] = _adapter().parse(WebhookRequest({}, _sms("Yes"), URL), ACCOUNT_ID).messages
    assert answer.consent is None
    [rejoined] = _adapter().parse(WebhookRequest({}, _sms("Yes", OptOutType="START"), URL), ACCOUNT_ID).messages
    assert rejoined.consent == "opt_in"


@pytest.mark.parametrize("text", ["please stop sending me offers", "stop.", "STOP IT", "help", "yes please"])
def test_keywords_count_only_as_the_whole_message(text):
    [msg] = _adapter().parse(WebhookRequest({}, _sms(text), URL), ACCOUNT_ID).messages
    assert msg.consent is None


def test_advanced_opt_out_type_is_honoured():
    [msg] = _parse("sms_stop_advanced_opt_out").messages
    assert msg.consent == "opt_out"
    # A custom keyword Twilio matched (Advanced Opt-Out) counts even though it is not ours.
    [msg] = _adapter().parse(WebhookRequest({}, _sms("ARRET", OptOutType="STOP"), URL), ACCOUNT_ID).messages
    assert msg.consent == "opt_out"
    [msg] = _adapter().parse(WebhookRequest({}, _sms("REPRENDRE", OptOutType="START"), URL), ACCOUNT_ID).messages
    assert msg.consent == "opt_in"
    [msg] = _adapter().parse(WebhookRequest({}, _sms("INFO", OptOutType="HELP"), URL), ACCOUNT_ID).messages
    assert msg.consent is None


# --- parse: status callbacks ----------------------------------------------------------------------


def test_delivered_status_callback():
    parsed = _parse("status_delivered")
    assert parsed.messages == []
    [status] = parsed.statuses
    assert (status.provider_message_id, status.status, status.recipient_id) == ("SMf60718293a4b5c6d7e8f90a1b2c3d4e5", "delivered", "+16505551234")
    assert status.errors == [] and status.client_reference is None


def test_undelivered_is_a_failure_with_twilios_error_code():
    [status] = _parse("status_undelivered").statuses
    assert status.status == "failed"
    assert status.errors == [{"code": 30003, "twilio_status": "undelivered"}]


def test_whatsapp_read_receipt():
    [status] = _parse("whatsapp_status_read").statuses
    assert (status.status, status.recipient_id) == ("read", "+16505551234")


def test_status_callback_returns_our_reference_from_its_url():
    url = URL + "?frontdesk_ref=conv%3At%3Aa%3A%2B16505551234%3Aturn-1"
    [status] = _adapter().parse(
        WebhookRequest({}, _body("status_delivered"), url, query={"frontdesk_ref": "conv:t:a:+16505551234:turn-1"}), ACCOUNT_ID
    ).statuses
    assert status.client_reference == "conv:t:a:+16505551234:turn-1"


@pytest.mark.parametrize("status", ["queued", "sent", "failed"])
def test_every_tracked_status(status):
    body = urlencode({"MessageSid": "SM" + "b" * 32, "MessageStatus": status, "To": "+16505551234", "From": "+14155550100"}).encode()
    [update] = _adapter().parse(WebhookRequest({}, body, URL), ACCOUNT_ID).statuses
    assert update.status == status


def test_untracked_status_is_acknowledged_and_ignored():
    body = urlencode({"MessageSid": "SM" + "b" * 32, "MessageStatus": "sending", "To": "+16505551234"}).encode()
    assert _adapter().parse(WebhookRequest({}, body, URL), ACCOUNT_ID).statuses == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "MessageSid"),
        (b'{"MessageSid": "SM1"}', "form"),
        (b"\xff\xfe", "UTF-8"),
        (_sms("hi").replace(b"MessageSid=SM", b"Other=SM"), "MessageSid"),
        (urlencode({"MessageSid": "SM1", "From": "not a phone", "Body": "x"}).encode(), "From"),
        (urlencode({"MessageSid": "SM1", "From": "+16505551234", "NumMedia": "two"}).encode(), "NumMedia"),
        (urlencode({"MessageSid": "SM1", "From": "+16505551234", "NumMedia": "1"}).encode(), "MediaUrl0"),
        (urlencode({"MessageSid": "SM1", "From": "+16505551234", "NumMedia": "1", "MediaUrl0": "file:///etc/passwd"}).encode(), "MediaUrl0"),
        (urlencode({"MessageSid": "SM1", "From": "+16505551234", "Latitude": "north", "Longitude": "1"}).encode(), "number"),
        (urlencode({"MessageSid": "SM1", "From": "+16505551234", "Latitude": "nan", "Longitude": "1"}).encode(), "Latitude"),
        (urlencode({"MessageSid": "SM1", "From": "+16505551234", "Latitude": "1", "Longitude": "200"}).encode(), "Longitude"),
        (urlencode({"MessageSid": "S" * 300, "From": "+16505551234"}).encode(), "longer"),
    ],
)
def test_bodies_twilio_would_not_send_are_payload_errors(body, reason):
    with pytest.raises(PayloadError, match=reason):
        _adapter().parse(WebhookRequest({}, body, URL), ACCOUNT_ID)


# --- send -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def twilio():
    async with served(TwilioStandIn(auth_tokens={ACCOUNT_SID: AUTH_TOKEN})) as standin:
        yield standin


@pytest.fixture
async def http():
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def _config(twilio: TwilioStandIn, **extra) -> dict:
    return {"account_sid": ACCOUNT_SID, "from_number": "+14155550100", "api_base_url": twilio.url, **extra}


SECRETS = {"auth_token": AUTH_TOKEN}


async def test_sms_send_posts_exactly_to_from_body(twilio, http):
    result = await _adapter(http).send(OutboundMessage(to="+16505550001", text="Your order shipped.", idempotency_key="k1"), _config(twilio), SECRETS)
    [send] = twilio.sends_to("+16505550001")
    assert send.account_sid == ACCOUNT_SID
    assert send.form == [("To", "+16505550001"), ("From", "+14155550100"), ("Body", "Your order shipped.")]
    assert result.provider_message_id == send.sid


async def test_whatsapp_sender_addresses_the_contact_on_whatsapp(twilio, http):
    config = _config(twilio, from_number="whatsapp:+14155238886")
    await _adapter(http).send(OutboundMessage(to="+16505550002", text="Hola", idempotency_key="k2"), config, SECRETS)
    [send] = twilio.sends_to("whatsapp:+16505550002")
    assert send.form == [("To", "whatsapp:+16505550002"), ("From", "whatsapp:+14155238886"), ("Body", "Hola")]


async def test_media_with_a_public_url_goes_as_media_url(twilio, http):
    media = OutboundMedia(kind="image", url="https://cdn.example.com/receipt.png", mime_type="image/png")
    await _adapter(http).send(OutboundMessage(to="+16505550003", text="Your receipt", idempotency_key="k3", media=media), _config(twilio), SECRETS)
    [send] = twilio.sends_to("+16505550003")
    assert send.form == [("To", "+16505550003"), ("From", "+14155550100"), ("Body", "Your receipt"), ("MediaUrl", "https://cdn.example.com/receipt.png")]


async def test_media_only_in_our_storage_leaves_the_text_alone(twilio, http):
    media = OutboundMedia(kind="voice", path="tenant/voice/reply.ogg", mime_type="audio/ogg")
    await _adapter(http).send(OutboundMessage(to="+16505550004", text="Here is your answer", idempotency_key="k4", media=media), _config(twilio), SECRETS)
    [send] = twilio.sends_to("+16505550004")
    assert send.form == [("To", "+16505550004"), ("From", "+14155550100"), ("Body", "Here is your answer")]


async def test_status_callback_carries_the_idempotency_key(twilio, http):
    config = _config(twilio, status_callback="https://frontdesk.example.com/webhooks/twilio/acct-1")
    key = "conv:t1:a1:+16505550005:turn-9"
    await _adapter(http).send(OutboundMessage(to="+16505550005", text="ok", idempotency_key=key), config, SECRETS)
    [send] = twilio.sends_to("+16505550005")
    assert send.value("StatusCallback") == "https://frontdesk.example.com/webhooks/twilio/acct-1?frontdesk_ref=conv%3At1%3Aa1%3A%2B16505550005%3Aturn-9"


async def test_buttons_over_sms_become_numbered_text(twilio, http):
    adapter = _adapter(http)
    reply = OutboundMessage(
        to="+16505550006", text="What would you like to do?", idempotency_key="k6",
        buttons=[Button("track", "Track my order"), Button("return", "Return an item"), Button("human", "Talk to a person")],
    )  # fmt: skip
    await adapter.send(fit(reply, adapter.capabilities), _config(twilio), SECRETS)
    [send] = twilio.sends_to("+16505550006")
    assert send.body == "What would you like to do?\n\n1. Track my order\n2. Return an item\n3. Talk to a person\n\nReply with a number."


async def test_long_text_is_cut_to_twilios_1600_characters(twilio, http):
    adapter = _adapter(http)
    reply = OutboundMessage(to="+16505550007", text="word " * 500, idempotency_key="k7")
    await adapter.send(fit(reply, adapter.capabilities), _config(twilio), SECRETS)
    [send] = twilio.sends_to("+16505550007")
    assert len(send.body) <= 1600 and send.body.endswith("…")


async def test_unsubscribed_recipient_is_final_and_says_why(twilio, http):
    twilio.unsubscribed.add("+16505550008")
    with pytest.raises(ChannelError) as caught:
        await _adapter(http).send(OutboundMessage(to="+16505550008", text="hi", idempotency_key="k8"), _config(twilio), SECRETS)
    assert not caught.value.retryable and caught.value.status == 400
    assert "21610" in str(caught.value) and "replied STOP" in str(caught.value)


async def test_wrong_auth_token_is_final(twilio, http):
    with pytest.raises(ChannelError) as caught:
        await _adapter(http).send(OutboundMessage(to="+16505550009", text="hi", idempotency_key="k9"), _config(twilio), {"auth_token": "x" * 32})
    assert not caught.value.retryable and caught.value.status == 401 and "20003" in str(caught.value)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_throttling_and_server_errors_are_retried(twilio, http, status):
    twilio.fail_with = status
    try:
        with pytest.raises(ChannelError) as caught:
            await _adapter(http).send(OutboundMessage(to="+16505550010", text="hi", idempotency_key="k10"), _config(twilio), SECRETS)
    finally:
        twilio.fail_with = None
    assert caught.value.retryable and caught.value.status == status


async def test_unreachable_twilio_is_retried(http):
    config = {"account_sid": ACCOUNT_SID, "from_number": "+14155550100", "api_base_url": "http://127.0.0.1:9"}
    with pytest.raises(ChannelError) as caught:
        await _adapter(http).send(OutboundMessage(to="+16505550011", text="hi", idempotency_key="k11"), config, SECRETS)
    assert caught.value.retryable and not caught.value.maybe_delivered


async def test_account_without_credentials_is_final(http):
    with pytest.raises(ChannelError) as caught:
        await _adapter(http).send(OutboundMessage(to="+1", text="hi", idempotency_key="k"), {"account_sid": ACCOUNT_SID}, {})
    assert not caught.value.retryable


# --- fetch_media ----------------------------------------------------------------------------------


async def test_media_is_downloaded_with_basic_auth(twilio, http):
    url = twilio.add_media(ACCOUNT_SID, b"\xff\xd8jpeg-bytes", "image/jpeg")
    content, mime = await _adapter(http).fetch_media(Attachment(kind="image", url=url), _config(twilio), SECRETS)
    assert (content, mime) == (b"\xff\xd8jpeg-bytes", "image/jpeg")
    with pytest.raises(ChannelError) as caught:
        await _adapter(http).fetch_media(Attachment(kind="image", url=url), _config(twilio), {"auth_token": "y" * 32})
    assert caught.value.status == 401 and not caught.value.retryable
