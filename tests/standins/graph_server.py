"""A loopback server speaking the WhatsApp Cloud API (Graph) send-message format; records sends."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class GraphSend:
    phone_number_id: str
    to: str
    text: str
    token: str
    wamid: str


@dataclass
class GraphStandIn:
    url: str = ""  # set once served
    valid_tokens: set[str] = field(default_factory=set)
    sends: list[GraphSend] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

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
        body = await request.json()
        if body.get("messaging_product") != "whatsapp" or body.get("type") != "text":
            return JSONResponse(
                {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}, status_code=400
            )
        wamid = f"wamid.standin{next(self._ids):06d}"
        self.sends.append(GraphSend(request.path_params["phone_number_id"], body["to"], body["text"]["body"], token, wamid))
        return JSONResponse(
            {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}], "messages": [{"id": wamid}]}
        )
