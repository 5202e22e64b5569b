"""What delivery refuses to send: faster than the account's send rate, or to a customer who
opted out of the channel."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery import DeliveryActivities, SendReplyInput
from core.ids import conversation_workflow_id
from models import consent_store, messages_store
from models.channel_accounts import ChannelAccount
from models.conversations import Message
from tests.factories import create_tenant, new_phone


async def _stored_reply(deps, tenant, phone: str, text: str, content: dict | None = None) -> SendReplyInput:
    tenant_id, account_id = uuid.UUID(tenant.tenant_id), uuid.UUID(tenant.whatsapp_id)
    workflow_id = conversation_workflow_id(tenant.tenant_id, tenant.whatsapp_id, phone)
    turn = str(uuid.uuid4())
    async with deps.sessions.begin() as session:
        customer_id = await messages_store.ensure_customer(session, tenant_id, "whatsapp", phone, None)
        conversation_id = await messages_store.ensure_conversation(session, tenant_id, account_id, customer_id, workflow_id)
        message_id = await messages_store.store_outbound(
            session, tenant_id=tenant_id, conversation_id=conversation_id, channel_account_id=account_id,
            idempotency_key=f"{workflow_id}:{turn}", turn_id=turn, text_=text, reply_to_external_id=None, status="pending",
            content=content or {},
        )  # fmt: skip
    return SendReplyInput(tenant_id=tenant.tenant_id, channel_account_id=tenant.whatsapp_id, message_id=str(message_id), to=phone)


@pytest.fixture
async def sending_tenant(deps, graph_standin):
    tenant = await create_tenant(deps.sessions, deps.secrets, openai_url=None, graph_url=graph_standin.url)
    graph_standin.valid_tokens.add(tenant.access_token)
    return tenant


async def test_sends_beyond_the_accounts_rate_wait_for_a_token(deps, sending_tenant, graph_standin):
    async with deps.sessions.begin() as session:
        await session.execute(
            update(ChannelAccount)
            .where(ChannelAccount.id == uuid.UUID(sending_tenant.whatsapp_id))
            .values(config=ChannelAccount.config.op("||")({"send_rate_per_s": 0.5}))
        )
    activities = DeliveryActivities(deps)
    phone = new_phone()
    first = await _stored_reply(deps, sending_tenant, phone, "one")
    second = await _stored_reply(deps, sending_tenant, phone, "two")
    assert (await ActivityEnvironment().run(activities.send_reply, first)).provider_message_id
    with pytest.raises(ApplicationError) as limited:
        await ActivityEnvironment().run(activities.send_reply, second)
    assert limited.value.type == "SendRateLimited"
    assert 1.0 <= limited.value.next_retry_delay.total_seconds() <= 2.0  # one token per 2 s
    assert [s.text for s in graph_standin.sends_to(phone)] == ["one"]


async def test_nothing_is_sent_to_a_contact_who_opted_out_until_they_opt_in(deps, sending_tenant, graph_standin):
    tenant_id, account_id, phone = uuid.UUID(sending_tenant.tenant_id), uuid.UUID(sending_tenant.whatsapp_id), new_phone()
    async with deps.sessions.begin() as session:
        await consent_store.record_consent(session, tenant_id, account_id, phone, opted_out=True, keyword="STOP")
        await consent_store.record_consent(session, tenant_id, account_id, phone, opted_out=True, keyword="STOP")  # twice: one row
    held = await _stored_reply(deps, sending_tenant, phone, "are you still there?")
    result = await ActivityEnvironment().run(DeliveryActivities(deps).send_reply, held)
    assert result.suppressed and graph_standin.sends_to(phone) == []
    async with deps.sessions() as session:
        row = await session.get(Message, uuid.UUID(held.message_id))
    assert (row.status, row.provider_message_id) == ("suppressed", None)

    async with deps.sessions.begin() as session:
        await consent_store.record_consent(session, tenant_id, account_id, phone, opted_out=False, keyword="START")
    later = await _stored_reply(deps, sending_tenant, phone, "welcome back")
    assert not (await ActivityEnvironment().run(DeliveryActivities(deps).send_reply, later)).suppressed
    assert [s.text for s in graph_standin.sends_to(phone)] == ["welcome back"]
