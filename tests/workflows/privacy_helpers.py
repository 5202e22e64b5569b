"""Shared steps of the retention and erasure tests: what a conversation leaves behind besides
its messages, written at a chosen age."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from models.agent_tools import ToolCall
from models.conversation_memory import ConversationMemory
from models.knowledge import RetrievalEvent
from models.nlu import TrainingSample


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


async def leave_traces(deps, tenant_id: str, conversation_id: uuid.UUID, days: float, marker: str) -> None:
    """What a turn leaves besides messages, `days` old: a search query, a summary, a tool call
    and a sample waiting for review."""
    tenant = uuid.UUID(tenant_id)
    async with deps.sessions.begin() as session:
        session.add(RetrievalEvent(tenant_id=tenant, conversation_id=conversation_id, query=f"refund {marker}", answered=False, created_at=ago(days)))
        session.add(TrainingSample(
            tenant_id=tenant, conversation_id=conversation_id, text=f"refund {marker}", text_key=f"refund {marker}", source="conversation",
            created_at=ago(days),
        ))  # fmt: skip
        session.add(ToolCall(
            tenant_id=tenant, conversation_id=conversation_id, idempotency_key=f"call-{marker}", call_id=marker, tool="track_order",
            arguments={"order_number": "#1001", "email": "asha@example.com"}, status="ok", created_at=ago(days),
        ))  # fmt: skip
        session.add(ConversationMemory(tenant_id=tenant, conversation_id=conversation_id, summary=f"Asha asked about a refund {marker}"))
