"""A customer's right to erasure: POST /v1/customers/{id}/erase leaves nothing they wrote or
that names them, keeps the rows that stop a redelivery or a retried refund from repeating, and
touches no other customer."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from models.agent_tools import Ticket, ToolCall
from models.conversation_memory import ConversationMemory
from models.conversations import Message
from models.knowledge import RetrievalEvent
from models.nlu import TrainingSample
from tests.api.admin.conftest import admin_key_for, bearer
from tests.workflows.agent_helpers import chat, conversation_of
from tests.workflows.privacy_helpers import leave_traces
from voice.media_store import MediaStore


async def _messages(deps, conversation_id: uuid.UUID) -> list[Message]:
    async with deps.sessions() as session:
        return list(await session.scalars(select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)))


async def _rows(deps, model, conversation_id: uuid.UUID) -> list:
    async with deps.sessions() as session:
        return list(await session.scalars(select(model).where(model.conversation_id == conversation_id)))


async def test_an_erased_customer_leaves_nothing_that_names_them(http, deps, temporal, settings, tenant, openai_standin):
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    asha_session, ravi_session = uuid.uuid4().hex, uuid.uuid4().hex
    await chat(http, tenant.webchat_id, asha_session, "hi, I'm Asha, asha@example.com, my refund for #1001?", message_id=f"{asha_session}-1")
    await chat(http, tenant.webchat_id, asha_session, "it was the blue jacket", message_id=f"{asha_session}-2")
    await chat(http, tenant.webchat_id, ravi_session, "hi, I'm Ravi, where is my order?", message_id=f"{ravi_session}-1")
    asha, ravi = await conversation_of(deps, tenant.tenant_id, asha_session), await conversation_of(deps, tenant.tenant_id, ravi_session)
    r = await http.patch(f"/v1/customers/{asha.customer_id}", json={"display_name": "Asha", "email": "asha@example.com", "phone": "+919812345678"}, headers=headers)
    assert r.status_code == 200, r.text
    for conversation, marker in ((asha, "asha"), (ravi, "ravi")):
        await leave_traces(deps, tenant.tenant_id, conversation.id, 0, marker)
    media = MediaStore(settings.media_files_dir())
    note = media.inbound_path(tenant.tenant_id, tenant.webchat_id, f"{asha_session}-2", 0, "audio/ogg")
    media.write(note, b"OggS Asha's voice note")
    async with deps.sessions.begin() as session:
        first = (await _messages(deps, asha.id))[0]
        await session.execute(update(Message).where(Message.id == first.id).values(content={"audio_path": str(note), "language": "en"}))
        session.add(Ticket(tenant_id=uuid.UUID(tenant.tenant_id), customer_id=asha.customer_id, conversation_id=asha.id,
                           subject="Refund for #1001", description="Asha (asha@example.com) wants her refund", created_by="agent"))  # fmt: skip

    r = await http.post(f"/v1/customers/{asha.customer_id}/erase", headers=headers)

    assert r.status_code == 200, r.text
    erased = r.json()
    assert erased["status"] == "erased" and erased["counts"]["messages_blanked"] == 4
    assert erased["counts"]["identities_deleted"] == 1 and erased["counts"]["media_files_deleted"] == 1
    # The rows stay, empty: the channel's redelivery of message 1 is still recognised below.
    assert [(m.text, m.content) for m in await _messages(deps, asha.id)] == [("", {})] * 4
    assert not note.exists()
    customer = (await http.get(f"/v1/customers/{asha.customer_id}", headers=headers)).json()
    assert (customer["display_name"], customer["email"], customer["phone"], customer["identities"]) == (None, None, None, [])
    assert (await http.get("/v1/customers", params={"email": "asha@example.com"}, headers=headers)).json()["items"] == []
    assert await _rows(deps, ConversationMemory, asha.id) == [] and await _rows(deps, RetrievalEvent, asha.id) == []
    assert await _rows(deps, TrainingSample, asha.id) == []
    (call,) = await _rows(deps, ToolCall, asha.id)
    assert call.arguments == {} and call.result == {"erased": True}
    (ticket,) = await _rows(deps, Ticket, asha.id)
    assert "Asha" not in ticket.subject + ticket.description
    # Ravi keeps everything.
    assert "Ravi" in (await _messages(deps, ravi.id))[0].text
    for model in (ConversationMemory, RetrievalEvent, TrainingSample):
        assert len(await _rows(deps, model, ravi.id)) == 1, model.__name__
    log = (await http.get("/v1/audit-log", params={"target_id": str(asha.customer_id)}, headers=headers)).json()["items"]
    assert {entry["action"] for entry in log} >= {"customer.erase_requested", "customer.erase"}
    assert all("asha@example.com" not in str(entry["changes"]) for entry in log if entry["action"].startswith("customer.erase"))

    # The web chat resends Asha's first message: recognised, neither stored nor answered again.
    calls = len(openai_standin.calls_for(tenant.model))
    await chat(http, tenant.webchat_id, asha_session, "hi, I'm Asha, asha@example.com, my refund for #1001?", message_id=f"{asha_session}-1")
    assert len(await _messages(deps, asha.id)) == 4 and len(openai_standin.calls_for(tenant.model)) == calls

    again = await http.post(f"/v1/customers/{asha.customer_id}/erase", headers=headers)
    assert again.status_code == 200 and again.json()["counts"]["messages_blanked"] == 0

    # Writing again afterwards is a fresh start in the same conversation, answered as usual.
    await chat(http, tenant.webchat_id, asha_session, "one more question about shipping", message_id=f"{asha_session}-3")
    latest = await _messages(deps, asha.id)
    assert [m.text for m in latest[4:]][0] == "one more question about shipping" and latest[-1].direction == "outbound" and latest[-1].text


async def test_erasing_an_unknown_or_another_tenants_customer_is_404(http, deps, tenant, openai_standin, graph_standin):
    from tests.factories import create_tenant

    other = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    session_id = uuid.uuid4().hex
    await chat(http, other.webchat_id, session_id, "hello")
    theirs = await conversation_of(deps, other.tenant_id, session_id)
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    for customer_id in (uuid.uuid4(), theirs.customer_id):
        r = await http.post(f"/v1/customers/{customer_id}/erase", headers=headers)
        assert r.status_code == 404, r.text
    assert (await _messages(deps, theirs.id))[0].text == "hello"
