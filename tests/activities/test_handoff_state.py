"""The hand-over state a conversation shows the team (status, who has it, since when), the events
their dashboards get, the audit trail of people's actions, and the settings a turn runs with."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import select, text
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.handoff import HandoffActivities, HandoffStateInput, HandoffStateResult
from agent.handoff import HandoffSettings, HumanOnlyTopic
from agent.settings import AgentSettings
from core.events import tenant_channel
from core.ids import conversation_workflow_id
from models import messages_store
from models.agent_profiles import AgentProfile
from models.audit import AuditEntry
from tests.factories import create_tenant


async def new_conversation(deps, tenant, contact: str | None = None) -> str:
    contact = contact or f"c-{uuid.uuid4().hex[:10]}"
    tenant_id = uuid.UUID(tenant.tenant_id)
    async with deps.sessions.begin() as session:
        customer = await messages_store.ensure_customer(session, tenant_id, "webchat", contact, "Asha")
        conversation = await messages_store.ensure_conversation(
            session, tenant_id, uuid.UUID(tenant.webchat_id), customer, conversation_workflow_id(tenant.tenant_id, tenant.webchat_id, contact)
        )
    return str(conversation)


async def _row(deps, conversation_id: str):
    async with deps.sessions() as session:
        return (
            await session.execute(
                text("SELECT status, needs_human, handoff_reason, assigned_agent_id, handed_over_at FROM conversations WHERE id = :id"),
                {"id": conversation_id},
            )
        ).one()


async def _audit(deps, tenant_id: str, conversation_id: str) -> list[AuditEntry]:
    async with deps.sessions() as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.tenant_id == uuid.UUID(tenant_id), AuditEntry.target_id == conversation_id).order_by(AuditEntry.created_at)
        )
        return list(rows)


class Events:
    """The tenant's dashboard event stream, as a dashboard receives it."""

    def __init__(self, deps, tenant_id: str) -> None:
        self._pubsub = deps.redis.pubsub()
        self._channel = tenant_channel(tenant_id)

    async def __aenter__(self) -> Events:
        await self._pubsub.subscribe(self._channel)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._pubsub.aclose()

    async def drain(self, seconds: float = 0.5) -> list[dict]:
        seen: list[dict] = []
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if message:
                seen.append(json.loads(message["data"]))
        return seen


async def _record(activities: HandoffActivities, tenant, conversation_id: str, state: str, reason=None, agent_id=None) -> HandoffStateResult:
    return await ActivityEnvironment().run(
        activities.record_handoff_state, HandoffStateInput(tenant.tenant_id, conversation_id, state, reason, agent_id)
    )


async def test_handoff_assign_release_close_change_the_conversation_and_tell_the_dashboard(deps, tenant):
    activities = HandoffActivities(deps)
    conversation_id = await new_conversation(deps, tenant)
    async with Events(deps, tenant.tenant_id) as events:
        handed = await _record(activities, tenant, conversation_id, "handoff", "customer asked for a person")
        assert handed == HandoffStateResult(changed=True, status="handoff")
        row = await _row(deps, conversation_id)
        assert (row.status, row.needs_human, row.handoff_reason, row.assigned_agent_id) == ("handoff", True, "customer asked for a person", None)
        waiting_since = row.handed_over_at
        assert waiting_since is not None

        assert (await _record(activities, tenant, conversation_id, "assigned", agent_id="user:sam")).status == "assigned"
        row = await _row(deps, conversation_id)
        assert (row.status, row.needs_human, row.assigned_agent_id) == ("assigned", True, "user:sam")
        assert row.handed_over_at == waiting_since  # still waiting for people since the hand-over

        assert (await _record(activities, tenant, conversation_id, "released", agent_id="user:sam")).status == "open"
        row = await _row(deps, conversation_id)
        assert (row.status, row.needs_human, row.handoff_reason, row.assigned_agent_id, row.handed_over_at) == ("open", False, None, None, None)

        await _record(activities, tenant, conversation_id, "closed", reason="refund issued", agent_id="api_key:k1")
        row = await _row(deps, conversation_id)
        assert (row.status, row.needs_human) == ("closed", False)
        seen = await events.drain()

    assert [(e["type"], e["conversation_id"]) for e in seen] == [
        ("conversation.handoff", conversation_id), ("conversation.assigned", conversation_id),
        ("conversation.released", conversation_id), ("conversation.closed", conversation_id),
    ]  # fmt: skip
    assert seen[0]["reason"] == "customer asked for a person" and seen[1]["agent_id"] == "user:sam"
    assert seen[3]["status"] == "closed" and seen[3]["reason"] == "refund issued"


