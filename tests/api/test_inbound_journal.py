"""Webhooks acknowledged through the inbound journal are answered, even after a crash or a
Temporal outage between the 200 and the hand-over, and answered once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from temporalio.service import RPCError, RPCStatusCode

from api.inbound_handoff import InboundHandoff
from api.main import create_app
from channels.base import InboundMessage
from core.embedded.ports import free_port
from core.embedded.temporal import start_temporal
from core.ids import conversation_workflow_id
from core.temporal import connect_platform, ensure_search_attributes
from models import inbound_journal
from models.inbound_journal import InboundJournalEntry
from tests.factories import eventually, new_phone, new_wamid, signature, whatsapp_payload
from tests.standins.serve import serve
from workflows.conversation import INBOUND_SIGNAL

NO_GRACE = timedelta(0)


async def _inbound_signals(client, workflow_id: str) -> list[str]:
    """The signals of the workflow on this Temporal ([] when it has no such workflow)."""
    try:
        events = [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return []
    return [e.workflow_execution_signaled_event_attributes.signal_name for e in events if e.HasField("workflow_execution_signaled_event_attributes")]


def _webhook(tenant, phone: str, wamid: str, text: str) -> tuple[str, bytes, dict]:
    body = whatsapp_payload(tenant.phone_number_id, [(phone, wamid, text)])
    return f"/webhooks/whatsapp/{tenant.whatsapp_id}", body, {"x-hub-signature-256": signature(body, tenant.app_secret)}


async def _journal_rows(deps, *external_ids: str) -> int:
    async with deps.sessions() as session:
        where = InboundJournalEntry.external_id.in_(external_ids)
        return await session.scalar(select(func.count()).select_from(InboundJournalEntry).where(where))


def _handoff(server) -> InboundHandoff:
    return server.server.config.app.state.frontdesk.handoff


async def test_messages_acknowledged_through_the_journal_are_answered_once_and_cleared(http, api, tenant, graph_standin, deps):
    phones = [new_phone() for _ in range(5)]
    wamids = [new_wamid() for _ in phones]
    for phone, wamid in zip(phones, wamids, strict=True):
        url, body, headers = _webhook(tenant, phone, wamid, "where is my parcel?")
        response = await http.post(url, content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert _handoff(api).temporal_answering  # so the next ones take the journal path
        again = await http.post(url, content=body, headers=headers)  # Meta redelivering at once
        assert again.status_code == 200, again.text

    async def everyone_answered() -> bool:
        return all(graph_standin.sends_to(phone) for phone in phones)

    async def journal_cleared() -> bool:
        return await _journal_rows(deps, *wamids) == 0

    await eventually(everyone_answered, what="a reply to every customer")
    await eventually(journal_cleared, what="journal rows deleted after the hand-over")
    assert [len(graph_standin.sends_to(phone)) for phone in phones] == [1] * len(phones)


async def test_rows_left_by_a_crash_are_handed_over_by_the_drainer(api, tenant, graph_standin, deps):
    """A process that died after its 200 and before Temporal accepted leaves its journal rows."""
    phone, wamid = new_phone(), new_wamid()
    message = InboundMessage(channel="whatsapp", channel_account_id=tenant.whatsapp_id, external_id=wamid, contact_id=phone, text="hello?")
    async with deps.sessions.begin() as session:
        await inbound_journal.record(session, uuid.UUID(tenant.tenant_id), uuid.UUID(tenant.whatsapp_id), [message])

    assert await _handoff(api).drain_once(older_than=NO_GRACE) >= 1

    async def answered() -> bool:
        return bool(graph_standin.sends_to(phone))

    await eventually(answered, what="the journaled message answered")
    assert await _journal_rows(deps, wamid) == 0
    assert graph_standin.sends_to(phone)[0].text.endswith("hello?")


async def test_acknowledged_messages_survive_a_temporal_outage(settings, tenant, deps, tmp_path, temporal):
    """Temporal goes away after the API saw it answer: the message already acknowledged waits in
    the journal, later webhooks get 503 (the channel redelivers them), and once Temporal is back
    the drainer hands the journaled one to its workflow."""
    port = free_port()
    first = start_temporal(tmp_path / "t.db", port=port, headless=True)
    await ensure_search_attributes(first.address)
    moved = settings.model_copy(update={"temporal_address": first.address})
    server = await serve(create_app(moved))
    handoff = _handoff(server)
    second = None
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            url, body, headers = _webhook(tenant, new_phone(), new_wamid(), "proves Temporal answers")
            assert (await client.post(url, content=body, headers=headers)).status_code == 200
            assert handoff.temporal_answering

            first.stop(timeout=5)
            phone, wamid = new_phone(), new_wamid()
            url, body, headers = _webhook(tenant, phone, wamid, "sent as Temporal died")
            assert (await client.post(url, content=body, headers=headers)).status_code == 200  # journaled

            async def failure_noticed() -> bool:
                return not handoff.temporal_answering

            await eventually(failure_noticed, timeout=30, what="the failed hand-over noticed")
            assert await _journal_rows(deps, wamid) == 1

            url, body, headers = _webhook(tenant, new_phone(), new_wamid(), "sent while Temporal is down")
            down = await client.post(url, content=body, headers=headers)
            assert down.status_code == 503 and down.headers["retry-after"]

            second = start_temporal(tmp_path / "t.db", port=port, headless=True)  # same port and data

            async def drained() -> bool:
                await handoff.drain_once(older_than=NO_GRACE)
                return await _journal_rows(deps, wamid) == 0

            await eventually(drained, timeout=60, what="the journal drained into Temporal")
            # Temporal is back: webhooks are accepted again. A 503 meanwhile is the channel's cue
            # to redeliver, so the same delivery is repeated as Meta would.
            url, body, headers = _webhook(tenant, new_phone(), new_wamid(), "sent after Temporal is back")

            async def accepted() -> bool:
                return (await client.post(url, content=body, headers=headers)).status_code == 200

            await eventually(accepted, timeout=30, what="webhooks accepted again")
            assert handoff.temporal_answering

        # No worker serves this server's queue, so the workflow's history shows the hand-over. The
        # journal is the test database's, which the suite's other API (on the suite's Temporal)
        # drains too once a row is 15 s old: the message must reach its workflow on exactly one.
        workflow_id = conversation_workflow_id(tenant.tenant_id, tenant.whatsapp_id, phone)
        signals = [await _inbound_signals(client, workflow_id) for client in (await connect_platform(moved), temporal)]
        assert sorted(signals, key=len) == [[], [INBOUND_SIGNAL]]
    finally:
        await server.stop()
        first.stop(timeout=5)
        if second:
            second.stop(timeout=5)
