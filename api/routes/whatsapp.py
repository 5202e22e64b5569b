"""WhatsApp Cloud API webhook: verification handshake, signed deliveries, status receipts."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from api.deps import AppState, StateDep
from api.problems import Problem
from api.rate_limits import too_many_requests
from channels.base import PayloadError, SignatureError, StatusUpdate
from models import messages_store
from models.accounts_store import ResolvedChannelAccount

WHATSAPP = "whatsapp"
router = APIRouter(prefix="/webhooks/whatsapp", tags=["webhooks"])


class WebhookAck(BaseModel):
    messages: int
    statuses: int


@router.get("/{channel_account_id}", response_class=PlainTextResponse)
async def verify_subscription(
    channel_account_id: str,
    state: StateDep,
    mode: Annotated[str, Query(alias="hub.mode")],
    verify_token: Annotated[str, Query(alias="hub.verify_token")],
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=512)],
) -> str:
    """Meta's subscription handshake: echo `hub.challenge` when the verify token matches."""
    account = await state.accounts.require(channel_account_id, WHATSAPP)
    expected = str(account.secrets.get("verify_token") or "")
    if mode != "subscribe" or not expected or not hmac.compare_digest(verify_token.encode(), expected.encode()):
        raise Problem(403, "Verification failed", "hub.mode must be 'subscribe' and hub.verify_token must match")
    return challenge


@router.post(
    "/{channel_account_id}",
    response_model=WebhookAck,
    responses={400: {}, 401: {}, 404: {}, 413: {}, 429: {}, 503: {}},
)
async def receive(channel_account_id: str, request: Request, state: StateDep) -> WebhookAck:
    """Answered 200 only once every message is durable (in the inbound journal or accepted by
    its conversation workflow: api/inbound_handoff.py), so a failure here makes Meta redeliver
    instead of losing the message. A flood beyond the account's rate gets 429 with Retry-After,
    except a body of already accepted messages (200)."""
    account = await state.accounts.require(channel_account_id, WHATSAPP)
    raw = await request.body()  # capped by BodyLimitMiddleware
    adapter = state.channels.get(WHATSAPP)
    try:
        adapter.verify({k.lower(): v for k, v in request.headers.items()}, raw, account.secrets)
    except SignatureError as exc:
        raise Problem(401, "Invalid signature", str(exc)) from None
    try:
        parsed = adapter.parse(raw, str(account.id))
    except PayloadError as exc:
        raise Problem(400, "Malformed webhook payload", str(exc)) from None

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
    return WebhookAck(messages=len(parsed.messages), statuses=len(parsed.statuses))


async def _record_statuses(state: AppState, account: ResolvedChannelAccount, statuses: list[StatusUpdate]) -> None:
    try:
        async with state.sessions.begin() as session:
            for status in statuses:
                await messages_store.record_status(
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
