"""A conversation's tool calls: what the agent looked up or did, with what arguments, what came
back and how long it took (the audit recorded by activities/tools.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.auth import Ctx, Scoped
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from api.problems import Problem
from core.scopes import Scope
from models import agent_tools_store as store
from models.agent_tools import ToolCall

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
Reader = Annotated[Ctx, Depends(Scoped(Scope.CONVERSATIONS_READ))]
StatusFilter = Literal["ok", "refused", "invalid", "error"]


class ToolCallOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    call_id: str
    idempotency_key: str
    tool: str
    arguments: Any
    result: dict[str, Any] | None
    status: StatusFilter
    error: str | None
    latency_ms: int | None
    created_at: datetime

    @classmethod
    def of(cls, c: ToolCall) -> ToolCallOut:
        return cls(
            id=c.id, conversation_id=c.conversation_id, call_id=c.call_id, idempotency_key=c.idempotency_key, tool=c.tool,
            arguments=c.arguments, result=c.result, status=c.status, error=c.error, latency_ms=c.latency_ms, created_at=c.created_at,
        )  # fmt: skip


@router.get(
    "/{conversation_id}/tool-calls", response_model=Page[ToolCallOut], summary="A conversation's tool calls, newest first"
)
async def list_tool_calls(
    conversation_id: uuid.UUID,
    ctx: Reader,
    tool: Annotated[str | None, Query(max_length=64, description="Only calls of this tool.")] = None,
    status: Annotated[StatusFilter | None, Query(description="Only calls that ended so.")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[ToolCallOut]:
    query = store.conversation_tool_calls(ctx.tenant_id, conversation_id)
    if tool:
        query = query.where(ToolCall.tool == tool)
    if status:
        query = query.where(ToolCall.status == status)
    async with ctx.db() as session:
        # Another tenant's conversation is as absent as one that never existed.
        if not await store.conversation_exists(session, ctx.tenant_id, conversation_id):
            raise Problem(404, "Not found", f"no conversation {conversation_id}")
        rows = list(await session.scalars(newest_first(query, ToolCall.created_at, ToolCall.id, cursor, limit)))
    return page_of(rows, limit, ToolCallOut.of, lambda c: (c.created_at, c.id))
