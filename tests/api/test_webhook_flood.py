"""Flood protection on the WhatsApp webhook: 429 + Retry-After beyond the account's rate, 200
for redeliveries of accepted messages, recovery after waiting, and nothing lost or doubled."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from models.conversations import Message
from tests.factories import eventually, new_phone, new_wamid, signature, whatsapp_payload

# 2 webhooks at once, then one every 2 s: slow enough that the test's own pace never refills.
FLOOD_LIMITS = {"webhook_rate_per_account_per_s": 0.5, "webhook_burst_per_account": 2}


async def _post(http, tenant, body: bytes, secret: str | None = None):
    return await http.post(
        f"/webhooks/whatsapp/{tenant.whatsapp_id}",
        content=body,
        headers={"content-type": "application/json", "x-hub-signature-256": signature(body, secret or tenant.app_secret)},
    )


async def _inbound_count(deps, tenant) -> int:
    async with deps.sessions() as session:
        return await session.scalar(
            select(func.count()).select_from(Message).where(Message.tenant_id == uuid.UUID(tenant.tenant_id), Message.direction == "inbound")
        )


async def test_flood_is_refused_duplicates_are_acknowledged_and_it_recovers(make_api, tenant, graph_standin, deps, settings):
    http = await make_api(**FLOOD_LIMITS)
    phones = [new_phone() for _ in range(3)]
    bodies = [whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), f"question from {i}")]) for i, phone in enumerate(phones)]

    assert (await _post(http, tenant, bodies[0])).status_code == 200
    assert (await _post(http, tenant, bodies[1])).status_code == 200

    refused = await _post(http, tenant, bodies[2])
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 2

    # Meta redelivering an accepted message while the account is over its rate: 200, so it stops.
    assert (await _post(http, tenant, bodies[0])).status_code == 200
    # Delivery receipts are work too (database writes): they wait like new messages.
    receipts = whatsapp_payload(tenant.phone_number_id, statuses=[(new_wamid(), "delivered")])
    assert (await _post(http, tenant, receipts)).status_code == 429
    # An unsigned flood is refused for its signature; it never reaches (or spends) the bucket.
    assert (await _post(http, tenant, bodies[2], secret="not-the-secret")).status_code == 401

    await asyncio.sleep(int(refused.headers["retry-after"]))
    assert (await _post(http, tenant, bodies[2])).status_code == 200  # the channel's retry gets in

    # Every customer gets exactly one answer: nothing lost to the 429, nothing doubled by the redelivery.
    for phone in phones:
        await eventually(lambda phone=phone: _has_sends(graph_standin, phone), what=f"reply to {phone}")
    await asyncio.sleep(settings.debounce_seconds * 3)
    assert [len(graph_standin.sends_to(phone)) for phone in phones] == [1, 1, 1]
    assert await _inbound_count(deps, tenant) == 3


async def test_redeliveries_do_not_spend_the_accounts_budget(make_api, tenant, graph_standin):
    http = await make_api(**FLOOD_LIMITS)
    phone = new_phone()
    first = whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), "is COD available?")])
    assert (await _post(http, tenant, first)).status_code == 200
    await asyncio.sleep(0.2)  # the accepted id is recorded right after the response
    for _ in range(5):
        assert (await _post(http, tenant, first)).status_code == 200
    # The burst's second token is still there for a new message.
    second = whatsapp_payload(tenant.phone_number_id, [(new_phone(), new_wamid(), "and returns?")])
    assert (await _post(http, tenant, second)).status_code == 200
    await eventually(lambda: _has_sends(graph_standin, phone), what="reply")
    assert len(graph_standin.sends_to(phone)) == 1


async def test_web_chat_session_over_its_rate_gets_429(make_api, tenant):
    http = await make_api(webchat_rate_per_session_per_s=0.5, webchat_burst_per_session=1)
    url = f"/v1/webchat/{tenant.webchat_id}/messages"
    first = await http.post(url, json={"session_id": "flooder", "client_message_id": "m1", "text": "hi"})
    assert first.status_code == 200, first.text
    second = await http.post(url, json={"session_id": "flooder", "client_message_id": "m2", "text": "hi again"})
    assert second.status_code == 429
    assert int(second.headers["retry-after"]) >= 1
    # Another visitor of the same site is not held back by the first one.
    other = await http.post(url, json={"session_id": "someone-else", "client_message_id": "m1", "text": "hello"})
    assert other.status_code == 200, other.text


async def _has_sends(graph_standin, phone: str) -> bool:
    return len(graph_standin.sends_to(phone)) >= 1
