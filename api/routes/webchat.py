"""Web chat: the embeddable widget's script, and one durable turn per customer message, over a
POST or the widget's WebSocket (both run `run_turn`)."""

from __future__ import annotations

import asyncio
import functools
import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError

from api.conversations import TEMPORAL_UNAVAILABLE, webchat_turn
from api.deps import AppState, StateDep, WsStateDep
from api.problems import Problem
from api.rate_limits import too_many_requests
from api.token_stream import conversation_id_for, token_relay
from channels.base import InboundMessage, OutboundMessage
from core.ids import conversation_workflow_id
from core.logging import get_logger
from models.accounts_store import ResolvedChannelAccount
from models.conversations import Conversation, Message
from web import WIDGET_DIR

log = get_logger()

WEBCHAT = "webchat"
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"  # anchored: pydantic patterns search
DEFAULT_BRAND_COLOR = "#2563eb"
DEFAULT_TITLE = "Chat with us"
WIDGET_CACHE_SECONDS = 300  # a changed colour or greeting reaches pages within this
MAX_FRAME_CHARS = 16_384  # a 4096-character message with room for JSON escapes
MAX_IN_FLIGHT = 8  # turns one connection may have running; more is a client gone wrong
router = APIRouter(prefix="/v1/webchat", tags=["webchat"])


class WebchatMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(pattern=ID_PATTERN, examples=["visitor-8f3a"])
    client_message_id: str = Field(pattern=ID_PATTERN, examples=["m-0001"], description="Retry with the same id to get the same reply.")
    text: str = Field(min_length=1, max_length=4096, examples=["Where is my order?"])
    reply_payload: str | None = Field(
        None, max_length=256, examples=["track-order"], description="The id of the button the customer tapped; its title goes in text."
    )

    @field_validator("text", "reply_payload")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        # PostgreSQL stores no NUL; refused here, it is a 422 instead of a turn that cannot finish.
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class ReplyChoice(BaseModel):
    """A button or list row offered with the reply; tapping it sends its title and id back."""

    id: str
    title: str
    description: str | None = None


class WebchatReplyOut(BaseModel):
    session_id: str
    client_message_id: str
    reply: str
    needs_human: bool
    duplicate: bool
    buttons: list[ReplyChoice] = Field(default_factory=list)


class HistoryMessage(BaseModel):
    direction: str
    text: str
    created_at: str


class HistoryOut(BaseModel):
    session_id: str
    messages: list[HistoryMessage]


async def run_turn(state: AppState, account: ResolvedChannelAccount, body: WebchatMessageIn) -> WebchatReplyOut:
    """One customer message through the conversation workflow (update-with-start); raises
    Problem with the status the POST answers and the WebSocket puts in its error frame."""
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
        kind="reply" if body.reply_payload else "text",
        reply_payload=body.reply_payload,
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
    choices = await _reply_choices(state, account, body.session_id, message.external_id) if reply.text else []
    return WebchatReplyOut(
        session_id=body.session_id,
        client_message_id=body.client_message_id,
        reply=reply.text,
        needs_human=reply.needs_human,
        duplicate=reply.duplicate,
        buttons=choices,
    )


async def _reply_choices(state: AppState, account: ResolvedChannelAccount, session_id: str, external_id: str) -> list[ReplyChoice]:
    """Buttons and list rows the turn stored with its reply (the outbound row's content); the
    web widget shows any number, so nothing is cut the way `channels.render.fit` cuts for others."""
    workflow_id = conversation_workflow_id(str(account.tenant_id), str(account.id), session_id)
    async with state.sessions() as session:
        content = await session.scalar(
            select(Message.content)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Conversation.tenant_id == account.tenant_id,
                Conversation.workflow_id == workflow_id,
                Message.direction == "outbound",
                Message.reply_to_external_id == external_id,
            )
            .order_by(Message.seq.desc())
            .limit(1)
        )
    if not content:
        return []
    offered = OutboundMessage.from_row(to=session_id, text="", idempotency_key="", content=content)
    return [ReplyChoice(id=b.id, title=b.title) for b in offered.buttons] + [
        ReplyChoice(id=r.id, title=r.title, description=r.description) for r in offered.list_rows
    ]


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
    return await run_turn(state, account, body)


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


# -- the widget ------------------------------------------------------------------------------


