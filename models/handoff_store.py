"""A conversation's hand-over state: waiting for people, assigned to one, released to the AI, closed.

The conversation workflow decides the state (workflows/conversation.py); this records it. Setting
the state a conversation already has changes nothing, so the activity that calls this may be
retried, or replayed after a crash, without a second dashboard event or audit entry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, DateTime, String, Text, column, func, select, table, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import AuditEntry
from models.conversations import Conversation

# The hand-over columns of `conversations`, the newer ones (migration 0010) included, as a
# lightweight table: this module needs no ORM identity map, only one locked row.
_CONVERSATIONS = table(
    "conversations",
    column("id", UUID(as_uuid=True)),
    column("tenant_id", UUID(as_uuid=True)),
    column("status", String),
    column("needs_human", Boolean),
    column("handoff_reason", Text),
    column("assigned_agent_id", String),
    column("handed_over_at", DateTime(timezone=True)),
)

HANDOFF, ASSIGNED, RELEASED, CLOSED = "handoff", "assigned", "released", "closed"
STATES = (HANDOFF, ASSIGNED, RELEASED, CLOSED)
# The conversation status each state leaves behind, and the dashboard event announcing it.
STATUS_OF = {HANDOFF: "handoff", ASSIGNED: "assigned", RELEASED: "open", CLOSED: "closed"}
EVENT_OF = {
    HANDOFF: "conversation.handoff", ASSIGNED: "conversation.assigned",
    RELEASED: "conversation.released", CLOSED: "conversation.closed",
}  # fmt: skip
AUDIT_ACTION_OF = {
    HANDOFF: "conversation.handoff", ASSIGNED: "conversation.assign",
    RELEASED: "conversation.release", CLOSED: "conversation.close",
}  # fmt: skip
ACTOR_KINDS = ("user", "api_key", "platform")  # api/auth.Principal.actor is "{kind}:{id}"
MAX_REASON_CHARS = 1000
MAX_AGENT_ID_CHARS = 200


class ConversationNotFound(LookupError):
    pass


@dataclass(frozen=True)
class StateChange:
    changed: bool
    status: str
    assigned_agent_id: str | None


def _actor(agent_id: str) -> tuple[str, str]:
    """The audit log's actor for an agent id: the API's own caller ids ("user:…", "api_key:…")
    keep their kind; an id from an outside help desk ("sam") is recorded as an agent."""
    kind, _, rest = agent_id.partition(":")
    if kind in ACTOR_KINDS and rest:
        return kind, rest
    return "agent", agent_id


async def record_state(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    state: str,
    reason: str | None,
    agent_id: str | None,
) -> StateChange:
    """Moves the conversation to `state` in the caller's transaction; `changed` False when it
    was already there. A person's action (an `agent_id`) is written to the audit log."""
    if state not in STATES:
        raise ValueError(f"unknown hand-over state {state!r}; one of {', '.join(STATES)}")
    if state == ASSIGNED and not agent_id:
        raise ValueError("an assignment needs the agent's id")
    c = _CONVERSATIONS.c
    row = (
        await session.execute(
            select(c.status, c.needs_human, c.handoff_reason, c.assigned_agent_id, c.handed_over_at)
            .where(c.tenant_id == tenant_id, c.id == conversation_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise ConversationNotFound(f"tenant {tenant_id} has no conversation {conversation_id}")
    reason = reason[:MAX_REASON_CHARS] if reason else None
    agent_id = agent_id[:MAX_AGENT_ID_CHARS] if agent_id else None
    status = STATUS_OF[state]
    with_people = row.status in ("handoff", "assigned")
    values: dict[str, Any]
    if state in (HANDOFF, ASSIGNED):
        values = {
            "status": status,
            "needs_human": True,
            "handoff_reason": reason or row.handoff_reason,
            "assigned_agent_id": agent_id if state == ASSIGNED else None,  # handoff: waiting for anyone
            # When the wait for people began: a takeover of a waiting conversation keeps it.
            "handed_over_at": row.handed_over_at if with_people and row.handed_over_at else func.now(),
        }
        same = row.status == status and (state == HANDOFF or row.assigned_agent_id == agent_id)
    else:
        values = {"status": status, "needs_human": False, "handoff_reason": None, "assigned_agent_id": None, "handed_over_at": None}
        same = row.status == status and not row.needs_human and row.assigned_agent_id is None
    if same:
        if status in ("handoff", "assigned") and row.handed_over_at is None:
            # Flagged by the older path (messages_store.set_handoff) that records no time: fill it
            # in, but the hand-over itself was already announced.
            await session.execute(
                update(_CONVERSATIONS).where(c.tenant_id == tenant_id, c.id == conversation_id).values(handed_over_at=func.now())
            )
        return StateChange(False, row.status, row.assigned_agent_id)
    await session.execute(update(_CONVERSATIONS).where(c.tenant_id == tenant_id, c.id == conversation_id).values(**values))
    if agent_id is not None:
        actor_type, actor_id = _actor(agent_id)
        changes: dict[str, Any] = {"status": {"old": row.status, "new": status}}
        if row.assigned_agent_id != values["assigned_agent_id"]:
            changes["assigned_agent_id"] = {"old": row.assigned_agent_id, "new": values["assigned_agent_id"]}
        if reason:
            changes["reason"] = reason
        session.add(
            AuditEntry(
                id=uuid.uuid4(), tenant_id=tenant_id, actor_type=actor_type, actor_id=actor_id,
                action=AUDIT_ACTION_OF[state], target_type="conversation", target_id=str(conversation_id), changes=changes,
            )
        )  # fmt: skip
    return StateChange(True, status, values["assigned_agent_id"])


@dataclass(frozen=True)
class ConversationRef:
    """What the admin API needs to reach a conversation's workflow."""

    id: uuid.UUID
    channel_account_id: uuid.UUID
    customer_id: uuid.UUID
    workflow_id: str
    status: str


async def conversation_ref(session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> ConversationRef | None:
    row = (
        await session.execute(
            select(Conversation.id, Conversation.channel_account_id, Conversation.customer_id, Conversation.workflow_id, Conversation.status)
            .where(Conversation.tenant_id == tenant_id, Conversation.id == conversation_id)
        )
    ).first()
    return ConversationRef(*row) if row is not None else None
