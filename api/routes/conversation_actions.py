"""A person on the team acts on a conversation: take it over, reply as themselves, give it back
to the AI, close it.

Each action is a signal to the conversation's workflow (workflows/admin_signals.py), sent with
signal-with-start so it reaches a conversation whose run ended while idle. The answer is 202 as
soon as Temporal has the signal; the workflow applies it after any turn in flight, and the
conversation's status (`GET /v1/conversations/{id}`) and the `conversation.*` dashboard events
follow. Retrying with the same `Idempotency-Key` acts once: the workflow skips a request id it
has applied. Temporal unreachable: 503 with Retry-After, and nothing was sent.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import Ctx, Scoped
from api.conversations import TEMPORAL_UNAVAILABLE, signal_conversation
from api.problems import Problem
from core.scopes import Scope
from models import handoff_store
from workflows.admin_signals import (
    AGENT_REPLY_SIGNAL,
    CLOSE_SIGNAL,
    RELEASE_SIGNAL,
    TAKEOVER_SIGNAL,
    AgentReply,
    Close,
    Release,
    Takeover,
)
from workflows.conversation import MAX_TEXT_CHARS, ConversationState

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
Writer = Annotated[Ctx, Depends(Scoped(Scope.CONVERSATIONS_WRITE))]

RETRY_AFTER_SECONDS = "5"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN,
        description="1-64 letters, digits or . _ : -; a retry with the same key acts once.",
    ),
]  # fmt: skip
Action = Literal["takeover", "reply", "release", "close"]
_SIGNALS: dict[str, str] = {"takeover": TAKEOVER_SIGNAL, "reply": AGENT_REPLY_SIGNAL, "release": RELEASE_SIGNAL, "close": CLOSE_SIGNAL}
_ACCEPTED = {202: {"description": "The workflow has the action; it applies it after any turn in flight."}}
_AGENT_HELP = "Who acts, as your help desk names them (e.g. an email). Default: the caller (user:… or api_key:…)."


def _printable(value: str | None, what: str) -> str | None:
    """Stripped; blank, NUL and other control characters (bar newlines and tabs) refused."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError(f"{what} must not be blank")
    if any((ord(ch) < 32 and ch not in "\n\t") or ord(ch) == 127 for ch in value):
        raise ValueError(f"{what} must not contain control characters")
    return value


class _ActorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str | None = Field(None, min_length=1, max_length=handoff_store.MAX_AGENT_ID_CHARS, description=_AGENT_HELP)

    @field_validator("agent_id")
    @classmethod
    def _agent(cls, value: str | None) -> str | None:
        value = _printable(value, "agent_id")
        if value is not None and "\n" in value:
            raise ValueError("agent_id must be one line")
        return value


class TakeoverIn(_ActorIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"agent_id": "sam@example.com"}, {}]})


class ReplyIn(_ActorIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": "Hi, Sam here. Let me check that order."}]})

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="Sent to the customer on the conversation's channel.")

    _text = field_validator("text")(classmethod(lambda cls, v: _printable(v, "text")))


class ReleaseIn(_ActorIn):
    pass


class CloseIn(_ActorIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "refund issued"}, {}]})

    reason: str | None = Field(None, min_length=1, max_length=500, description="Why it is resolved (audit log, dashboard).")

    _reason = field_validator("reason")(classmethod(lambda cls, v: _printable(v, "reason")))


class ActionAccepted(BaseModel):
    conversation_id: uuid.UUID
    action: Action
    request_id: str = Field(description="The action's id in the workflow: `{action}:{Idempotency-Key}`, or a new one.")


