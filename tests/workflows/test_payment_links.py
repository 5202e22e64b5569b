"""A payment request the customer confirmed becomes a Stripe Checkout link in the answer (one
session, whatever is retried), and Stripe's signed webhook marks it paid."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.store_sync import PaymentLinkInput, StoreSyncActivities
from models.admin_store import ensure_channel_account
from models.agent_tools import PaymentIntent
from tests.standins.serve import served
from tests.standins.stripe_server import StripeStandIn
from tests.workflows.agent_helpers import chat, conversation_of

SECRET_KEY = "sk_test_0123456789abcdef"
WEBHOOK_SECRET = "whsec_0123456789abcdef"
PAY = ("create_payment_intent", {"amount": 25.5, "currency": "EUR", "description": "Express delivery upgrade"})


@pytest.fixture
async def stripe():
    async with served(StripeStandIn(valid_keys={SECRET_KEY})) as standin:
        yield standin


async def _connect_stripe(deps, tenant, stripe) -> uuid.UUID:
    async with deps.sessions.begin() as session:
        account = await ensure_channel_account(
            session, deps.secrets, tenant_id=uuid.UUID(tenant.tenant_id), channel="stripe", name="stripe",
            config={"success_url": "https://shop.example.com/thanks", "api_base_url": stripe.url},
            secrets={"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET},
        )  # fmt: skip
    return account.id


async def _intents(deps, conversation_id) -> list[PaymentIntent]:
    async with deps.sessions() as session:
        return list(await session.scalars(select(PaymentIntent).where(PaymentIntent.conversation_id == conversation_id)))


async def _pay_confirmed(http, deps, tenant, openai_standin, session: str):
    await chat(http, tenant.webchat_id, session, "hello")
    openai_standin.scripted_tool_calls.append(PAY)
    asked = await chat(http, tenant.webchat_id, session, "I'd like express delivery")
    assert [b["id"] for b in asked["buttons"]] == ["confirm:yes", "confirm:no"]  # asked before anything is made
    done = await chat(http, tenant.webchat_id, session, "yes")
    return done, await conversation_of(deps, tenant.tenant_id, session)


def _signed(event: dict, secret: str = WEBHOOK_SECRET, at: int | None = None) -> tuple[bytes, dict]:
    import hashlib
    import hmac

    body = json.dumps(event).encode()
    timestamp = at or int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"stripe-signature": f"t={timestamp},v1={signature}", "content-type": "application/json"}


def _completed(intent_id: uuid.UUID) -> dict:
    session = {
        "id": "cs_test_x",
        "object": "checkout.session",
        "payment_status": "paid",
        "metadata": {"frontdesk_payment_intent": str(intent_id)},
    }
    return {"id": f"evt_{uuid.uuid4().hex[:10]}", "type": "checkout.session.completed", "data": {"object": session}}


async def test_a_confirmed_payment_request_sends_a_checkout_link_once(http, deps, tenant, openai_standin, stripe):
    await _connect_stripe(deps, tenant, stripe)

    done, conversation = await _pay_confirmed(http, deps, tenant, openai_standin, "pay-1")

    [session] = stripe.sessions
    assert (session["amount_total"], session["currency"], session["name"]) == (2550, "eur", "Express delivery upgrade")
    assert session["url"] in done["reply"]  # the customer is given the link
    [intent] = await _intents(deps, conversation.id)
    assert (intent.status, intent.payment_url, intent.provider_ref) == ("awaiting_payment", session["url"], session["id"])
    again = await ActivityEnvironment().run(
        StoreSyncActivities(deps).send_payment_link, PaymentLinkInput(tenant.tenant_id, str(intent.id))
    )
    assert again.payment_url == session["url"] and len(stripe.sessions) == 1


async def test_stripes_webhook_marks_the_payment_paid_once(http, deps, tenant, openai_standin, stripe):
    account_id = await _connect_stripe(deps, tenant, stripe)
    _, conversation = await _pay_confirmed(http, deps, tenant, openai_standin, "pay-2")
    [intent] = await _intents(deps, conversation.id)

    body, headers = _signed(_completed(intent.id))
    first = await http.post(f"/webhooks/stripe/{account_id}", content=body, headers=headers)
    repeat = await http.post(f"/webhooks/stripe/{account_id}", content=body, headers=headers)

    assert (first.status_code, first.json()["result"]) == (200, "paid")
    assert repeat.json()["result"] == "duplicate"
    [paid] = await _intents(deps, conversation.id)
    assert paid.status == "paid" and paid.paid_at is not None


async def test_forged_or_stale_stripe_events_are_refused(http, deps, tenant, stripe):
    account_id = await _connect_stripe(deps, tenant, stripe)
    event = _completed(uuid.uuid4())

    forged = await http.post(
        f"/webhooks/stripe/{account_id}",
        content=_signed(event, secret="whsec_guess")[0],
        headers=_signed(event, secret="whsec_guess")[1],
    )
    stale_body, stale_headers = _signed(event, at=int(time.time()) - 3600)
    stale = await http.post(f"/webhooks/stripe/{account_id}", content=stale_body, headers=stale_headers)
    unsigned = await http.post(f"/webhooks/stripe/{account_id}", content=json.dumps(event))

    assert [r.status_code for r in (forged, stale, unsigned)] == [401, 401, 401]
    assert "older than five minutes" in stale.json()["detail"]


async def test_without_a_payment_provider_the_request_is_left_to_a_person(http, deps, tenant, openai_standin):
    done, conversation = await _pay_confirmed(http, deps, tenant, openai_standin, "pay-3")

    assert '"store_synced": false' in done["reply"] and "a person sends the payment request" in done["reply"]
    [intent] = await _intents(deps, conversation.id)
    assert intent.status == "requires_payment" and intent.payment_url is None