@functools.cache
def _widget_assets() -> tuple[str, str]:
    return (WIDGET_DIR / "widget.js").read_text(encoding="utf-8"), (WIDGET_DIR / "widget.css").read_text(encoding="utf-8")


def _js_literal(value: Any) -> str:
    # JSON is a JS expression; "<" escaped so no text in it can close a <script> element.
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


@router.get(
    "/{channel_account_id}/widget.js",
    response_class=Response,
    responses={
        200: {"content": {"text/javascript": {}}, "description": "The embeddable chat widget"},
        404: {"description": "Unknown channel account"},
    },
)
async def widget_script(channel_account_id: str, request: Request, state: StateDep) -> Response:
    """The script a site embeds: `<script src=".../widget.js" async></script>` draws the chat bubble
    in this account's colour, on its side, with its greeting."""
    account = await state.accounts.require(channel_account_id, WEBCHAT)
    script, css = _widget_assets()
    look = account.config
    config = {
        "account_id": str(account.id),
        "brand_color": look.get("brand_color") or DEFAULT_BRAND_COLOR,
        "position": look.get("position") or "right",
        "greeting": look.get("greeting"),
        "title": look.get("title") or DEFAULT_TITLE,
        # Only for browsers that do not say which script is running (document.currentScript).
        "script_url": f"{(state.settings.public_url or str(request.base_url)).rstrip('/')}{request.url.path}",
        "css": css,
    }
    body = f"(function () {{\n{script}\nfrontdeskWidget({_js_literal(config)});\n}})();\n"
    return Response(
        body, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": f"public, max-age={WIDGET_CACHE_SECONDS}"}
    )


# -- the widget's WebSocket ------------------------------------------------------------------


def _origin(url: str) -> str | None:
    """scheme://host[:port] as a browser writes an Origin header (default ports left out)."""
    match = re.fullmatch(r"(https?)://([^/?#:]+)(?::(\d+))?(?:[/?#].*)?", url.strip(), flags=re.IGNORECASE)
    if match is None:
        return None
    scheme, host, port = match.group(1).lower(), match.group(2).lower(), match.group(3)
    if port and int(port) != {"http": 80, "https": 443}[scheme]:
        return f"{scheme}://{host}:{int(port)}"
    return f"{scheme}://{host}"


def origin_allowed(account: ResolvedChannelAccount, origin: str | None) -> bool:
    """A browser always says which site opened the socket: it must be one the tenant listed, so
    no other site can chat (and spend the tenant's model budget) in a visitor's name. Clients
    that send no Origin are not browsers; the POST route serves them the same turns anyway."""
    if origin is None:
        return True
    allowed = {_origin(str(url)) for url in account.config.get("allowed_origins") or []}
    found = _origin(origin)
    return found is not None and found in allowed


