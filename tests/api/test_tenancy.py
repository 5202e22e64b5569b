"""Two tenants with the same customers never see each other's conversations."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from models.conversations import Conversation, Message
from tests.factories import create_tenant, eventually, new_phone, new_wamid, signature, whatsapp_payload


async def test_same_session_and_phone_stay_separate(http, deps, openai_standin, graph_standin):
    a = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    b = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    graph_standin.valid_tokens |= {a.access_token, b.access_token}

    session_id = "shared-visitor"
    for tenant, text in ((a, "secret order for A"), (b, "question for B")):
        r = await http.post(
            f"/v1/webchat/{tenant.webchat_id}/messages",
            json={"session_id": session_id, "client_message_id": "same-id", "text": text},
        )
        assert r.json()["reply"] == f"[{tenant.model}] {text}"

    history_b = (await http.get(f"/v1/webchat/{b.webchat_id}/messages", params={"session_id": session_id})).json()
    assert [m["text"] for m in history_b["messages"]] == ["question for B", f"[{b.model}] question for B"]

    phone = new_phone()
    for tenant in (a, b):
        body = whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), f"hi {tenant.slug}")])
        r = await http.post(
            f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body,
            headers={"x-hub-signature-256": signature(body, tenant.app_secret)},
        )  # fmt: skip
        assert r.status_code == 200
    # A's app secret does not open B's webhook.
    body = whatsapp_payload(b.phone_number_id, [(phone, new_wamid(), "forged")])
    forged = await http.post(f"/webhooks/whatsapp/{b.whatsapp_id}", content=body, headers={"x-hub-signature-256": signature(body, a.app_secret)})
    assert forged.status_code == 401

    async def both_answered() -> bool:
        return len(graph_standin.sends_to(phone)) >= 2

    await eventually(both_answered, what="both tenants' replies")
    sends = {s.phone_number_id: s for s in graph_standin.sends_to(phone)}
    assert sends[a.phone_number_id].text == f"[{a.model}] hi {a.slug}" and sends[a.phone_number_id].token == a.access_token
    assert sends[b.phone_number_id].text == f"[{b.model}] hi {b.slug}" and sends[b.phone_number_id].token == b.access_token

    async with deps.sessions() as session:
        for tenant, other in ((a, b), (b, a)):
            texts = set(await session.scalars(select(Message.text).where(Message.tenant_id == uuid.UUID(tenant.tenant_id))))
            assert texts and not any(other.slug in t or other.model in t for t in texts)
            conversations = list(await session.scalars(select(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id))))
            assert len(conversations) == 2  # web chat + WhatsApp, its own only
            assert all(c.workflow_id.startswith(f"conv:{tenant.tenant_id}:") for c in conversations)
