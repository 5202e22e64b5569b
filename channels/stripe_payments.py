"""Payment links through Stripe Checkout, and Stripe's signed webhooks about them.

A payment intent the customer confirmed becomes a Checkout Session (`POST /v1/checkout/sessions`,
form-encoded, one line for the amount and description) whose `url` the agent sends. Stripe keeps
the answer to a request made with the same `Idempotency-Key` for 24 hours, and the key is our
payment intent's id, so a retried or repeated attempt gets the same session, never a second one.

Stripe reports the payment with `checkout.session.completed` at the account's webhook; the
`Stripe-Signature` header (`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed by the
endpoint's signing secret) is checked, and a signature older than five minutes is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from agent.tools.money import ZERO_DECIMAL
from channels.base import PayloadError, SignatureError
from channels.remote_errors import StoreRefused, StoreUnavailable

API_BASE = "https://api.stripe.com"
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
SIGNATURE_TOLERANCE_S = 300
METADATA_KEY = "frontdesk_payment_intent"
MAX_NAME_CHARS = 250


@dataclass(frozen=True)
class PaymentLink:
    session_id: str
    url: str


def minor_units(amount: Decimal, currency: str) -> int:
    """Stripe's integer amount: cents, or whole units for zero-decimal currencies (JPY...)."""
    return int(amount if currency.upper() in ZERO_DECIMAL else amount * 100)


@dataclass(frozen=True)
class StripeCheckout:
    http: httpx.AsyncClient
    secret_key: str
    success_url: str
    api_base: str = API_BASE

    @classmethod
    def for_account(cls, http: httpx.AsyncClient, config: dict[str, Any], secrets: dict[str, Any]) -> StripeCheckout | None:
        if not secrets.get("secret_key"):
            return None
        return cls(http, secrets["secret_key"], str(config["success_url"]), str(config.get("api_base_url") or API_BASE).rstrip("/"))

    async def payment_link(self, intent_id: str, amount: Decimal, currency: str, description: str) -> PaymentLink:
        form = {
            "mode": "payment",
            "success_url": self.success_url,
            "client_reference_id": intent_id,
            f"metadata[{METADATA_KEY}]": intent_id,
            "line_items[0][quantity]": "1",
            "line_items[0][price_data][currency]": currency.lower(),
            "line_items[0][price_data][unit_amount]": str(minor_units(amount, currency)),
            "line_items[0][price_data][product_data][name]": description[:MAX_NAME_CHARS],
        }
        headers = {"Authorization": f"Bearer {self.secret_key}", "Idempotency-Key": f"frontdesk-payment-{intent_id}"}
        try:
            response = await self.http.post(f"{self.api_base}/v1/checkout/sessions", data=form, headers=headers, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"Stripe unreachable: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise StoreUnavailable(f"Stripe answered {response.status_code}")
        body = _json(response)
        if response.status_code >= 400:
            error = body.get("error") or {}
            raise StoreRefused(f"Stripe refused ({response.status_code}): {error.get('message') or error.get('code') or body}"[:300])
        if not body.get("id") or not body.get("url"):
            raise StoreUnavailable("Stripe's answer has no session id or url")
        return PaymentLink(session_id=body["id"], url=body["url"])


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def stripe_signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_event(body: bytes, header: str | None, secret: str, now: float | None = None) -> dict[str, Any]:
    """The event Stripe signed, or SignatureError / PayloadError saying what is wrong."""
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    timestamps = [v for k, v in parts if k.strip() == "t"]
    signatures = [v for k, v in parts if k.strip() == "v1"]
    if not timestamps or not timestamps[0].isdigit() or not signatures:
        raise SignatureError("Stripe-Signature has no t= and v1= parts")
    timestamp = int(timestamps[0])
    if abs((now if now is not None else time.time()) - timestamp) > SIGNATURE_TOLERANCE_S:
        raise SignatureError("Stripe-Signature is older than five minutes")
    expected = stripe_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, s.strip()) for s in signatures):
        raise SignatureError("Stripe-Signature does not match")
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise PayloadError("body is not JSON") from exc
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise PayloadError("body is not a Stripe event")
    return event


def completed_intent(event: dict[str, Any]) -> str | None:
    """Our payment intent id, when the event says its Checkout Session was paid."""
    if event.get("type") not in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        return None
    session = (event.get("data") or {}).get("object") or {}
    if session.get("payment_status") != "paid":
        return None
    return (session.get("metadata") or {}).get(METADATA_KEY) or session.get("client_reference_id")