async def test_the_same_state_twice_changes_nothing_and_announces_nothing(deps, tenant):
    activities = HandoffActivities(deps)
    conversation_id = await new_conversation(deps, tenant)
    async with Events(deps, tenant.tenant_id) as events:
        await _record(activities, tenant, conversation_id, "assigned", agent_id="user:sam")
        before = await _row(deps, conversation_id)
        assert [e["type"] for e in await events.drain()] == ["conversation.assigned"]
        again = await _record(activities, tenant, conversation_id, "assigned", agent_id="user:sam")
        assert again == HandoffStateResult(changed=False, status="assigned")
        assert (await _record(activities, tenant, conversation_id, "handoff", "low confidence")).changed  # a different state
        assert not (await _record(activities, tenant, conversation_id, "handoff", "another trigger")).changed
        seen = await events.drain()
    assert [e["type"] for e in seen] == ["conversation.handoff"]
    row = await _row(deps, conversation_id)
    assert row.handed_over_at == before.handed_over_at and row.handoff_reason == "low confidence"
    assert row.assigned_agent_id is None  # waiting for anyone again
    # A takeover by someone else is a change.
    assert (await _record(activities, tenant, conversation_id, "assigned", agent_id="user:kim")).changed
    assert (await _row(deps, conversation_id)).assigned_agent_id == "user:kim"
    # Released twice: the second is nothing.
    assert (await _record(activities, tenant, conversation_id, "released")).changed
    assert not (await _record(activities, tenant, conversation_id, "released")).changed


async def test_people_s_actions_are_audited_the_workflow_s_own_are_not(deps, tenant):
    activities = HandoffActivities(deps)
    conversation_id = await new_conversation(deps, tenant)
    await _record(activities, tenant, conversation_id, "handoff", "keyword 'lawyer'")  # the workflow: no person
    await _record(activities, tenant, conversation_id, "assigned", agent_id="user:4f1c")
    await _record(activities, tenant, conversation_id, "assigned", agent_id="user:4f1c")  # a retry: once
    await _record(activities, tenant, conversation_id, "closed", reason="resolved by phone", agent_id="sam@example.com")

    entries = await _audit(deps, tenant.tenant_id, conversation_id)
    assert [(e.action, e.actor_type, e.actor_id) for e in entries] == [
        ("conversation.assign", "user", "4f1c"), ("conversation.close", "agent", "sam@example.com"),
    ]  # fmt: skip
    assert entries[0].changes["status"] == {"old": "handoff", "new": "assigned"}
    assert entries[0].changes["assigned_agent_id"] == {"old": None, "new": "user:4f1c"}
    assert entries[1].changes["reason"] == "resolved by phone" and entries[1].target_type == "conversation"


async def test_bad_input_fails_for_good_instead_of_retrying(deps, tenant, openai_standin, graph_standin):
    activities = HandoffActivities(deps)
    conversation_id = await new_conversation(deps, tenant)
    other = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    cases = [
        (HandoffStateInput(tenant.tenant_id, conversation_id, "escalated"), "escalated"),
        (HandoffStateInput(tenant.tenant_id, conversation_id, "assigned"), "agent"),
        (HandoffStateInput("not-a-uuid", conversation_id, "handoff"), "tenant_id"),
        (HandoffStateInput(other.tenant_id, conversation_id, "closed"), "no conversation"),  # another tenant's
    ]
    for bad, reason in cases:
        with pytest.raises(ApplicationError) as raised:
            await ActivityEnvironment().run(activities.record_handoff_state, bad)
        assert raised.value.non_retryable and raised.value.type == "InvalidInput" and reason in str(raised.value), bad
    assert (await _row(deps, conversation_id)).status == "open"  # untouched


async def test_a_tenant_without_a_profile_runs_with_the_defaults(deps, tenant):
    settings = await ActivityEnvironment().run(HandoffActivities(deps).load_agent_settings, tenant.tenant_id)
    assert settings == AgentSettings()
    assert (settings.handoff.low_confidence_turns, settings.handoff.tool_failure_streak, settings.max_tool_rounds) == (3, 3, 5)
    assert settings.allowed_tools is None


async def test_the_default_profile_s_settings_reach_the_turn(deps, tenant):
    tenant_id = uuid.UUID(tenant.tenant_id)

    def profile(name: str, is_default: bool, **fields) -> AgentProfile:
        return AgentProfile(
            id=uuid.uuid4(), tenant_id=tenant_id, name=name, persona_name="Asha", tone="warm", prompt_template="Hi",
            default_tier="fast", confidence_threshold=0.7, is_default=is_default, **fields,
        )  # fmt: skip

    async with deps.sessions.begin() as session:
        session.add(profile("Other", False, handoff_keywords=["not me"], max_tool_rounds=9))
        session.add(
            profile(
                "Support", True, handoff_keywords=["lawyer"], human_only_topics=[{"name": "legal", "phrases": ["court"]}],
                low_confidence_turns=2, tool_failure_streak=4, allowed_tools=["track_order"], max_tool_rounds=2,
                proactive_suggestions=True,
            )
        )  # fmt: skip
    settings = await ActivityEnvironment().run(HandoffActivities(deps).load_agent_settings, tenant.tenant_id)
    assert settings.handoff == HandoffSettings(["lawyer"], [HumanOnlyTopic("legal", ["court"])], 2, 4)
    assert (settings.allowed_tools, settings.max_tool_rounds, settings.confidence_threshold) == (["track_order"], 2, 0.7)
    assert (settings.default_tier, settings.proactive_suggestions, settings.spelling_correction) == ("fast", True, True)
    assert settings.profile_id is not None
