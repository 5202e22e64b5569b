"""A loopback server speaking Stripe's Checkout Sessions API: `POST /v1/checkout/sessions`
(form-encoded, `Authorization: Bearer <secret key>`), answering the Checkout Session object. Like
Stripe, a request repeating an `Idempotency-Key` gets the first answer again instead of a new
session. Bad key: 401 with Stripe's error body; a missing required field: 400."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

REQUIRED = ("mode", "success_url", "line_items[0][price_data][currency]", "line_items[0][price_data][unit_amount]")


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


@dataclass
class StripeStandIn:
    url: str = ""
    valid_keys: set[str] = field(default_factory=set)
    sessions: list[dict[str, Any]] = field(default_factory=list)  # one per session created
    _answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # idempotency key -> session
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/checkout/sessions", self._create, methods=["POST"])])

    async def _create(self, request: Request) -> JSONResponse:
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if key not in self.valid_keys:
            return _error(401, "Invalid API Key provided", "authentication_error")
        idempotency_key = request.headers.get("idempotency-key")
        if idempotency_key and idempotency_key in self._answers:
            return JSONResponse(self._answers[idempotency_key])
        form = dict((await request.form()).items())
        missing = [name for name in REQUIRED if not form.get(name)]
        if missing:
            return _error(400, f"Missing required param: {missing[0]}.")
        session_id = f"cs_test_{next(self._ids):024d}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form["mode"],
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
            "currency": form["line_items[0][price_data][currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "metadata": {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")},
            "payment_status": "unpaid",
            "name": form.get("line_items[0][price_data][product_data][name]"),
        }
        self.sessions.append(session)
        if idempotency_key:
            self._answers[idempotency_key] = session
        return JSONResponse(session)
