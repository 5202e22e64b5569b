"""Twilio webhooks through the API: signatures (direct and behind a proxy's public URL), TwiML
acknowledgements, replies through a loopback Twilio, delivery receipts, STOP/START end to end."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from channels.twilio import EMPTY_TWIML
from models.admin_store import ensure_channel_account
from models.consent import ChannelOptOut
from models.conversations import Conversation, Message, MessageStatusEvent
from tests.api.admin.conftest import admin_key_for, bearer
from tests.factories import eventually, new_phone
from tests.standins.serve import served
from tests.standins.twilio_server import TwilioStandIn, twilio_signature

SENDER = "+14155550100"


@dataclass
class TwilioAccount:
    tenant_id: str
    account_id: str
    account_sid: str
    auth_token: str
    model: str

    @property
    def path(self) -> str:
        return f"/webhooks/twilio/{self.account_id}"


@pytest.fixture(scope="module")
async def twilio_standin():
    async with served(TwilioStandIn()) as standin:
        yield standin


async def _account(deps, tenant, twilio_standin, api, *, sender: str = SENDER) -> TwilioAccount:
    account_id, sid, token = uuid.uuid4(), "AC" + secrets.token_hex(16), secrets.token_hex(16)
    twilio_standin.auth_tokens[sid] = token
    config = {
        "account_sid": sid, "from_number": sender, "api_base_url": twilio_standin.url,
        # Receipts come back to this account's own webhook, as the set-up guide says.
        "status_callback": f"{api.url}/webhooks/twilio/{account_id}",
    }  # fmt: skip
    async with deps.sessions.begin() as session:
        await ensure_channel_account(
            session, deps.secrets, tenant_id=uuid.UUID(tenant.tenant_id), channel="twilio", name="sms",
            config=config, secrets={"auth_token": token}, account_id=account_id,
        )  # fmt: skip
    return TwilioAccount(tenant.tenant_id, str(account_id), sid, token, tenant.model)


@pytest.fixture
async def sms(deps, tenant, twilio_standin, api) -> TwilioAccount:
    return await _account(deps, tenant, twilio_standin, api)


def _inbound(account: TwilioAccount, frm: str, body: str, **extra: str) -> list[tuple[str, str]]:
    params = {
        "ToCountry": "US", "SmsMessageSid": (sid := "SM" + uuid.uuid4().hex), "NumMedia": "0", "SmsSid": sid,
        "SmsStatus": "received", "Body": body, "To": SENDER, "NumSegments": "1", "MessageSid": sid,
        "AccountSid": account.account_sid, "From": frm, "ApiVersion": "2010-04-01", **extra,
    }  # fmt: skip
    return list(params.items())


async def _post(http, account: TwilioAccount, params: list[tuple[str, str]], *, url: str | None = None, token: str | None = None):
    signed_url = url or f"{http.base_url}".rstrip("/") + account.path
    signature = twilio_signature(token or account.auth_token, signed_url, params)
    return await http.post(
        account.path, content=urlencode(params), headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature}
    )


async def _count(deps, model, *where) -> int:
    async with deps.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def _sends(standin: TwilioStandIn, to: str, n: int) -> bool:
    return len(standin.sends_to(to)) >= n


async def test_sms_is_acknowledged_with_twiml_and_answered_through_twilio(http, sms, twilio_standin, deps):
    phone = "+" + new_phone()
    response = await _post(http, sms, _inbound(sms, phone, "Hi, is the shop open today?"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.content == EMPTY_TWIML

    await eventually(lambda: _sends(twilio_standin, phone, 1), what="reply through Twilio")
    [send] = twilio_standin.sends_to(phone)
    assert send.account_sid == sms.account_sid
    assert (send.value("From"), send.body) == (SENDER, f"[{sms.model}] Hi, is the shop open today?")

    async def receipt_recorded() -> bool:  # the stand-in's signed `sent` callback, with our key in its URL
        async with deps.sessions() as session:
            row = await session.scalar(select(Message).where(Message.provider_message_id == send.sid))
            event = await session.scalar(select(MessageStatusEvent).where(MessageStatusEvent.provider_message_id == send.sid))
            return row is not None and row.status == "sent" and event is not None and event.client_reference == row.idempotency_key

    await eventually(receipt_recorded, what="the sent receipt, matched to our idempotency key")


async def test_whatsapp_through_twilio_is_answered_on_whatsapp(http, deps, tenant, twilio_standin, api):
    account = await _account(deps, tenant, twilio_standin, api, sender="whatsapp:+14155238886")
    phone = "+" + new_phone()
    params = _inbound(account, f"whatsapp:{phone}", "Hola", ProfileName="Sheena", WaId=phone[1:], MessageType="text")
    assert (await _post(http, account, params)).status_code == 200
    await eventually(lambda: _sends(twilio_standin, f"whatsapp:{phone}", 1), what="WhatsApp reply")
    [send] = twilio_standin.sends_to(f"whatsapp:{phone}")
    assert send.value("From") == "whatsapp:+14155238886"


@pytest.mark.parametrize("case", ["missing", "wrong_token", "tampered", "other_url"])
async def test_bad_signatures_are_401_and_start_nothing(http, sms, deps, case):
    params = _inbound(sms, "+" + new_phone(), "hello")
    headers = {"content-type": "application/x-www-form-urlencoded"}
    url = f"{http.base_url}".rstrip("/") + sms.path
    if case == "wrong_token":
        headers["x-twilio-signature"] = twilio_signature("0" * 32, url, params)
    elif case == "tampered":
        headers["x-twilio-signature"] = twilio_signature(sms.auth_token, url, params)
        params = [(k, "hellO" if k == "Body" else v) for k, v in params]
    elif case == "other_url":  # e.g. Twilio called the public URL but the API has none configured
        headers["x-twilio-signature"] = twilio_signature(sms.auth_token, "https://frontdesk.example.com" + sms.path, params)
    response = await http.post(sms.path, content=urlencode(params), headers=headers)
    assert response.status_code == 401
    assert response.json()["title"] == "Invalid signature"
    await asyncio.sleep(0.5)
    assert await _count(deps, Conversation, Conversation.tenant_id == uuid.UUID(sms.tenant_id)) == 0


async def test_behind_a_proxy_the_public_url_is_what_twilio_signed(make_api, sms, deps):
    public = "https://frontdesk.example.com"
    behind_proxy = await make_api(public_url=public)
    phone = "+" + new_phone()
    ok = await _post(behind_proxy, sms, _inbound(sms, phone, "via the proxy"), url=public + sms.path)
    assert ok.status_code == 200, ok.text
    # Signed for the address the API listens on: not what Twilio would have called.
    internal = await _post(behind_proxy, sms, _inbound(sms, phone, "direct"))
    assert internal.status_code == 401


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"NumMedia": "1"}, "MediaUrl0"),
        ({"NumMedia": "many"}, "NumMedia"),
        ({"From": "not a number"}, "From"),
    ],
)
async def test_signed_but_malformed_forms_are_400(http, sms, deps, extra, reason):
    params = [(k, extra.get(k, v)) for k, v in _inbound(sms, "+" + new_phone(), "hi")]
    response = await _post(http, sms, params)
    assert response.status_code == 400
    assert reason in response.json()["detail"]


async def test_mms_attachments_are_kept_on_the_message(http, sms, twilio_standin, deps):
    phone = "+" + new_phone()
    media_url = twilio_standin.add_media(sms.account_sid, b"\xff\xd8jpeg", "image/jpeg")
    params = _inbound(sms, phone, "it arrived broken", NumMedia="1", MediaUrl0=media_url, MediaContentType0="image/jpeg")
    assert (await _post(http, sms, params)).status_code == 200
    await eventually(lambda: _sends(twilio_standin, phone, 1), what="reply")
    async with deps.sessions() as session:
        inbound = await session.scalar(select(Message).where(Message.external_id == dict(params)["MessageSid"]))
    assert inbound.text == "[image] it arrived broken"
    assert inbound.content["attachments"] == [{"kind": "image", "url": media_url, "mime_type": "image/jpeg", "caption": "it arrived broken"}]


async def test_delivery_and_failure_callbacks_update_the_reply(http, sms, twilio_standin, deps):
    phone = "+" + new_phone()
    await _post(http, sms, _inbound(sms, phone, "where is my parcel?"))
    await eventually(lambda: _sends(twilio_standin, phone, 1), what="reply")
    sid = twilio_standin.sends_to(phone)[0].sid

    def callback(status: str, **extra: str) -> list[tuple[str, str]]:
        return [("AccountSid", sms.account_sid), ("ApiVersion", "2010-04-01"), ("From", SENDER), ("MessageSid", sid),
                ("MessageStatus", status), ("SmsSid", sid), ("SmsStatus", status), ("To", phone), *extra.items()]  # fmt: skip

    delivered = await _post(http, sms, callback("delivered"))
    assert delivered.status_code == 200 and delivered.content == EMPTY_TWIML

    async def status_is(expected: str) -> bool:
        async with deps.sessions() as session:
            return await session.scalar(select(Message.status).where(Message.provider_message_id == sid)) == expected

    await eventually(lambda: status_is("delivered"), what="delivered")
    await _post(http, sms, callback("undelivered", ErrorCode="30003"))
    await eventually(lambda: status_is("failed"), what="failed")
    async with deps.sessions() as session:
        error = await session.scalar(select(Message.error).where(Message.provider_message_id == sid))
    assert "30003" in error
    # Receipts are not customer messages: still one inbound message, one reply.
    assert len(twilio_standin.sends_to(phone)) == 1


async def test_redelivered_message_gets_one_reply(http, sms, twilio_standin, deps, settings):
    phone = "+" + new_phone()
    params = _inbound(sms, phone, "Is COD available?")
    for _ in range(3):
        assert (await _post(http, sms, params)).status_code == 200
    await eventually(lambda: _sends(twilio_standin, phone, 1), what="reply")
    await asyncio.sleep(settings.debounce_seconds * 3)
    assert len(twilio_standin.sends_to(phone)) == 1


async def test_stop_suppresses_replies_until_start(http, sms, twilio_standin, deps):
    phone = "+" + new_phone()
    account_id = uuid.UUID(sms.account_id)

    async def opted_out() -> bool:
        return await _count(deps, ChannelOptOut, ChannelOptOut.channel_account_id == account_id, ChannelOptOut.contact_id == phone) == 1

    async def outbound_statuses() -> list[str]:
        async with deps.sessions() as session:
            rows = await session.scalars(
                select(Message.status).where(Message.channel_account_id == account_id, Message.direction == "outbound").order_by(Message.seq)
            )
            return list(rows)

    stop = await _post(http, sms, _inbound(sms, phone, "STOP"))
    assert stop.status_code == 200 and stop.content == EMPTY_TWIML
    await eventually(opted_out, what="the opt-out to be recorded")

    # The customer writes again: the turn runs, but nothing goes out to an opted-out number.
    await _post(http, sms, _inbound(sms, phone, "actually, where is my order?"))

    async def suppressed() -> bool:
        return await outbound_statuses() == ["suppressed"]

    await eventually(suppressed, what="the reply to be suppressed")
    assert twilio_standin.sends_to(phone) == []

    await _post(http, sms, _inbound(sms, phone, "start"))

    async def opted_in() -> bool:
        return not await opted_out()

    await eventually(opted_in, what="the opt-in to be recorded")
    await _post(http, sms, _inbound(sms, phone, "ok, where is my order?"))
    await eventually(lambda: _sends(twilio_standin, phone, 1), what="replies to resume")
    assert twilio_standin.sends_to(phone)[0].body == f"[{sms.model}] ok, where is my order?"

    async def only_the_question_answered() -> bool:  # STOP and START themselves: Twilio confirms those
        return await outbound_statuses() == ["suppressed", "sent"]

    await eventually(only_the_question_answered, what="one suppressed and one sent reply")


async def test_admin_api_validates_twilio_accounts(http, deps, tenant):
    key = await admin_key_for(deps, tenant.tenant_id)
    good = {
        "channel": "twilio", "name": "WhatsApp via Twilio",
        "config": {"account_sid": "AC" + "a1" * 16, "from_number": "whatsapp:+14155238886"},
        "credentials": {"auth_token": "f" * 32},
    }  # fmt: skip
    created = await http.post("/v1/channel-accounts", json=good, headers=bearer(key))
    assert created.status_code == 201, created.text
    assert created.json()["credentials_set"] == ["auth_token"]
    assert created.json()["webhook_url"].endswith(f"/webhooks/twilio/{created.json()['id']}")
    for config in ({**good["config"], "account_sid": "SK123"}, {**good["config"], "from_number": "4155550100"}):
        refused = await http.post("/v1/channel-accounts", json={**good, "config": config}, headers=bearer(key))
        assert refused.status_code == 422, config
    no_token = await http.post("/v1/channel-accounts", json={**good, "credentials": {}}, headers=bearer(key))
    assert no_token.status_code == 422