async def _send(ctx: Ctx, conversation_id: uuid.UUID, action: Action, key: str | None, payload_of: Any) -> ActionAccepted:
    """Signals the conversation's workflow with `payload_of(request_id)`."""
    async with ctx.db() as session:
        ref = await handoff_store.conversation_ref(session, ctx.tenant_id, conversation_id)
    if ref is None:
        raise Problem(404, "Not found", f"no conversation {conversation_id}")
    account = await ctx.state.accounts.get(str(ref.channel_account_id))
    prefix = f"conv:{ctx.tenant_id}:{ref.channel_account_id}:"
    if account is None or account.tenant_id != ctx.tenant_id or not ref.workflow_id.startswith(prefix):
        raise Problem(409, "Conversation unreachable", "the conversation's channel account no longer exists")
    # Scoped by action: a key reused for another action must not make the workflow skip it.
    request_id = f"{action}:{key}" if key else f"{action}:{uuid.uuid4()}"
    # Seeds only a run started by this signal (the last one ended while idle): it then knows
    # which stored conversation it is, before any new message arrives.
    known = ConversationState(conversation_id=str(ref.id), customer_id=str(ref.customer_id))
    try:
        await signal_conversation(
            ctx.state.temporal, account, ref.workflow_id[len(prefix) :], _SIGNALS[action], payload_of(request_id), ctx.state.settings,
            known=known,
        )  # fmt: skip
    except TEMPORAL_UNAVAILABLE as exc:
        raise Problem(503, "Could not reach the conversation yet", str(exc)[:300], {"Retry-After": RETRY_AFTER_SECONDS}) from None
    return ActionAccepted(conversation_id=conversation_id, action=action, request_id=request_id)


def _agent(ctx: Ctx, body: _ActorIn | None) -> str:
    return (body.agent_id if body is not None else None) or ctx.principal.actor


@router.post(
    "/{conversation_id}/takeover", status_code=202, response_model=ActionAccepted, responses=_ACCEPTED,
    summary="Take a conversation over: the AI stops answering until it is released",
)  # fmt: skip
async def takeover(conversation_id: uuid.UUID, ctx: Writer, body: TakeoverIn | None = None, idempotency_key: IdempotencyKey = None) -> ActionAccepted:
    agent_id = _agent(ctx, body)
    return await _send(ctx, conversation_id, "takeover", idempotency_key, lambda rid: Takeover(request_id=rid, agent_id=agent_id))


@router.post(
    "/{conversation_id}/reply", status_code=202, response_model=ActionAccepted, responses=_ACCEPTED,
    summary="Send the customer a message as a person on the team",
    description=(
        "The text goes out on the conversation's channel as the person (a takeover by them if they had not taken it "
        "over). Allowed on a closed conversation: the reply reopens it with the person on it, as the workflow decides."
    ),
)  # fmt: skip
async def reply(conversation_id: uuid.UUID, body: ReplyIn, ctx: Writer, idempotency_key: IdempotencyKey = None) -> ActionAccepted:
    agent_id, text = _agent(ctx, body), body.text
    return await _send(ctx, conversation_id, "reply", idempotency_key, lambda rid: AgentReply(request_id=rid, agent_id=agent_id, text=text))


@router.post(
    "/{conversation_id}/release", status_code=202, response_model=ActionAccepted, responses=_ACCEPTED,
    summary="Give a conversation back to the AI (its hand-over counters start again)",
)  # fmt: skip
async def release(conversation_id: uuid.UUID, ctx: Writer, body: ReleaseIn | None = None, idempotency_key: IdempotencyKey = None) -> ActionAccepted:
    agent_id = _agent(ctx, body)
    return await _send(ctx, conversation_id, "release", idempotency_key, lambda rid: Release(request_id=rid, agent_id=agent_id))


@router.post(
    "/{conversation_id}/close", status_code=202, response_model=ActionAccepted, responses=_ACCEPTED,
    summary="Close a resolved conversation",
    description="The customer's next message opens it again with the AI answering, never straight back into hand-over.",
)  # fmt: skip
async def close(conversation_id: uuid.UUID, ctx: Writer, body: CloseIn | None = None, idempotency_key: IdempotencyKey = None) -> ActionAccepted:
    agent_id, reason = _agent(ctx, body), body.reason if body is not None else None
    return await _send(ctx, conversation_id, "close", idempotency_key, lambda rid: Close(request_id=rid, agent_id=agent_id, reason=reason))
