"""Channel webhooks, one pair of routes per channel: the subscription handshake (GET, for the
channels that have one) and signed deliveries (POST), all through the channel's adapter."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from api.deps import AppState, StateDep
from api.problems import Problem
from api.rate_limits import too_many_requests
from channels.base import PayloadError, SignatureError, StatusUpdate, WebhookRequest
from channels.registry import ADAPTERS
from models import delivery_store
from models.accounts_store import ResolvedChannelAccount


class WebhookAck(BaseModel):
    messages: int
    statuses: int


def webhook_request(request: Request, raw: bytes, public_url: str | None) -> WebhookRequest:
    url = str(request.url)
    if public_url:  # behind a proxy the channel called (and signed) the public address
        url = public_url.rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return WebhookRequest(
        headers={k.lower(): v for k, v in request.headers.items()},
        body=raw,
        url=url,
        query=dict(request.query_params),
    )


def channel_router(channel: str) -> APIRouter:
    router = APIRouter(prefix=f"/webhooks/{channel}", tags=["webhooks"])

    @router.get("/{channel_account_id}", responses={403: {}, 404: {}, 405: {}}, name=f"{channel}_handshake")
    async def handshake(channel_account_id: str, request: Request, state: StateDep) -> Response:
        """The channel's subscription handshake (Meta's hub.challenge echo), where it has one."""
        account = await state.accounts.require(channel_account_id, channel)
        adapter = state.channels.get(channel)
        try:
            answer = adapter.handshake(dict(request.query_params), account.secrets)
        except SignatureError as exc:
            raise Problem(403, "Verification failed", str(exc)) from None
        except PayloadError as exc:
            raise Problem(400, "Malformed handshake", str(exc)) from None
        if answer is None:
            raise Problem(405, "No handshake", f"{channel} webhooks have no subscription handshake")
        return Response(answer, media_type="text/plain")

    @router.post(
        "/{channel_account_id}",
        response_model=WebhookAck,
        responses={400: {}, 401: {}, 404: {}, 413: {}, 429: {}, 503: {}},
        name=f"{channel}_webhook",
    )
    async def receive(channel_account_id: str, request: Request, state: StateDep) -> Response:
        """Answered 200 only once every message is durable (in the inbound journal or accepted by
        its conversation workflow: api/inbound_handoff.py), so a failure here makes the channel
        redeliver instead of losing the message. A flood beyond the account's rate gets 429 with
        Retry-After, except a body of already accepted messages (200)."""
        return await _receive(channel, channel_account_id, request, state)

    return router


async def _receive(channel: str, channel_account_id: str, request: Request, state: AppState) -> Response:
    account = await state.accounts.require(channel_account_id, channel)
    raw = await request.body()  # capped by BodyLimitMiddleware
    adapter = state.channels.get(channel)
    delivery = webhook_request(request, raw, state.settings.public_url)
    try:
        adapter.verify(delivery, account.secrets)
    except SignatureError as exc:
        raise Problem(401, "Invalid signature", str(exc)) from None
    try:
        parsed = adapter.parse(delivery, str(account.id))
    except PayloadError as exc:
        raise Problem(400, "Malformed webhook payload", str(exc)) from None
    parsed.messages = [m.without_nul() for m in parsed.messages]

    # After verification: an unsigned flood is 401 above and never spends the account's budget.
    guard = state.guard
    verdict = await guard.admit_webhook(str(account.id), [m.external_id for m in parsed.messages], other_work=bool(parsed.statuses))
    if not verdict.decision.allowed:
        raise too_many_requests(verdict.decision, "this channel account is receiving more webhooks than its rate limit")
    # Ids recorded as accepted are already in their workflow's history: signalling them
    # again would only be dropped there.
    fresh = [m for m in parsed.messages if m.external_id not in verdict.seen]

    await state.handoff.accept(account, fresh)
    if parsed.statuses:
        await _record_statuses(state, account, parsed.statuses)
    ack = adapter.webhook_ack(parsed)
    if ack is not None:
        return Response(ack.body, media_type=ack.media_type)
    return Response(
        WebhookAck(messages=len(parsed.messages), statuses=len(parsed.statuses)).model_dump_json(), media_type="application/json"
    )


# Web chat has its own routes (api/routes/webchat.py).
routers = [channel_router(channel) for channel in ADAPTERS]


async def _record_statuses(state: AppState, account: ResolvedChannelAccount, statuses: list[StatusUpdate]) -> None:
    try:
        async with state.sessions.begin() as session:
            for status in sorted(statuses, key=lambda s: s.provider_message_id):  # the lock order record_status asks for
                await delivery_store.record_status(
                    session,
                    account.tenant_id,
                    account.id,
                    status.provider_message_id,
                    status.status,
                    status.occurred_at,
                    {"recipient_id": status.recipient_id, "errors": status.errors},
                    status.client_reference,
                )
    except DBAPIError as exc:
        raise Problem(503, "Could not record delivery statuses yet", type(exc).__name__, {"Retry-After": "5"}) from None
