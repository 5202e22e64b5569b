"""A tenant's retention_days is kept: the hourly sweep purges what its customers wrote before
the period (messages, receipts, search queries, summaries, tool calls, unreviewed samples,
voice files), keeps what a channel's redelivery still needs to be recognised, leaves other
tenants alone, and writes what it did to the tenant's audit log."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from models.agent_tools import ToolCall
from models.conversation_memory import ConversationMemory
from models.conversations import Conversation, Message
from models.knowledge import RetrievalEvent
from models.nlu import TrainingSample
from tests.api.admin.conftest import admin_key_for, bearer
from tests.factories import create_tenant
from tests.workflows.agent_helpers import chat
from tests.workflows.privacy_helpers import ago, leave_traces
from voice.media_store import MediaStore
from workers.schedules import RETENTION_SCHEDULE_ID, ensure_platform_schedules
from workflows.retention import RetentionSweepInput, RetentionSweepResult, RetentionSweepWorkflow


async def _age_turn(deps, client_message_id: str, days: float) -> uuid.UUID:
    """Moves a web-chat message and the reply it got `days` into the past; its conversation id."""
    async with deps.sessions.begin() as session:
        inbound = await session.scalar(select(Message).where(Message.external_id.endswith(f":{client_message_id}")))
        await session.execute(
            update(Message)
            .where(Message.conversation_id == inbound.conversation_id, Message.seq >= inbound.seq, Message.seq <= inbound.seq + 1)
            .values(created_at=ago(days))
        )
        return inbound.conversation_id


async def _texts(deps, conversation_id: uuid.UUID) -> list[tuple[str, str]]:
    async with deps.sessions() as session:
        rows = await session.execute(
            select(Message.direction, Message.text).where(Message.conversation_id == conversation_id).order_by(Message.seq)
        )
        return [tuple(r) for r in rows]


async def _count(deps, model, tenant_id: str, *where) -> int:
    async with deps.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(model.tenant_id == uuid.UUID(tenant_id), *where))


async def test_the_sweep_purges_what_is_past_a_tenants_retention_and_keeps_the_rest(http, deps, temporal, settings, tenant, openai_standin, graph_standin):
    other = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    session_id = uuid.uuid4().hex
    for client_id in ("old", "mid", "new"):
        await chat(http, tenant.webchat_id, session_id, f"where is my refund? ({client_id})", message_id=f"{session_id}-{client_id}")
    await chat(http, other.webchat_id, session_id, "where is my refund? (other)", message_id=f"{session_id}-other")
    conversation = await _age_turn(deps, f"{session_id}-old", 40)
    await _age_turn(deps, f"{session_id}-mid", 5)  # past 3 days, but a channel may still redeliver it
    others = await _age_turn(deps, f"{session_id}-other", 40)
    # A second conversation of the tenant, quiet for 40 days, with everything a turn leaves.
    quiet_session = uuid.uuid4().hex
    await chat(http, tenant.webchat_id, quiet_session, "my order never came", message_id=f"{quiet_session}-1")
    quiet = await _age_turn(deps, f"{quiet_session}-1", 40)
    async with deps.sessions.begin() as session:
        await session.execute(update(Conversation).where(Conversation.id == quiet).values(last_message_at=ago(40)))
    await leave_traces(deps, tenant.tenant_id, quiet, 40, "quiet")
    await leave_traces(deps, tenant.tenant_id, conversation, 1, "recent")
    await leave_traces(deps, other.tenant_id, others, 40, "other")
    media = MediaStore(settings.media_files_dir())
    old_note, new_note = (media.inbound_path(tenant.tenant_id, str(uuid.uuid4()), name, 0, "audio/ogg") for name in ("old", "new"))
    for path in (old_note, new_note):
        media.write(path, b"OggS voice note")
    os.utime(old_note, (time.time() - 40 * 86400,) * 2)

    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    r = await http.patch("/v1/tenant", json={"settings": {"retention_days": 3}}, headers=headers)
    assert r.status_code == 200, r.text

    result: RetentionSweepResult = await temporal.execute_workflow(
        RetentionSweepWorkflow.run, RetentionSweepInput(), id=f"retention-test-{uuid.uuid4().hex[:8]}", task_queue=settings.task_queue
    )

    assert result.failed == [] and result.purged.messages_deleted >= 4 and result.purged.messages_redacted >= 2
    # 40 days old: gone. 5 days old: blanked, its row kept for deduplication. Today's: as it was.
    texts = await _texts(deps, conversation)
    assert [d for d, _ in texts] == ["inbound", "outbound"] * 2
    assert texts[0] == ("inbound", "") and texts[1] == ("outbound", "")
    assert texts[2][1] == "where is my refund? (new)" and texts[3][1]
    assert await _texts(deps, quiet) == []
    assert (await _texts(deps, others))[0] == ("inbound", "where is my refund? (other)")  # retention is per tenant
    # What the quiet conversation left is gone; the recent conversation's and the other tenant's stay.
    for model in (RetrievalEvent, TrainingSample, ToolCall, ConversationMemory):
        assert await _count(deps, model, tenant.tenant_id) == 1, model.__name__
        assert await _count(deps, model, other.tenant_id) == 1, model.__name__
    async with deps.sessions() as session:
        kept = await session.scalar(select(ConversationMemory.conversation_id).where(ConversationMemory.tenant_id == uuid.UUID(tenant.tenant_id)))
    assert kept == conversation
    assert not old_note.exists() and new_note.exists()

    # The channel redelivers the 5-day-old message: recognised, neither stored nor answered again.
    calls = len(openai_standin.calls_for(tenant.model))
    await chat(http, tenant.webchat_id, session_id, "where is my refund? (mid)", message_id=f"{session_id}-mid")
    assert len(await _texts(deps, conversation)) == 4 and len(openai_standin.calls_for(tenant.model)) == calls

    log = (await http.get("/v1/audit-log", params={"action": "retention.purge"}, headers=headers)).json()["items"]
    assert len(log) == 1 and log[0]["actor_id"] == "retention"
    assert log[0]["changes"]["retention_days"] == 3 and log[0]["changes"]["media_files_deleted"] == 1
    assert log[0]["changes"]["messages_deleted"] >= 4

    again: RetentionSweepResult = await temporal.execute_workflow(
        RetentionSweepWorkflow.run, RetentionSweepInput(), id=f"retention-test-{uuid.uuid4().hex[:8]}", task_queue=settings.task_queue
    )
    assert again.failed == []
    assert len((await http.get("/v1/audit-log", params={"action": "retention.purge"}, headers=headers)).json()["items"]) == 1


async def test_the_sweep_is_scheduled_hourly_without_overlap(temporal, settings):
    # A schedule an earlier deployment left, on a conversation queue since renamed, is brought in line.
    await ensure_platform_schedules(temporal, f"renamed-{uuid.uuid4().hex[:8]}")
    await ensure_platform_schedules(temporal, settings.task_queue)
    updated_at = (await temporal.get_schedule_handle(RETENTION_SCHEDULE_ID).describe()).info.last_updated_at
    await ensure_platform_schedules(temporal, settings.task_queue)  # every worker start: no error, nothing changed
    described = await temporal.get_schedule_handle(RETENTION_SCHEDULE_ID).describe()
    assert described.info.last_updated_at == updated_at
    assert described.schedule.action.workflow == "RetentionSweepWorkflow"
    assert described.schedule.action.task_queue == settings.task_queue
    assert described.schedule.spec.intervals[0].every == timedelta(hours=1)
    assert described.schedule.policy.overlap.name == "SKIP"
    # Left in place it would start sweeps on this queue at the top of every hour of the test run.
    await temporal.get_schedule_handle(RETENTION_SCHEDULE_ID).delete()
