"""A loopback server speaking the Telegram Bot API (`POST /bot<token>/<method>`, file downloads
under `/file/bot<token>/<path>`); records every call.

Parameters arrive as Telegram accepts them: a JSON body, or multipart/form-data when a file is
uploaded (objects such as reply_markup then travel JSON-encoded in a form field). Answers use
the Bot API's envelope: `{"ok": true, "result": ...}` or `{"ok": false, "error_code": ...,
"description": ..., "parameters": {"retry_after": ...}}`, with the HTTP status equal to the
error code, as Telegram does.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "Frontdesk", "username": "frontdesk_test_bot"}
MEDIA_FIELDS = {"sendPhoto": "photo", "sendVoice": "voice", "sendAudio": "audio", "sendDocument": "document", "sendVideo": "video"}


@dataclass
class Upload:
    filename: str
    content_type: str
    content: bytes


@dataclass
class BotCall:
    method: str
    token: str
    params: dict[str, Any]  # as Telegram reads them: form fields JSON-decoded where they hold objects
    uploads: dict[str, Upload] = field(default_factory=dict)
    multipart: bool = False
    result: Any = None


@dataclass
class TelegramStandIn:
    url: str = ""  # set once served
    valid_tokens: set[str] = field(default_factory=set)
    calls: list[BotCall] = field(default_factory=list)
    # file_id -> (file_path, bytes): what getFile and the download serve
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    # method -> error bodies answered, first come first served, before the method works again
    errors: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    _message_ids: dict[str, itertools.count] = field(default_factory=dict)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._method, methods=["POST", "GET"]),
                Route("/file/bot{token}/{file_path:path}", self._download, methods=["GET"]),
            ]
        )

    def calls_of(self, method: str, chat_id: str | None = None) -> list[BotCall]:
        return [c for c in self.calls if c.method == method and (chat_id is None or str(c.params.get("chat_id")) == chat_id)]

    def sends_to(self, chat_id: str) -> list[BotCall]:
        return [c for c in self.calls if c.method.startswith("send") and str(c.params.get("chat_id")) == chat_id]

    def fail_next(self, method: str, error_code: int, description: str, retry_after: int | None = None) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": error_code, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        self.errors[method].append(body)

    async def _method(self, request: Request) -> Response:
        token, method = request.path_params["token"], request.path_params["method"]
        if token not in self.valid_tokens:
            return _error(401, "Unauthorized")
        params, uploads, multipart = await _params(request)
        call = BotCall(method, token, params, uploads, multipart)
        self.calls.append(call)
        if self.errors.get(method):
            body = self.errors[method].pop(0)
            return JSONResponse(body, status_code=body["error_code"])
        handler = {"getFile": self._get_file, "setWebhook": _set_webhook, "answerCallbackQuery": _answer_callback}.get(method)
        if handler is None and (method == "sendMessage" or method in MEDIA_FIELDS):
            handler = self._send
        if handler is None:
            return _error(404, "Not Found")
        answer = handler(call)
        if isinstance(answer, Response):
            return answer
        call.result = answer
        return JSONResponse({"ok": True, "result": answer})

    def _send(self, call: BotCall) -> Any:
        chat_id = call.params.get("chat_id")
        if chat_id in (None, ""):
            return _error(400, "Bad Request: chat_id is empty")
        for row in (call.params.get("reply_markup") or {}).get("inline_keyboard") or []:
            for button in row:
                if not button.get("text") or len(str(button.get("callback_data", "")).encode()) > 64:
                    return _error(400, "Bad Request: BUTTON_DATA_INVALID")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids.setdefault(str(chat_id), itertools.count(1))),
            "from": BOT_USER,
            "chat": {"id": int(chat_id), "type": "private"},
            "date": int(time.time()),
        }
        if call.method == "sendMessage":
            text = call.params.get("text") or ""
            if not text.strip():
                return _error(400, "Bad Request: message text is empty")
            if len(text) > 4096:
                return _error(400, "Bad Request: message is too long")
            message["text"] = text
        else:
            field_name = MEDIA_FIELDS[call.method]
            if field_name not in call.uploads and not isinstance(call.params.get(field_name), str):
                return _error(400, f"Bad Request: there is no {field_name} in the request")
            caption = call.params.get("caption")
            if caption and len(caption) > 1024:
                return _error(400, "Bad Request: message caption is too long")
            if caption:
                message["caption"] = caption
            message[field_name] = {"file_id": f"AgAC-{call.method}-{message['message_id']}", "file_unique_id": "AQADstandin"}
        if "reply_markup" in call.params:
            message["reply_markup"] = call.params["reply_markup"]
        return message

    def _get_file(self, call: BotCall) -> Any:
        file_id = call.params.get("file_id")
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        path, content = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u{abs(hash(file_id)) % 10**8}", "file_size": len(content), "file_path": path}

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] not in self.valid_tokens:
            return _error(401, "Unauthorized")
        wanted = request.path_params["file_path"]
        for path, content in self.files.values():
            if path == wanted:
                return Response(content, media_type="application/octet-stream")
        return _error(404, "Not Found")


def _set_webhook(call: BotCall) -> Any:
    if not str(call.params.get("url", "")).startswith(("https://", "http://")):
        return _error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    return True


def _answer_callback(call: BotCall) -> Any:
    if not call.params.get("callback_query_id"):
        return _error(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
    return True


def _error(code: int, description: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error_code": code, "description": description}, status_code=code)


async def _params(request: Request) -> tuple[dict[str, Any], dict[str, Upload], bool]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.json()
        return (body if isinstance(body, dict) else {}), {}, False
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        params: dict[str, Any] = {}
        uploads: dict[str, Upload] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                uploads[name] = Upload(value.filename or "", value.content_type or "", await value.read())
            else:
                params[name] = _decoded(value)
        return params, uploads, content_type.startswith("multipart/")
    return dict(request.query_params), {}, False


def _decoded(value: str) -> Any:
    """Form fields holding objects or arrays carry them JSON-encoded."""
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
