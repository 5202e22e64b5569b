"""A loopback server speaking the Messenger Platform's Send API and Attachment Upload API (the
same for Messenger and Instagram), plus a CDN serving attachment files; records what it got.

It refuses what Graph refuses, with Graph's error body: an unknown token (190, HTTP 401), a
message with neither text nor attachment, text over 2000 characters, more than 13 quick replies
or a quick-reply title over 20 characters (100, HTTP 400). `fail_next` makes the next call
answer with a given status and error.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class SendApiCall:
    node: str  # the Page id in the path, or "me"
    token: str
    body: dict[str, Any]
    message_id: str

    @property
    def recipient(self) -> str:
        return self.body["recipient"]["id"]


@dataclass
class Upload:
    node: str
    token: str
    form: dict[str, str]  # the non-file fields, as sent
    filename: str
    content_type: str
    data: bytes
    attachment_id: str


@dataclass
class Failure:
    status: int
    error: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _graph_error(status: int, message: str, code: int, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AxStandIn", **extra}}, status)


@dataclass
class MessengerStandIn:
    url: str = ""  # set once served
    valid_tokens: set[str] = field(default_factory=set)
    sends: list[SendApiCall] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    cdn: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # name -> (bytes, content type)
    fail_next: list[Failure] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/{version}/{node}/messages", self._send, methods=["POST"]),
                Route("/{version}/{node}/message_attachments", self._upload, methods=["POST"]),
                Route("/cdn/{name}", self._cdn, methods=["GET"]),
            ]
        )

    def sends_to(self, recipient: str) -> list[SendApiCall]:
        return [s for s in self.sends if s.recipient == recipient]

    def _refusal(self, request: Request) -> Response | None:
        if self.fail_next:
            failure = self.fail_next.pop(0)
            return JSONResponse({"error": failure.error}, failure.status, headers=failure.headers)
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.valid_tokens:
            return _graph_error(401, "Invalid OAuth access token - Cannot parse access token", 190)
        return None

    async def _send(self, request: Request) -> Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        body = await request.json()
        message = body.get("message") or {}
        if not (body.get("recipient") or {}).get("id"):
            return _graph_error(400, "(#100) The parameter recipient is required", 100)
        if not message.get("text") and not message.get("attachment"):
            return _graph_error(400, "(#100) Must send either message or state", 100)
        if len(message.get("text") or "") > 2000:
            return _graph_error(400, "(#100) Length of param message[text] must be less than or equal to 2000", 100)
        quick_replies = message.get("quick_replies") or []
        if len(quick_replies) > 13 or any(len(q.get("title", "")) > 20 for q in quick_replies):
            return _graph_error(400, "(#100) param message[quick_replies] must have at most 13 items of title <= 20", 100)
        call = SendApiCall(request.path_params["node"], request.headers["authorization"][7:], body, f"m_standin{next(self._ids):06d}")
        self.sends.append(call)
        return JSONResponse({"recipient_id": body["recipient"]["id"], "message_id": call.message_id})

    async def _upload(self, request: Request) -> Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        form = await request.form()
        filedata = form.get("filedata")
        if not isinstance(filedata, UploadFile):
            return _graph_error(400, "(#100) Upload attachment failure.", 100)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        attachment = (json.loads(fields.get("message") or "{}").get("attachment")) or {}
        if attachment.get("type") not in {"image", "audio", "video", "file"}:
            return _graph_error(400, "(#100) Param message[attachment][type] must be one of {IMAGE, AUDIO, VIDEO, FILE}", 100)
        upload = Upload(
            node=request.path_params["node"],
            token=request.headers["authorization"][7:],
            form=fields,
            filename=filedata.filename or "",
            content_type=filedata.content_type or "",
            data=await filedata.read(),
            attachment_id=str(1857777774821000 + next(self._ids)),
        )
        self.uploads.append(upload)
        return JSONResponse({"attachment_id": upload.attachment_id})

    async def _cdn(self, request: Request) -> Response:
        found = self.cdn.get(request.path_params["name"])
        if found is None:  # an expired or unsent attachment: the CDN's plain 404
            return Response("URL signature expired", 404, media_type="text/plain")
        return Response(found[0], media_type=found[1])
