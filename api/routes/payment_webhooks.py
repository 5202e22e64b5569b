"""Stripe's webhook: `POST /webhooks/stripe/{channel_account_id}` (a channel account of kind
`stripe`). A paid Checkout Session marks its payment intent `paid`; every other event is a 200
no-op, as is a repeat. 401 for a bad or stale signature, 400 for a body Stripe would not send,
404 for an unknown account; a database outage is 503, so Stripe redelivers."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import func, update

from api.deps import StateDep
from api.problems import Problem
from channels.base import PayloadError, SignatureError
from channels.stripe_payments import completed_intent, verify_event
from models.agent_tools import PaymentIntent
from models.tenant_db import tenant_transaction

router = APIRouter(prefix="/webhooks/stripe", tags=["webhooks"])


class PaymentWebhookAck(BaseModel):
    result: Literal["paid", "duplicate", "ignored"]
    payment_intent_id: uuid.UUID | None = None


@router.post("/{channel_account_id}", response_model=PaymentWebhookAck, responses={400: {}, 401: {}, 404: {}, 413: {}, 503: {}})
async def stripe_webhook(channel_account_id: str, request: Request, state: StateDep) -> PaymentWebhookAck:
    account = await state.accounts.require(channel_account_id, "stripe")
    body = await request.body()  # capped by BodyLimitMiddleware
    try:
        event = verify_event(body, request.headers.get("stripe-signature"), account.secrets.get("webhook_secret") or "")
    except SignatureError as exc:
        raise Problem(401, "Invalid signature", str(exc)) from None
    except PayloadError as exc:
        raise Problem(400, "Malformed webhook payload", str(exc)) from None
    reference = completed_intent(event)
    try:
        intent_id = uuid.UUID(str(reference)) if reference else None
    except ValueError:
        intent_id = None  # a session some other integration of the account made
    if intent_id is None:
        return PaymentWebhookAck(result="ignored")
    async with tenant_transaction(state.sessions, account.tenant_id) as session:
        paid = await session.scalar(
            update(PaymentIntent)
            .where(PaymentIntent.tenant_id == account.tenant_id, PaymentIntent.id == intent_id, PaymentIntent.status != "paid")
            .values(status="paid", paid_at=func.now())
            .returning(PaymentIntent.id)
        )
    return PaymentWebhookAck(result="paid" if paid else "duplicate", payment_intent_id=intent_id)
