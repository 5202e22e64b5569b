"""Generic webhook channel: X-Frontdesk-Signature both ways, the documented inbound JSON with
clear reasons for anything else, and replies POSTed to a loopback integration."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.base import (
    Button,
    ChannelError,
    ListRow,
    OutboundMedia,
    OutboundMessage,
    PayloadError,
    SignatureError,
    WebhookRequest,
)
from channels.generic_webhook import GenericWebhookAdapter
from tests.standins.serve import served

SECRET = "s3cr3t-for-the-integration-0123456789"
ACCOUNT_ID = "acct-9"
URL = "https://frontdesk.example.com/webhooks/webhook/acct-9"


def _sig(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _adapter(http: httpx.AsyncClient | None = None) -> GenericWebhookAdapter:
    return GenericWebhookAdapter(http or httpx.AsyncClient())


def _request(payload: object, headers: dict[str, str] | None = None) -> WebhookRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return WebhookRequest(headers=headers if headers is not None else {"x-frontdesk-signature": _sig(body)}, body=body, url=URL)


BASIC = {"message_id": "msg-1", "contact_id": "customer-42", "text": "Where is my order?"}


# --- verify ---------------------------------------------------------------------------------------


def test_signed_body_is_accepted():
    _adapter().verify(_request(BASIC), {"webhook_secret": SECRET})


@pytest.mark.parametrize(
    ("headers", "secrets"),
    [
        pytest.param({}, {"webhook_secret": SECRET}, id="missing"),
        pytest.param({"x-frontdesk-signature": _sig(json.dumps(BASIC).encode()).removeprefix("sha256=")}, {"webhook_secret": SECRET}, id="no-prefix"),
        pytest.param({"x-frontdesk-signature": _sig(json.dumps(BASIC).encode(), "another-secret-000000")}, {"webhook_secret": SECRET}, id="wrong-secret"),
        pytest.param({"x-frontdesk-signature": _sig(b"{}")}, {"webhook_secret": SECRET}, id="other-body"),
        pytest.param({"x-frontdesk-signature": "sha256=" + "é" * 64}, {"webhook_secret": SECRET}, id="non-ascii"),
        pytest.param({"x-frontdesk-signature": _sig(json.dumps(BASIC).encode())}, {}, id="no-secret"),
    ],
)
def test_unsigned_or_missigned_bodies_are_refused(headers, secrets):
    with pytest.raises(SignatureError):
        _adapter().verify(_request(BASIC, headers), secrets)


# --- parse ----------------------------------------------------------------------------------------


def test_text_message():
    [msg] = _adapter().parse(_request({**BASIC, "contact_name": "Asha"}), ACCOUNT_ID).messages
    assert (msg.channel, msg.channel_account_id, msg.external_id, msg.contact_id) == ("webhook", ACCOUNT_ID, "msg-1", "customer-42")
    assert (msg.kind, msg.text, msg.contact_name) == ("text", "Where is my order?", "Asha")


def test_attachments_and_reply_payload():
    payload = {
        "message_id": "msg-2", "contact_id": "+919876543210", "text": "",
        "attachments": [{"kind": "image", "url": "https://files.example.com/p.jpg", "mime_type": "image/jpeg"}, {"kind": "document", "url": "https://files.example.com/i.pdf"}],
    }  # fmt: skip
    [msg] = _adapter().parse(_request(payload), ACCOUNT_ID).messages
    assert (msg.kind, msg.text) == ("image", "[image]")
    assert [(a.kind, a.url, a.mime_type) for a in msg.attachments] == [
        ("image", "https://files.example.com/p.jpg", "image/jpeg"),
        ("document", "https://files.example.com/i.pdf", None),
    ]
    [tap] = _adapter().parse(_request({**BASIC, "text": "Track order", "reply_payload": "track"}), ACCOUNT_ID).messages
    assert (tap.kind, tap.text, tap.reply_payload) == ("reply", "Track order", "track")


@pytest.mark.parametrize(
    ("payload", "reasons"),
    [
        (b"{not json", ["not JSON"]),
        ([BASIC], ["JSON object"]),
        ({}, ["message_id: Field required", "contact_id: Field required", "text: Field required"]),
        ({**BASIC, "contact_id": "has spaces"}, ["contact_id"]),
        ({**BASIC, "message_id": ""}, ["message_id"]),
        ({**BASIC, "text": 5}, ["text"]),
        ({**BASIC, "text": " "}, ["text: must not be empty"]),
        ({**BASIC, "attachments": [{"kind": "hologram", "url": "https://x.example"}]}, ["attachments.0.kind"]),
        ({**BASIC, "attachments": [{"kind": "image", "url": "not a url"}]}, ["attachments.0.url"]),
        ({**BASIC, "messsage": "typo"}, ["messsage: Extra inputs are not permitted"]),
    ],
)
def test_bad_bodies_get_every_reason(payload, reasons):
    with pytest.raises(PayloadError) as caught:
        _adapter().parse(_request(payload), ACCOUNT_ID)
    for reason in reasons:
        assert reason in str(caught.value)


# --- send -----------------------------------------------------------------------------------------


@dataclass
class Integration:
    """A customer's own server receiving replies."""

    url: str = ""
    received: list[tuple[dict, str]] = field(default_factory=list)  # (body, signature header)
    answer: Response | None = None

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/replies", self._reply, methods=["POST"])])

    async def _reply(self, request: Request) -> Response:
        raw = await request.body()
        self.received.append((json.loads(raw), request.headers.get("x-frontdesk-signature", "")))
        assert request.headers["x-frontdesk-signature"] == _sig(raw)  # signed over the exact bytes sent
        return self.answer or JSONResponse({"message_id": f"ext-{len(self.received)}"})


