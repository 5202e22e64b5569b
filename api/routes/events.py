"""The dashboard's live feed: a WebSocket relaying the tenant's events (new messages, handoffs).

Browsers cannot set an Authorization header on a WebSocket, so the token comes as the
subprotocol pair `["bearer", <token>]` (kept out of URLs and access logs) or, for tools, as
`?access_token=`. The socket closes when a session token expires: the dashboard reconnects
with a refreshed one.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.security import HTTPAuthorizationCredentials

from api.auth import Principal, authenticate, enforce_rate_limits
from api.deps import WsStateDep
from api.problems import Problem
from core.credentials import TokenInvalid, token_expiry
from core.events import tenant_channel
from core.scopes import Scope

router = APIRouter(prefix="/v1/events", tags=["events"])
UNAUTHENTICATED, FORBIDDEN = 4401, 4403
REQUIRED_SCOPE = Scope.CONVERSATIONS_READ


def _token(websocket: WebSocket) -> tuple[str | None, str | None]:
    """(token, subprotocol to accept)."""
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    if len(offered) == 2 and offered[0].lower() == "bearer":
        return offered[1], offered[0]
    return websocket.query_params.get("access_token"), None


@router.websocket("/ws")
async def events_ws(websocket: WebSocket, state: WsStateDep) -> None:
    token, subprotocol = _token(websocket)
    # Accepted first so a refusal carries its close code and reason (a refusal before the
    # handshake reaches the browser only as a failed connection).
    await websocket.accept(subprotocol=subprotocol)
    try:
        principal: Principal = await authenticate(state, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token or ""))
        if REQUIRED_SCOPE.value not in principal.scopes:
            raise Problem(403, "Forbidden", f"needs the {REQUIRED_SCOPE.value!r} scope")
        await enforce_rate_limits(state, principal)
    except Problem as exc:
        await websocket.close(code=FORBIDDEN if exc.status == 403 else UNAUTHENTICATED, reason=str(exc.detail)[:120])
        return
    expires_at = _expiry(token or "")
    pubsub = state.redis.pubsub()
    await pubsub.subscribe(tenant_channel(str(principal.tenant_id)))
    try:
        await websocket.send_json({"type": "ready", "tenant_id": str(principal.tenant_id)})
        receiver = asyncio.create_task(_drain_client(websocket))
        while not receiver.done():
            if expires_at is not None and time.time() >= expires_at:
                await websocket.close(code=UNAUTHENTICATED, reason="session token expired; reconnect with a fresh one")
                break
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                await websocket.send_text(message["data"].decode())
        receiver.cancel()
    except (WebSocketDisconnect, RuntimeError):
        pass  # the dashboard went away
    finally:
        await pubsub.aclose()


def _expiry(token: str) -> float | None:
    try:
        return token_expiry(token)
    except TokenInvalid:
        return None


async def _drain_client(websocket: WebSocket) -> None:
    """The feed is one-way; reading notices the dashboard closing."""
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        return
