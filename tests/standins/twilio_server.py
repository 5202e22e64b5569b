"""A loopback server speaking Twilio's Programmable Messaging REST API; records sends.

- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: form-encoded, HTTP basic auth
  (AccountSid:AuthToken); answers 201 with the Message resource, or Twilio's error body
  `{"code", "message", "more_info", "status"}` (20003 bad credentials, 21604/21602 missing
  To/Body, 21610 a recipient who replied STOP, 20429 when told to throttle).
- `GET /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}`: the bytes
  registered in `media`, behind basic auth as on accounts with media authentication.
- Like Twilio, a send with a StatusCallback is reported there: a signed `sent` callback.

`twilio_signature` is written here independently of channels/twilio.py, from Twilio's
description, so the adapter's verification is checked against a second implementation.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    data = url
    for name in sorted({n for n, _ in params}):
        for value in sorted({v for n, v in params if n == name}):
            data += name + value
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


@dataclass
class TwilioSend:
    account_sid: str
    form: list[tuple[str, str]]  # exactly as posted, in order
    sid: str

    def value(self, name: str) -> str | None:
        return next((v for n, v in self.form if n == name), None)

    @property
    def to(self) -> str | None:
        return self.value("To")

    @property
    def body(self) -> str | None:
        return self.value("Body")


@dataclass
class TwilioStandIn:
    url: str = ""  # set once served
    auth_tokens: dict[str, str] = field(default_factory=dict)  # AccountSid -> AuthToken
    sends: list[TwilioSend] = field(default_factory=list)
    unsubscribed: set[str] = field(default_factory=set)  # To addresses that replied STOP at Twilio
    fail_with: int | None = None  # answer every send with this HTTP status (429, 500...)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (bytes, content type)
    receipt_delay_seconds: float = 0.1
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _tasks: set[asyncio.Task] = field(default_factory=set)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{account_sid}/Messages.json", self._create, methods=["POST"]),
                Route("/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}", self._media, methods=["GET"]),
            ]
        )

    def sends_to(self, to: str) -> list[TwilioSend]:
        return [s for s in self.sends if s.to == to]

    def add_media(self, account_sid: str, content: bytes, content_type: str) -> str:
        path = f"/2010-04-01/Accounts/{account_sid}/Messages/MM{next(self._ids):032x}/Media/ME{next(self._ids):032x}"
        self.media[path] = (content, content_type)
        return self.url + path

    def _authorised(self, request: Request, account_sid: str) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        token = self.auth_tokens.get(account_sid)
        return user == account_sid and token is not None and hmac.compare_digest(password, token)

    @staticmethod
    def _error(status: int, code: int, message: str) -> JSONResponse:
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
        return JSONResponse(body, status_code=status)

    async def _create(self, request: Request) -> Response:
        account_sid = request.path_params["account_sid"]
        if not self._authorised(request, account_sid):
            return self._error(401, 20003, "Authenticate")
        if self.fail_with == 429:
            return self._error(429, 20429, "Too Many Requests")
        if self.fail_with:
            return self._error(self.fail_with, 20500, "Internal Server Error")
        form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        values = dict(form)
        if not values.get("To"):
            return self._error(400, 21604, "A 'To' phone number is required.")
        if not values.get("Body") and not values.get("MediaUrl"):
            return self._error(400, 21602, "Message body is required.")
        if values["To"] in self.unsubscribed:
            return self._error(400, 21610, "Attempt to send to unsubscribed recipient")
        send = TwilioSend(account_sid, form, f"SM{next(self._ids):032x}")
        self.sends.append(send)
        if callback := values.get("StatusCallback"):
            task = asyncio.create_task(self._report_sent(callback, send))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        resource = {
            "account_sid": account_sid, "api_version": "2010-04-01", "body": values.get("Body", ""),
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": values.get("From"), "messaging_service_sid": None,
            "num_media": str(sum(1 for n, _ in form if n == "MediaUrl")), "num_segments": "1", "price": None,
            "price_unit": "USD", "sid": send.sid, "status": "queued", "to": values["To"],
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{send.sid}/Media.json"},
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{send.sid}.json",
        }  # fmt: skip
        return JSONResponse(resource, status_code=201)

    async def _media(self, request: Request) -> Response:
        if not self._authorised(request, request.path_params["account_sid"]):
            return self._error(401, 20003, "Authenticate")
        found = self.media.get(request.url.path)
        if found is None:
            return self._error(404, 20404, f"The requested resource {request.url.path} was not found")
        return Response(found[0], media_type=found[1])

    async def _report_sent(self, callback: str, send: TwilioSend) -> None:
        params = [
            ("AccountSid", send.account_sid), ("ApiVersion", "2010-04-01"), ("From", send.value("From") or ""),
            ("MessageSid", send.sid), ("MessageStatus", "sent"), ("SmsSid", send.sid), ("SmsStatus", "sent"),
            ("To", send.to or ""),
        ]  # fmt: skip
        signature = twilio_signature(self.auth_tokens[send.account_sid], callback, params)
        await asyncio.sleep(self.receipt_delay_seconds)
        async with httpx.AsyncClient(timeout=10) as client:
            for attempt in range(10):
                try:
                    response = await client.post(callback, data=dict(params), headers={"x-twilio-signature": signature})
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(min(0.5 * 2**attempt, 5))