@pytest.fixture(scope="module")
async def integration():
    async with served(Integration()) as server:
        yield server


@pytest.fixture
async def http():
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


async def test_reply_is_posted_signed_with_every_field(integration, http):
    message = OutboundMessage(
        to="customer-42", text="Pick one", idempotency_key="conv:1:turn:1",
        buttons=[Button("track", "Track order"), Button("human", "Talk to a person")],
        media=OutboundMedia(kind="image", url="https://cdn.example.com/map.png", mime_type="image/png"),
        reply_to_external_id="msg-1",
    )  # fmt: skip
    result = await _adapter(http).send(message, {"callback_url": f"{integration.url}/replies"}, {"webhook_secret": SECRET})
    body, _ = integration.received[-1]
    assert body == {
        "to": "customer-42",
        "text": "Pick one",
        "idempotency_key": "conv:1:turn:1",
        "buttons": [{"id": "track", "title": "Track order"}, {"id": "human", "title": "Talk to a person"}],
        "list_rows": [],
        "list_button": None,
        "media": {"kind": "image", "url": "https://cdn.example.com/map.png", "mime_type": "image/png", "filename": None},
        "reply_to": "msg-1",
    }
    assert result.provider_message_id == f"ext-{len(integration.received)}"


async def test_list_and_storage_only_media(integration, http):
    message = OutboundMessage(
        to="c1", text="Topics", idempotency_key="k2", list_rows=[ListRow("r1", "Returns", "30 days")], list_button="Open",
        media=OutboundMedia(kind="voice", path="t/voice.ogg"),
    )  # fmt: skip
    await _adapter(http).send(message, {"callback_url": f"{integration.url}/replies"}, {"webhook_secret": SECRET})
    body, _ = integration.received[-1]
    assert body["list_rows"] == [{"id": "r1", "title": "Returns", "description": "30 days"}]
    assert (body["list_button"], body["media"]) == ("Open", None)


async def test_answer_without_an_id_uses_the_idempotency_key(integration, http):
    integration.answer = Response(status_code=204)
    try:
        result = await _adapter(http).send(OutboundMessage(to="c1", text="hi", idempotency_key="k3"), {"callback_url": f"{integration.url}/replies"}, {"webhook_secret": SECRET})
    finally:
        integration.answer = None
    assert result.provider_message_id == "k3"


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (404, False), (429, True), (500, True), (503, True)])
async def test_callback_errors(integration, http, status, retryable):
    integration.answer = Response("nope", status_code=status)
    try:
        with pytest.raises(ChannelError) as caught:
            await _adapter(http).send(OutboundMessage(to="c1", text="hi", idempotency_key="k4"), {"callback_url": f"{integration.url}/replies"}, {"webhook_secret": SECRET})
    finally:
        integration.answer = None
    assert (caught.value.status, caught.value.retryable) == (status, retryable)
    assert f"callback answered {status}" in str(caught.value)


async def test_unreachable_callback_is_retried(http):
    with pytest.raises(ChannelError) as caught:
        await _adapter(http).send(OutboundMessage(to="c1", text="hi", idempotency_key="k5"), {"callback_url": "http://127.0.0.1:9/replies"}, {"webhook_secret": SECRET})
    assert caught.value.retryable
