"""Tools the conversation workflow itself carries out once they are recorded: a follow-up message
on a durable timer, and a handoff to a person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agent.tools.registry import Tool, ToolContext, ToolRefused
from agent.tools.scope import conversation_of, tenant_of
from models import agent_tools_store as store

MAX_FOLLOWUP_MINUTES = 43_200  # 30 days


async def schedule_followup(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Records the follow-up; the workflow sets the timer from due_at (workflow_effect "followup")."""
    message = args["message"].strip()
    if not message:
        raise ToolRefused("the follow-up message is blank; write what to tell the customer")
    minutes = args["delay_minutes"]
    due_at = datetime.now(UTC) + timedelta(minutes=minutes)
    followup = await store.add_followup(
        session, tenant_id=tenant_of(ctx), conversation_id=conversation_of(ctx), due_at=due_at, message=message
    )
    return {"followup_id": str(followup.id), "due_at": due_at.isoformat(), "delay_minutes": minutes, "message": message}


async def handoff_to_human(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Nothing to write here: the workflow flags the conversation, tells the customer and stops
    answering (workflow_effect "handoff")."""
    reason = args["reason"].strip()
    if not reason:
        raise ToolRefused("give the reason for the handoff")
    return {"handoff": True, "reason": reason}


SCHEDULE_FOLLOWUP = Tool(
    name="schedule_followup",
    description=(
        "Send the customer a message later, e.g. to check that a replacement arrived. delay_minutes is how long "
        f"from now (1 to {MAX_FOLLOWUP_MINUTES}, i.e. up to 30 days); message is the text they will receive."
    ),
    parameters={
        "type": "object",
        "properties": {
            "delay_minutes": {"type": "integer", "minimum": 1, "maximum": MAX_FOLLOWUP_MINUTES},
            "message": {"type": "string", "minLength": 1, "maxLength": 1000},
        },
        "required": ["delay_minutes", "message"],
        "additionalProperties": False,
    },
    handler=schedule_followup,
    workflow_effect="followup",
)

HANDOFF_TO_HUMAN = Tool(
    name="handoff_to_human",
    description=(
        "Pass the conversation to a person on the team: when the customer asks for one, is upset, or needs "
        "something you cannot do with your tools. The customer is told; you stop answering."
    ),
    parameters={
        "type": "object",
        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500, "description": "Why, for the team."}},
        "required": ["reason"],
        "additionalProperties": False,
    },
    handler=handoff_to_human,
    workflow_effect="handoff",
)
