"""A loopback server speaking the WhatsApp Cloud API (Graph): sends of every message type,
media upload, media URL retrieval and download, and mark-as-read. Records what it was sent.

Like Meta it refuses what a careless client would send: a wrong token (190), an unknown
message type or a type object missing (100), more buttons or rows than allowed or labels too
long (131009), media by an id it never issued (131053), a caption on audio (100), and a
free-form message to a customer whose 24-hour window is closed (`closed_windows`: 131047).
Media downloads need the same Bearer token as the API, as at Meta.

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
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MESSAGE_TYPES = {"text", "image", "audio", "video", "document", "sticker", "interactive", "template", "location", "contacts", "reaction"}
MEDIA_TYPES = {"image", "audio", "video", "document", "sticker"}


@dataclass
class GraphSend:
    phone_number_id: str
    to: str
    text: str  # what the customer reads: the body, the caption, the text above buttons
    token: str
    wamid: str
    client_reference: str | None = None  # biz_opaque_callback_data
    type: str = "text"
    body: dict[str, Any] = field(default_factory=dict)  # the request body as sent


@dataclass
class GraphUpload:
    phone_number_id: str
    media_id: str
    data: bytes
    mime_type: str
    filename: str | None


@dataclass
class ReceiptTarget:
    webhook_url: str
    app_secret: str


class _Refused(Exception):
    def __init__(self, status: int, code: int, message: str, details: str | None = None):
        super().__init__(message)
        self.status, self.code, self.details = status, code, details


def _error(status: int, code: int, message: str, details: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCstandin"}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return JSONResponse({"error": error}, status_code=status)


def _readable_text(body: dict[str, Any]) -> str:
    kind = body.get("type")
    part = body.get(kind) if isinstance(body.get(kind), dict) else {}
    if kind == "text":
        return str(part.get("body", ""))
    if kind == "interactive":
        return str((part.get("body") or {}).get("text", ""))
    return str(part.get("caption", ""))


@dataclass
class GraphStandIn:
    url: str = ""  # set once served
    valid_tokens: set[str] = field(default_factory=set)
    sends: list[GraphSend] = field(default_factory=list)
    uploads: dict[str, GraphUpload] = field(default_factory=dict)  # media id -> what was uploaded
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # customers' media by id: (bytes, mime)
    reads: list[str] = field(default_factory=list)  # wamids marked read
    closed_windows: set[str] = field(default_factory=set)  # recipients who last wrote > 24 h ago
    fail_with: int | None = None  # answer every call with this HTTP status
    receipts: dict[str, ReceiptTarget] = field(default_factory=dict)
    receipt_delay_seconds: float = 0.2
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _tasks: set[asyncio.Task] = field(default_factory=set)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                # Meta's media CDN (lookaside.fbsbx.com) answers at its own path, with the same token.
                Route("/whatsapp_business/attachments/", self._download, methods=["GET"]),
                Route("/{version}/{phone_number_id}/messages", self._messages, methods=["POST"]),
                Route("/{version}/{phone_number_id}/media", self._upload, methods=["POST"]),
                Route("/{version}/{media_id}", self._describe_media, methods=["GET"]),
            ]
        )

    def sends_to(self, to: str) -> list[GraphSend]:
        return [s for s in self.sends if s.to == to]

    def add_media(self, data: bytes, mime_type: str) -> str:
        """Media a customer sent: its id, as a messages webhook would carry it."""
        media_id = str(1_000_000_000_000 + next(self._ids))
        self.media[media_id] = (data, mime_type)
        return media_id

    def _authorised(self, request: Request) -> str | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return token if token in self.valid_tokens else None

    def _gate(self, request: Request) -> tuple[str | None, JSONResponse | None]:
        token = self._authorised(request)
        if token is None:
            return None, _error(401, 190, "Invalid OAuth access token.")
        if self.fail_with:
            # Graph's codes: 2 (transient) for its own faults, 100 (invalid parameter) for a refusal.
            if self.fail_with >= 500 or self.fail_with == 429:
                return token, _error(self.fail_with, 2, "Service temporarily unavailable")
            return token, _error(self.fail_with, 100, "(#100) Invalid parameter")
        return token, None

    async def _messages(self, request: Request) -> Response:
        token, refused = self._gate(request)
        if refused:
            return refused
        try:
            body = await request.json()
        except ClientDisconnect:  # the sender died mid-request (the chaos bench kills workers)
            return JSONResponse({}, status_code=499)
        if body.get("messaging_product") != "whatsapp":
            return _error(400, 100, "(#100) The parameter messaging_product is required.")
        if body.get("status") == "read":
            if not isinstance(body.get("message_id"), str):
                return _error(400, 100, "(#100) The parameter message_id is required.")
            self.reads.append(body["message_id"])
            return JSONResponse({"success": True})
        try:
            self._check_message(body)
        except _Refused as exc:
            return _error(exc.status, exc.code, str(exc), exc.details)
        phone_number_id = request.path_params["phone_number_id"]
        send = GraphSend(
            phone_number_id=phone_number_id,
            to=body["to"],
            text=_readable_text(body),
            token=token or "",
            wamid=f"wamid.standin{next(self._ids):06d}",
            client_reference=body.get("biz_opaque_callback_data"),
            type=body["type"],
            body=body,
        )
        self.sends.append(send)
        if target := self.receipts.get(phone_number_id):
            task = asyncio.create_task(self._report_sent(target, send))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return JSONResponse(
            {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}], "messages": [{"id": send.wamid}]}
        )

    def _check_message(self, body: dict[str, Any]) -> None:
        kind = body.get("type")
        if kind not in MESSAGE_TYPES or not isinstance(body.get(kind), dict) or not body.get("to"):
            raise _Refused(400, 100, "(#100) Invalid parameter")
        if kind != "template" and body["to"] in self.closed_windows:
            raise _Refused(
                400,
                131047,
                "(#131047) Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
            )
        part = body[kind]
        if kind == "text" and not (0 < len(part.get("body") or "") <= 4096):
            raise _Refused(400, 100, "(#100) Param text['body'] must be 1 to 4096 characters")
        if kind in MEDIA_TYPES:
            self._check_media(kind, part)
        if kind == "interactive":
            self._check_interactive(part)
        if kind == "template" and not (part.get("name") and (part.get("language") or {}).get("code")):
            raise _Refused(400, 100, "(#100) Param template['name'] and template['language']['code'] are required")

    def _check_media(self, kind: str, part: dict[str, Any]) -> None:
        if bool(part.get("id")) == bool(part.get("link")):
            raise _Refused(400, 100, f"(#100) Param {kind} must have exactly one of id or link")
        if part.get("id") and part["id"] not in self.uploads:
            raise _Refused(400, 131053, "(#131053) Media upload error", "Unknown media id")
        if kind in ("audio", "sticker") and "caption" in part:
            raise _Refused(400, 100, f"(#100) Param {kind}['caption'] is not valid")
        if len(part.get("caption") or "") > 1024:
            raise _Refused(400, 100, f"(#100) Param {kind}['caption'] is longer than 1024 characters")

    def _check_interactive(self, part: dict[str, Any]) -> None:
        action, body_text = part.get("action") or {}, (part.get("body") or {}).get("text") or ""
        if part.get("type") == "button":
            buttons = [b.get("reply") or {} for b in action.get("buttons") or []]
            too_long = any(len(b.get("title") or "") > 20 or len(b.get("id") or "") > 256 for b in buttons)
            if not 1 <= len(buttons) <= 3 or too_long or not 0 < len(body_text) <= 1024:
                raise _Refused(400, 131009, "(#131009) Parameter value is not valid", "buttons: 1 to 3, titles <= 20, body <= 1024")
        elif part.get("type") == "list":
            rows = [r for s in action.get("sections") or [] for r in s.get("rows") or []]
            bad_row = any(len(r.get("title") or "") > 24 or len(r.get("description") or "") > 72 or len(r.get("id") or "") > 200 for r in rows)
            if not 1 <= len(rows) <= 10 or bad_row or not 0 < len(action.get("button") or "") <= 20:
                raise _Refused(400, 131009, "(#131009) Parameter value is not valid", "rows: 1 to 10, titles <= 24, button <= 20")
        else:
            raise _Refused(400, 100, "(#100) Invalid interactive type")

    async def _upload(self, request: Request) -> Response:
        _, refused = self._gate(request)
        if refused:
            return refused
        form = await request.form()
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp" or not form.get("type") or upload is None or isinstance(upload, str):
            return _error(400, 100, "(#100) messaging_product, file and type are required")
        media_id = str(2_000_000_000_000 + next(self._ids))
        data = await upload.read()
        self.uploads[media_id] = GraphUpload(request.path_params["phone_number_id"], media_id, data, str(form["type"]), upload.filename)
        return JSONResponse({"id": media_id})

    async def _describe_media(self, request: Request) -> Response:
        _, refused = self._gate(request)
        if refused:
            return refused
        media_id = request.path_params["media_id"]
        if media_id not in self.media:
            return _error(404, 100, f"(#100) Unsupported get request. Object with ID '{media_id}' does not exist")
        data, mime_type = self.media[media_id]
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/whatsapp_business/attachments/?mid={media_id}&ext={int(time.time())}",
                "mime_type": mime_type,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_size": str(len(data)),
                "id": media_id,
            }
        )

    async def _download(self, request: Request) -> Response:
        _, refused = self._gate(request)
        if refused:
            return refused
        found = self.media.get(request.query_params.get("mid", ""))
        if found is None:
            return Response(status_code=404)
        return Response(found[0], media_type=found[1])

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