class FrameError(Exception):
    def __init__(self, reason: str, client_message_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.client_message_id = client_message_id


def parse_frame(raw: str, session_id: str) -> WebchatMessageIn | None:
    """A client frame as a message (None for a ping); FrameError says what is wrong with it."""
    if len(raw) > MAX_FRAME_CHARS:
        raise FrameError(f"frame longer than {MAX_FRAME_CHARS} characters")
    try:
        data = json.loads(raw)
    except ValueError:
        raise FrameError("frames are JSON objects") from None
    if not isinstance(data, dict):
        raise FrameError("frames are JSON objects")
    kind = data.pop("type", "message")
    if kind == "ping":
        return None
    if kind != "message":
        raise FrameError(f"unknown frame type {str(kind)[:40]!r}; send 'message' or 'ping'")
    client_id = data.get("client_message_id")
    client_id = client_id if isinstance(client_id, str) and re.fullmatch(ID_PATTERN, client_id) else None
    if "session_id" in data:
        raise FrameError("session_id is the connection's (the ws URL's query), not a frame field", client_id)
    try:
        return WebchatMessageIn(session_id=session_id, **data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'frame'}: {e['msg']}" for e in exc.errors())
        raise FrameError(problems[:500], client_id) from None


class ChatSocket:
    """One open widget: runs each message's turn and sends typing, token, reply and error frames.
    A frame whose client_message_id is already running here is not run twice (its reply is
    coming); one sent again after a reconnect joins the turn in the workflow (same update id)."""

    def __init__(self, websocket: WebSocket, state: AppState, account: ResolvedChannelAccount, session_id: str) -> None:
        self._ws = websocket
        self._state = state
        self._account = account
        self._session_id = session_id
        self._send_lock = asyncio.Lock()
        self._running: dict[str, asyncio.Task] = {}
        self._open = True

    async def send(self, frame: dict) -> None:
        if not self._open:
            return
        async with self._send_lock:
            try:
                await self._ws.send_json(frame)
            except (WebSocketDisconnect, RuntimeError, OSError):
                self._open = False  # the receive loop sees the disconnect and ends the session

    async def serve(self) -> None:
        workflow_id = conversation_workflow_id(str(self._account.tenant_id), str(self._account.id), self._session_id)
        conversation_id = await conversation_id_for(self._state.sessions, workflow_id)
        try:
            async with token_relay(self._state.redis, conversation_id, self.send):
                while True:
                    message = await self._ws.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    if message.get("text") is None:
                        await self._error(422, "frames are JSON text, not binary")
                        continue
                    await self._take(message["text"])
        finally:
            self._open = False
            for task in self._running.values():
                task.cancel()  # the turns go on in the workflow; a resend collects their replies

    async def _error(self, status: int, reason: str, client_message_id: str | None = None, retry_after: int | None = None) -> None:
        """With retry_after the client sends the same message again after that many seconds;
        without, the message is refused for good."""
        frame = {"type": "error", "status": status, "reason": reason, "client_message_id": client_message_id}
        await self.send(frame if retry_after is None else {**frame, "retry_after": retry_after})

    async def _take(self, raw: str) -> None:
        try:
            body = parse_frame(raw, self._session_id)
        except FrameError as exc:
            await self._error(422, exc.reason, exc.client_message_id)
            return
        if body is None:
            await self.send({"type": "pong"})
            return
        if body.client_message_id in self._running:
            return
        if len(self._running) >= MAX_IN_FLIGHT:
            await self._error(429, "too many messages waiting for replies", body.client_message_id, retry_after=2)
            return
        task = asyncio.create_task(self._answer(body))
        self._running[body.client_message_id] = task
        task.add_done_callback(lambda _: self._running.pop(body.client_message_id, None))

    async def _answer(self, body: WebchatMessageIn) -> None:
        await self.send({"type": "typing", "client_message_id": body.client_message_id})
        try:
            reply = await run_turn(self._state, self._account, body)
        except Problem as exc:
            retry_after = (exc.headers or {}).get("Retry-After")  # 429, 503, 504: resend then
            await self._error(exc.status, exc.detail or exc.title, body.client_message_id, int(retry_after) if retry_after else None)
            return
        except Exception:  # noqa: BLE001 - one failed turn must not end the visitor's connection
            log.exception("web chat turn failed", client_message_id=body.client_message_id)
            await self._error(500, "the reply failed", body.client_message_id)
            return
        await self.send(
            {
                "type": "reply",
                "in_reply_to": body.client_message_id,
                "text": reply.reply,
                "buttons": [choice.model_dump(exclude_none=True) for choice in reply.buttons],
                "needs_human": reply.needs_human,
                "duplicate": reply.duplicate,
            }
        )


@router.websocket("/{channel_account_id}/ws")
async def websocket_chat(websocket: WebSocket, channel_account_id: str, state: WsStateDep, session_id: str = "") -> None:
    """The widget's connection. Client: `{"type": "message", "client_message_id", "text",
    "reply_payload"?}` (or `{"type": "ping"}`). Server: `{"type": "typing"}`, then `{"type": "token",
    "text"}` as the reply is written, then `{"type": "reply", "in_reply_to", "text", "buttons"}`, or
    `{"type": "error", "reason", "status", "client_message_id"?, "retry_after"?}` (with retry_after:
    send the same message again after that many seconds)."""
    if not re.fullmatch(ID_PATTERN, session_id):
        await websocket.close(code=4400, reason="session_id must be 1-128 letters, digits or _.:-")
        return
    try:
        account = await state.accounts.require(channel_account_id, WEBCHAT)
    except Problem as exc:
        await websocket.close(code=4000 + exc.status, reason=exc.title)
        return
    if not origin_allowed(account, websocket.headers.get("origin")):
        # Refused in the handshake: the browser sees a failed connection (HTTP 403), never a chat.
        await websocket.close(code=4403, reason="this site is not among the chat's allowed origins")
        return
    await websocket.accept()
    await ChatSocket(websocket, state, account, session_id).serve()
