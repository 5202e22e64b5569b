"""Telegram webhook end to end: a delivery carrying the account's secret token reaches the
conversation workflow and the reply goes back through a loopback Bot API; bad tokens and bodies
are refused; `frontdesk telegram set-webhook` registers the webhook with the account's secret."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from channels.account_settings import ACCOUNT_SCHEMAS
from models.admin_store import ensure_channel_account
from models.conversations import Conversation, Message
from tests.factories import eventually
from tests.standins.serve import served
from tests.standins.telegram_server import TelegramStandIn

REPO = Path(__file__).resolve().parents[2]


@dataclass
class TelegramAccount:
    id: str
    bot_token: str
    webhook_secret: str


@pytest.fixture(scope="module")
async def bot_api():
    async with served(TelegramStandIn()) as standin:
        yield standin


@pytest.fixture
async def telegram(tenant, deps, bot_api) -> TelegramAccount:
    """A Telegram account for the test's tenant, validated by the same schema the admin API uses."""
    schema = ACCOUNT_SCHEMAS["telegram"]
    config = schema.config.model_validate({"api_base_url": bot_api.url}).model_dump(mode="json", exclude_none=True)
    token = f"{secrets.randbelow(10**9) + 10**9}:{secrets.token_urlsafe(26)}"
    credentials = schema.credentials.model_validate({"bot_token": token}).model_dump(mode="json")  # secret generated
    async with deps.sessions.begin() as session:
        account = await ensure_channel_account(
            session, deps.secrets, tenant_id=uuid.UUID(tenant.tenant_id), channel="telegram", name="tg", config=config, secrets=credentials
        )
    bot_api.valid_tokens.add(token)
    return TelegramAccount(str(account.id), token, credentials["webhook_secret"])


def _chat() -> int:
    return secrets.randbelow(10**9) + 10**8


def _update(chat_id: int, text: str, message_id: int = 1) -> bytes:
    user = {"id": chat_id, "is_bot": False, "first_name": "Jane", "last_name": "Smith", "language_code": "en"}
    message = {"message_id": message_id, "from": user, "chat": {"id": chat_id, "first_name": "Jane", "type": "private"}, "date": 1746268800, "text": text}
    return json.dumps({"update_id": secrets.randbelow(10**9), "message": message}).encode()


async def _post(http, account: TelegramAccount, body: bytes, secret: str | None = None):
    headers = {"content-type": "application/json", "x-telegram-bot-api-secret-token": secret or account.webhook_secret}
    return await http.post(f"/webhooks/telegram/{account.id}", content=body, headers=headers)


async def _conversations(deps, tenant) -> int:
    async with deps.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id)))


async def test_update_is_answered_through_the_bot_api(http, tenant, telegram, bot_api, deps):
    chat = _chat()
    response = await _post(http, telegram, _update(chat, "Hi, is the shop open?"))
    assert response.status_code == 200, response.text
    assert response.json() == {"messages": 1, "statuses": 0}

    async def replied() -> bool:
        return bool(bot_api.sends_to(str(chat)))

    await eventually(replied, what="a sendMessage to the chat")
    [send] = bot_api.sends_to(str(chat))
    assert (send.method, send.token) == ("sendMessage", telegram.bot_token)
    # The reply quotes the message it answers (the update's message_id was 1).
    assert send.params == {
        "chat_id": str(chat),
        "text": f"[{tenant.model}] Hi, is the shop open?",
        "reply_parameters": {"allow_sending_without_reply": True, "message_id": 1},
    }

    async def recorded() -> bool:
        async with deps.sessions() as session:
            row = await session.scalar(select(Message).where(Message.provider_message_id == f"{chat}:1"))
            return row is not None and row.direction == "outbound"

    await eventually(recorded, what="the reply recorded with Telegram's message id")
    async with deps.sessions() as session:
        inbound = await session.scalar(select(Message).where(Message.external_id == f"{chat}:1"))
    assert inbound.text == "Hi, is the shop open?" and inbound.direction == "inbound"


async def test_button_tap_reaches_the_conversation_with_its_payload(http, tenant, telegram, bot_api, deps):
    chat = _chat()
    query_id = f"{secrets.randbelow(10**18)}"
    keyboard = {"inline_keyboard": [[{"text": "Where is my parcel?", "callback_data": "track_order"}]]}
    tap = {
        "update_id": secrets.randbelow(10**9),
        "callback_query": {
            "id": query_id,
            "from": {"id": chat, "is_bot": False, "first_name": "Jane"},
            "message": {"message_id": 7, "chat": {"id": chat, "type": "private"}, "date": 1746268700, "text": "Anything else?", "reply_markup": keyboard},
            "chat_instance": "-7654321098765432101",
            "data": "track_order",
        },
    }  # fmt: skip
    response = await _post(http, telegram, json.dumps(tap).encode())
    assert response.status_code == 200 and response.json()["messages"] == 1

    async def replied() -> bool:
        return bool(bot_api.sends_to(str(chat)))

    await eventually(replied, what="a reply to the tap")
    assert bot_api.sends_to(str(chat))[0].params["text"] == f"[{tenant.model}] Where is my parcel?"
    async with deps.sessions() as session:
        inbound = await session.scalar(select(Message).where(Message.external_id == f"cb:{query_id}"))
    assert inbound.text == "Where is my parcel?"
    assert inbound.content["reply_payload"] == "track_order"
    assert inbound.content["extra"] == {"callback_query_id": query_id}

    async def tap_answered() -> bool:  # the button stops spinning in the customer's app
        return any(c.params.get("callback_query_id") == query_id for c in bot_api.calls_of("answerCallbackQuery"))

    await eventually(tap_answered, what="answerCallbackQuery for the tap")


