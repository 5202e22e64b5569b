"""A reply is sent once even when the worker dies between the channel's answer and our record:
the retry learns from the channel's receipt (which echoes our idempotency key) that the first
attempt got through."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery import DeliveryActivities, SendReplyInput
from core.embedded.ports import free_port
from core.ids import conversation_workflow_id
from models import delivery_store, messages_store
from models.conversations import Conversation, Message, MessageStatusEvent
from tests.factories import create_tenant, eventually, new_phone, new_wamid, signature, whatsapp_payload
from tests.standins.graph_server import ReceiptTarget


async def _send_one(http, tenant, graph_standin, text: str = "hello") -> str:
    phone = new_phone()
    body = whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), text)])
    r = await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers={"x-hub-signature-256": signature(body, tenant.app_secret)})
    assert r.status_code == 200

    async def answered() -> bool:
        return bool(graph_standin.sends_to(phone))

    await eventually(answered, what="the reply")
    return phone


async def _unrecorded_reply(deps, tenant, phone: str, attempted_ago: timedelta) -> tuple[uuid.UUID, str, SendReplyInput]:
    """An outbound reply stored and attempted `attempted_ago`, with no send recorded: what a
    worker killed right after the channel's answer leaves behind."""
    tenant_id = uuid.UUID(tenant.tenant_id)
    workflow_id = conversation_workflow_id(tenant.tenant_id, tenant.whatsapp_id, phone)
    key = f"{workflow_id}:{uuid.uuid4()}"
    async with deps.sessions.begin() as session:
        conversation_id = await session.scalar(select(Conversation.id).where(Conversation.workflow_id == workflow_id))
        message_id = await messages_store.store_outbound(
            session, tenant_id=tenant_id, conversation_id=conversation_id, channel_account_id=uuid.UUID(tenant.whatsapp_id),
            idempotency_key=key, turn_id=str(uuid.uuid4()), text_="Your refund is on its way.", reply_to_external_id=None,
            status="pending", content={},
        )  # fmt: skip
        await delivery_store.mark_send_attempt(session, tenant_id, message_id, datetime.now(UTC) - attempted_ago)
    send = SendReplyInput(tenant_id=tenant.tenant_id, channel_account_id=tenant.whatsapp_id, message_id=str(message_id), to=phone)
    return message_id, key, send


async def _provider_id(deps, message_id: uuid.UUID) -> str | None:
    async with deps.sessions() as session:
        return await session.scalar(select(Message.provider_message_id).where(Message.id == message_id))


async def test_retry_adopts_the_earlier_attempt_the_channel_confirmed(http, tenant, deps, graph_standin):
    phone = await _send_one(http, tenant, graph_standin)
    message_id, key, send = await _unrecorded_reply(deps, tenant, phone, timedelta(seconds=35))
    # The channel's receipt for the first attempt, echoing our key, arrives through the webhook.
    value_status = {"id": "wamid.first-attempt", "status": "sent", "timestamp": "1750263773", "recipient_id": phone, "biz_opaque_callback_data": key}
    body = _status_webhook(tenant.phone_number_id, value_status)
    assert (await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers={"x-hub-signature-256": signature(body, tenant.app_secret)})).status_code == 200

    before = len(graph_standin.sends_to(phone))
    result = await ActivityEnvironment().run(DeliveryActivities(deps).send_reply, send)
    assert (result.provider_message_id, result.already_sent) == ("wamid.first-attempt", True)
    assert len(graph_standin.sends_to(phone)) == before  # not sent a second time
    assert await _provider_id(deps, message_id) == "wamid.first-attempt"


async def test_retry_waits_for_a_receipt_before_sending_again(http, tenant, deps, graph_standin):
    phone = await _send_one(http, tenant, graph_standin)
    _, _, send = await _unrecorded_reply(deps, tenant, phone, timedelta(seconds=5))
    before = len(graph_standin.sends_to(phone))
    with pytest.raises(ApplicationError) as waiting:
        await ActivityEnvironment().run(DeliveryActivities(deps).send_reply, send)
    assert waiting.value.type == "AwaitingReceipt" and not waiting.value.non_retryable
    assert waiting.value.next_retry_delay is not None and waiting.value.next_retry_delay <= timedelta(seconds=5)
    assert len(graph_standin.sends_to(phone)) == before


