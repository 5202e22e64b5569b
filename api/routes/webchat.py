"""Web chat: a POST (or a WebSocket message) runs one turn and answers with the reply."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError

from api.conversations import TEMPORAL_UNAVAILABLE, webchat_turn
from api.deps import AppState, StateDep, WsStateDep
from api.problems import Problem
from api.rate_limits import too_many_requests
from api.token_stream import conversation_id_for, relay_tokens
from channels.base import InboundMessage
from core.ids import conversation_workflow_id
from models.accounts_store import ResolvedChannelAccount
from models.conversations import Conversation, Message

WEBCHAT = "webchat"
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"  # anchored: pydantic patterns search
router = APIRouter(prefix="/v1/webchat", tags=["webchat"])


class WebchatMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(pattern=ID_PATTERN, examples=["visitor-8f3a"])
    client_message_id: str = Field(pattern=ID_PATTERN, examples=["m-0001"], description="Retry with the same id to get the same reply.")
    text: str = Field(min_length=1, max_length=4096, examples=["Where is my order?"])


class WebchatReplyOut(BaseModel):
    session_id: str
    client_message_id: str
    reply: str
    needs_human: bool
    duplicate: bool


class HistoryMessage(BaseModel):
    direction: str
    text: str
    created_at: str


class HistoryOut(BaseModel):
    session_id: str
    messages: list[HistoryMessage]


async def _run_turn(state: AppState, account: ResolvedChannelAccount, body: WebchatMessageIn) -> WebchatReplyOut:
    # Before the turn: a refused message starts nothing, and the widget retries it (same
    # client_message_id) after Retry-After. One Redis round trip for both buckets.
    decision = await state.guard.admit_webchat(str(account.id), body.session_id)
    if not decision.allowed:
        raise too_many_requests(decision, "too many messages from this chat; retry with the same client_message_id")
    message = InboundMessage(
        channel=WEBCHAT,
        channel_account_id=str(account.id),
        # Client ids are unique per session only; channel message ids must be unique per account.
        external_id=f"{body.session_id}:{body.client_message_id}",
        contact_id=body.session_id,
        text=body.text,
    )
    try:
        reply = await asyncio.wait_for(
            webchat_turn(state.temporal, account, message, body.client_message_id, state.settings),
            timeout=state.settings.webchat_reply_timeout_seconds,
        )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # The turn is durable and keeps running; the same client_message_id fetches its reply.
        raise Problem(504, "Reply not ready yet", "retry with the same client_message_id", {"Retry-After": "2"}) from None
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == "ValueError":  # the update validator
            raise Problem(422, "Message rejected", cause.message) from None
        raise Problem(503, "The conversation could not take the message", str(cause or exc)[:300], {"Retry-After": "5"}) from None
    except TEMPORAL_UNAVAILABLE as exc:
        raise Problem(503, "Conversation service unavailable", str(exc)[:300], {"Retry-After": "1"}) from None
    return WebchatReplyOut(
        session_id=body.session_id,
        client_message_id=body.client_message_id,
        reply=reply.text,
        needs_human=reply.needs_human,
        duplicate=reply.duplicate,
    )


@router.post(
    "/{channel_account_id}/messages",
    response_model=WebchatReplyOut,
    responses={
        404: {"description": "Unknown channel account"},
        429: {"description": "Too many messages; retry after Retry-After"},
        504: {"description": "Reply not ready; retry"},
    },
)
async def post_message(channel_account_id: str, body: WebchatMessageIn, state: StateDep) -> WebchatReplyOut:
    """Send a customer's message and get the assistant's reply (one durable turn)."""
    account = await state.accounts.require(channel_account_id, WEBCHAT)
    return await _run_turn(state, account, body)


@router.get("/{channel_account_id}/messages", response_model=HistoryOut)
async def get_history(
    channel_account_id: str,
    state: StateDep,
    session_id: Annotated[str, Query(pattern=ID_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> HistoryOut:
    """The session's own conversation, oldest first (what the widget shows after a reload)."""
    account = await state.accounts.require(channel_account_id, WEBCHAT)
    workflow_id = conversation_workflow_id(str(account.tenant_id), str(account.id), session_id)
    async with state.sessions() as session:
        rows = (
            await session.execute(
                select(Message.direction, Message.text, Message.created_at)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.tenant_id == account.tenant_id, Conversation.workflow_id == workflow_id)
                .order_by(Message.seq.desc())
                .limit(limit)
            )
        ).all()
    return HistoryOut(
        session_id=session_id,
        messages=[HistoryMessage(direction=r.direction, text=r.text, created_at=r.created_at.isoformat()) for r in reversed(rows)],
    )


@router.websocket("/{channel_account_id}/ws")
async def websocket_chat(websocket: WebSocket, channel_account_id: str, state: WsStateDep, session_id: str = "") -> None:
    """Same turn as the POST: send `{"client_message_id", "text"}`, receive `{"type": "reply", ...}`."""
    if not re.fullmatch(ID_PATTERN, session_id):
        await websocket.close(code=4400, reason="session_id must be 1-128 letters, digits or _.:-")
        return
    try:
        account = await state.accounts.require(channel_account_id, WEBCHAT)
    except Problem as exc:
        await websocket.close(code=4000 + exc.status, reason=exc.title)
        return
    await websocket.accept()
    send_lock = asyncio.Lock()
    tasks: set[asyncio.Task] = set()

    async def send(payload: dict) -> None:
        async with send_lock:
            await websocket.send_json(payload)

    # The reply as it is written: {"type": "delta", "text": ...} messages before the "reply".
    workflow_id = conversation_workflow_id(str(account.tenant_id), str(account.id), session_id)
    relay = asyncio.create_task(relay_tokens(state.redis, await conversation_id_for(state.sessions, workflow_id), send))
    tasks.add(relay)

    async def answer(raw: str) -> None:
        try:
            data = json.loads(raw)
            body = WebchatMessageIn(session_id=session_id, **(data if isinstance(data, dict) else {}))
        except (json.JSONDecodeError, TypeError, ValidationError) as exc:
            await send({"type": "error", "status": 422, "detail": str(exc)[:500]})
            return
        try:
            reply = await _run_turn(state, account, body)
        except Problem as exc:
            await send({"type": "error", "status": exc.status, "title": exc.title, "detail": exc.detail,
                        "client_message_id": body.client_message_id,
                        "retry_after": (exc.headers or {}).get("Retry-After")})  # 429, 503, 504: when to resend
            return
        await send({"type": "reply", **reply.model_dump()})

    try:
        while True:
            raw = await websocket.receive_text()
            task = asyncio.create_task(answer(raw))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks:
            task.cancel()