@pytest.mark.parametrize("case", ["missing", "wrong"])
async def test_wrong_secret_token_is_401_and_starts_nothing(http, tenant, telegram, deps, case):
    body = _update(_chat(), "hello")
    headers = {"content-type": "application/json"}
    if case == "wrong":
        headers["x-telegram-bot-api-secret-token"] = telegram.webhook_secret + "x"
    response = await http.post(f"/webhooks/telegram/{telegram.id}", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["title"] == "Invalid signature"
    await asyncio.sleep(0.5)
    assert await _conversations(deps, tenant) == 0


async def test_malformed_update_is_400_with_the_reason(http, tenant, telegram, deps):
    for body, reason in (
        (b"{not json", "not JSON"),
        (b'{"message": {"text": "hi"}}', "update_id"),
        (b'{"update_id": 5, "message": {"message_id": 1, "date": 1, "chat": {"id": "me"}, "text": "hi"}}', "chat"),
    ):
        response = await _post(http, telegram, body)
        assert response.status_code == 400, body
        assert response.headers["content-type"].startswith("application/problem+json")
        assert reason in response.json()["detail"]
    assert await _conversations(deps, tenant) == 0


async def test_update_kinds_we_do_not_read_are_acknowledged(http, tenant, telegram, deps):
    chat = _chat()
    member = {"chat": {"id": chat, "type": "private"}, "from": {"id": chat, "is_bot": False, "first_name": "Jane"}, "date": 1746269000,
              "old_chat_member": {"user": {"id": 1, "is_bot": True, "first_name": "Bot"}, "status": "member"},
              "new_chat_member": {"user": {"id": 1, "is_bot": True, "first_name": "Bot"}, "status": "kicked", "until_date": 0}}  # fmt: skip
    response = await _post(http, telegram, json.dumps({"update_id": 77, "my_chat_member": member}).encode())
    assert response.status_code == 200 and response.json() == {"messages": 0, "statuses": 0}
    assert await _conversations(deps, tenant) == 0


async def test_redelivered_update_gets_one_reply(http, tenant, telegram, bot_api, settings):
    chat = _chat()
    body = _update(chat, "Is COD available?")
    for _ in range(3):  # Telegram redelivers until it gets a 2xx
        assert (await _post(http, telegram, body)).status_code == 200

    async def replied() -> bool:
        return bool(bot_api.sends_to(str(chat)))

    await eventually(replied, what="the reply")
    await asyncio.sleep(settings.debounce_seconds * 3)
    assert len(bot_api.sends_to(str(chat))) == 1


async def test_flood_limit_delays_the_reply_by_telegrams_retry_after(http, tenant, telegram, bot_api):
    chat = _chat()
    bot_api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    assert (await _post(http, telegram, _update(chat, "Do you deliver on Sundays?"))).status_code == 200

    async def delivered() -> bool:
        return any(c.result for c in bot_api.sends_to(str(chat)))

    await eventually(delivered, timeout=20, what="the reply after the flood wait")
    first, second = bot_api.sends_to(str(chat))
    assert first.result is None and second.params["text"] == f"[{tenant.model}] Do you deliver on Sundays?"


async def test_blocked_bot_flags_the_conversation_for_a_person(http, tenant, telegram, bot_api, deps):
    chat = _chat()
    bot_api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert (await _post(http, telegram, _update(chat, "hello?"))).status_code == 200

    async def flagged() -> bool:
        async with deps.sessions() as session:
            conversation = await session.scalar(select(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id)))
            return bool(conversation and conversation.needs_human)

    await eventually(flagged, what="the conversation to be flagged")
    async with deps.sessions() as session:
        outbound = await session.scalar(select(Message).where(Message.tenant_id == uuid.UUID(tenant.tenant_id), Message.direction == "outbound"))
    assert outbound.status == "failed" and "bot was blocked by the user" in (outbound.error or "")
    assert len(bot_api.sends_to(str(chat))) == 1  # not retried


async def test_cli_set_webhook_registers_the_accounts_secret(telegram, bot_api, settings, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "FRONTDESK_MASTER_KEY": settings.master_key.get_secret_value(),
        "FRONTDESK_DATA_DIR": str(tmp_path),
    }
    command = [sys.executable, "-m", "core.cli", "telegram", "set-webhook", "--account", telegram.id, "--public-url", "https://bots.example.com/"]
    process = await asyncio.create_subprocess_exec(*command, cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    url = f"https://bots.example.com/webhooks/telegram/{telegram.id}"
    assert url in out.decode()
    [call] = [c for c in bot_api.calls_of("setWebhook") if c.token == telegram.bot_token]
    assert call.params == {"url": url, "secret_token": telegram.webhook_secret, "allowed_updates": ["message", "edited_message", "callback_query"]}

    unknown = [*command[:-4], "--account", str(uuid.uuid4()), "--public-url", "https://bots.example.com"]
    process = await asyncio.create_subprocess_exec(*unknown, cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 1 and "no active Telegram channel account" in err.decode()