async def test_attempt_never_confirmed_is_sent_again_after_the_grace(http, tenant, deps, graph_standin):
    phone = await _send_one(http, tenant, graph_standin)
    message_id, key, send = await _unrecorded_reply(deps, tenant, phone, timedelta(minutes=2))
    result = await ActivityEnvironment().run(DeliveryActivities(deps).send_reply, send)
    [resent] = [s for s in graph_standin.sends_to(phone) if s.client_reference == key]
    assert result.provider_message_id == resent.wamid and not result.already_sent
    assert await _provider_id(deps, message_id) == resent.wamid


async def test_channel_receipts_record_our_reference(http, tenant, deps, graph_standin):
    graph_standin.receipts[tenant.phone_number_id] = ReceiptTarget(f"{str(http.base_url).rstrip('/')}/webhooks/whatsapp/{tenant.whatsapp_id}", tenant.app_secret)
    try:
        phone = await _send_one(http, tenant, graph_standin)
        [sent] = graph_standin.sends_to(phone)
        assert sent.client_reference and sent.client_reference.startswith(conversation_workflow_id(tenant.tenant_id, tenant.whatsapp_id, phone))

        async def receipt_stored() -> bool:
            async with deps.sessions() as session:
                found = await session.scalar(select(MessageStatusEvent.client_reference).where(MessageStatusEvent.provider_message_id == sent.wamid))
            return found == sent.client_reference

        await eventually(receipt_stored, what="the receipt with our reference")
    finally:
        graph_standin.receipts.pop(tenant.phone_number_id, None)


def _status_webhook(phone_number_id: str, status: dict) -> bytes:
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": phone_number_id}, "statuses": [status]}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "messages", "value": value}]}]}).encode()


async def test_a_send_the_channel_never_received_is_retried_without_waiting(deps):
    unreachable = await create_tenant(deps.sessions, deps.secrets, openai_url=None, graph_url=f"http://127.0.0.1:{free_port()}")
    tenant_id = uuid.UUID(unreachable.tenant_id)
    phone = new_phone()
    async with deps.sessions.begin() as session:
        customer_id = await messages_store.ensure_customer(session, tenant_id, "whatsapp", phone, None)
        workflow_id = conversation_workflow_id(unreachable.tenant_id, unreachable.whatsapp_id, phone)
        conversation_id = await messages_store.ensure_conversation(session, tenant_id, uuid.UUID(unreachable.whatsapp_id), customer_id, workflow_id)
        message_id = await messages_store.store_outbound(
            session, tenant_id=tenant_id, conversation_id=conversation_id, channel_account_id=uuid.UUID(unreachable.whatsapp_id),
            idempotency_key=f"{workflow_id}:t1", turn_id="t1", text_="hi", reply_to_external_id=None, status="pending", content={},
        )  # fmt: skip
    send = SendReplyInput(tenant_id=unreachable.tenant_id, channel_account_id=unreachable.whatsapp_id, message_id=str(message_id), to=phone)
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(DeliveryActivities(deps).send_reply, send)
    assert failed.value.type == "ChannelUnavailable"
    async with deps.sessions() as session:
        attempted = await session.scalar(select(Message.send_attempted_at).where(Message.id == message_id))
    assert attempted is None  # refused connection: nothing can have been delivered, no receipt to wait for


async def test_a_receipt_arriving_while_the_send_is_recorded_is_not_lost(http, tenant, deps, graph_standin):
    """The channel can confirm delivery in the moment between its answer and our commit."""
    phone = await _send_one(http, tenant, graph_standin)
    message_id, _, _ = await _unrecorded_reply(deps, tenant, phone, timedelta(seconds=1))
    tenant_id, account_id = uuid.UUID(tenant.tenant_id), uuid.UUID(tenant.whatsapp_id)

    async def receipt() -> None:
        async with deps.sessions.begin() as session:
            await delivery_store.record_status(session, tenant_id, account_id, "wamid.racing", "delivered", None, {})

    async with deps.sessions.begin() as sending:
        await delivery_store.record_sent(sending, tenant_id, message_id, "wamid.racing")  # read the receipts: none yet
        arriving = asyncio.create_task(receipt())
        await asyncio.sleep(0.5)  # the receipt's transaction runs meanwhile, before this one commits
    await arriving
    async with deps.sessions() as session:
        assert await session.scalar(select(Message.status).where(Message.id == message_id)) == "delivered"
