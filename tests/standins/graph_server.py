"""A loopback server speaking the WhatsApp Cloud API (Graph) send-message format; records sends.

Like Meta, it can report each accepted message back as a signed `sent` status webhook carrying
the sender's `biz_opaque_callback_data`: register the account's webhook URL and app secret in
`receipts` (keyed by phone number id).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class GraphSend:
    phone_number_id: str
    to: str
    text: str
    token: str
    wamid: str
    client_reference: str | None = None  # biz_opaque_callback_data


@dataclass
class ReceiptTarget:
    webhook_url: str
    app_secret: str


@dataclass
class GraphStandIn:
    url: str = ""  # set once served
    valid_tokens: set[str] = field(default_factory=set)
    sends: list[GraphSend] = field(default_factory=list)
    receipts: dict[str, ReceiptTarget] = field(default_factory=dict)
    receipt_delay_seconds: float = 0.2
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _tasks: set[asyncio.Task] = field(default_factory=set)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{version}/{phone_number_id}/messages", self._send, methods=["POST"])])

    def sends_to(self, to: str) -> list[GraphSend]:
        return [s for s in self.sends if s.to == to]

    async def _send(self, request: Request) -> JSONResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid_tokens:
            return JSONResponse(
                {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190, "fbtrace_id": "AbC"}},
                status_code=401,
            )
        try:
            body = await request.json()
        except ClientDisconnect:  # the sender died mid-request (the chaos bench kills workers)
            return JSONResponse({}, status_code=499)
        if body.get("messaging_product") != "whatsapp" or body.get("type") != "text":
            return JSONResponse(
                {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}, status_code=400
            )
        phone_number_id = request.path_params["phone_number_id"]
        send = GraphSend(phone_number_id, body["to"], body["text"]["body"], token, f"wamid.standin{next(self._ids):06d}", body.get("biz_opaque_callback_data"))
        self.sends.append(send)
        if target := self.receipts.get(phone_number_id):
            task = asyncio.create_task(self._report_sent(target, send))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return JSONResponse(
            {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}], "messages": [{"id": send.wamid}]}
        )

    async def _report_sent(self, target: ReceiptTarget, send: GraphSend) -> None:
        """Meta's `sent` status webhook, redelivered until it is acknowledged (as Meta does)."""
        status = {"id": send.wamid, "status": "sent", "timestamp": str(int(time.time())), "recipient_id": send.to}
        if send.client_reference:
            status["biz_opaque_callback_data"] = send.client_reference
        value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": send.phone_number_id}, "statuses": [status]}
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}]}).encode()
        signature = "sha256=" + hmac.new(target.app_secret.encode(), body, hashlib.sha256).hexdigest()
        await asyncio.sleep(self.receipt_delay_seconds)
        async with httpx.AsyncClient(timeout=10) as client:
            for attempt in range(20):
                try:
                    response = await client.post(target.webhook_url, content=body, headers={"content-type": "application/json", "x-hub-signature-256": signature})
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(min(0.5 * 2**attempt, 10))
