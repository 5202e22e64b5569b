"""Twilio Programmable Messaging: SMS/MMS and WhatsApp through Twilio.

Inbound: Twilio POSTs `application/x-www-form-urlencoded` parameters (MessageSid, From, Body,
NumMedia + MediaUrl{N}/MediaContentType{N}, WhatsApp's Latitude/Longitude and
ButtonText/ButtonPayload) signed with `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the
account's auth token, of the URL Twilio called followed by every POST parameter, sorted by name,
as name + value. Behind a proxy that URL is the public one (WebhookRequest.url), and Twilio's own
validators accept it with or without the scheme's default port, so we do too.

Status callbacks (MessageStatus + ErrorCode) reach the same route when the account's
`status_callback` is its webhook URL. Each send adds `frontdesk_ref=<idempotency key>` to that
URL; Twilio signs the URL it calls, so the reference comes back authenticated and a retried send
can learn that an earlier attempt got through (`receipts_echo_reference`).

Consent: a message that is only a STOP-family keyword is an opt-out, START/UNSTOP an opt-in
(Twilio's standard keywords, any case), and Twilio's `OptOutType` (Advanced Opt-Out) wins when
present. Twilio itself confirms these to the customer, so the turn stays silent.

WhatsApp through Twilio: the account's sender is `whatsapp:+E164`. Contacts are kept without
the `whatsapp:` prefix (the same person on SMS and WhatsApp is one phone number) and it is put
back on every send from a WhatsApp sender.

Outbound: `POST {api}/2010-04-01/Accounts/{sid}/Messages.json` with To, From, Body and MediaUrl
(basic auth sid:token). Twilio fetches media itself, so only media with a public URL can go;
a file that exists only in our storage (OutboundMedia.path) is left out and the text goes alone,
since a reply without its attachment is better than no reply. SMS shows no buttons: render.fit
turns them into numbered text before `send` is called.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx

from channels.base import (
    AdapterDefaults,
    Attachment,
    Capabilities,
    ChannelError,
    InboundMessage,
    Location,
    OutboundMessage,
    ParsedWebhook,
    PayloadError,
    SendResult,
    SignatureError,
    StatusUpdate,
    WebhookAck,
    WebhookRequest,
)
from core.ids import is_valid_contact

DEFAULT_API_BASE_URL = "https://api.twilio.com"
MAX_BODY_CHARS = 1600  # Twilio's limit for a message Body
MAX_MEDIA = 10  # Twilio sends at most 10 MediaUrl{N} per message
MAX_MESSAGE_ID_CHARS = 200
WHATSAPP_PREFIX = "whatsapp:"
REFERENCE_PARAM = "frontdesk_ref"  # our idempotency key, added to the StatusCallback URL
UNSUBSCRIBED_RECIPIENT = 21610  # Twilio error: the recipient replied STOP to this sender
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
# Twilio also takes "YES" as an opt-in, but here it more often answers the agent's question:
# it counts only when Twilio itself says so (OptOutType=START, Advanced Opt-Out).
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
# Advanced Opt-Out names the keyword class it matched; HELP changes nothing.
OPT_OUT_TYPES = {"STOP": "opt_out", "START": "opt_in"}
# Twilio's MessageStatus -> our delivery states (models/messages_store.py ranks them).
# `undelivered` is a carrier's refusal: for the customer it is a failure. Others
# (accepted, scheduled, sending, canceled...) are acknowledged and ignored.
STATUSES = {"queued": "queued", "sent": "sent", "delivered": "delivered", "read": "read", "undelivered": "failed", "failed": "failed"}
INBOUND_STATUSES = frozenset({"received", "receiving"})


def signature(auth_token: str, url: str, params: dict[str, list[str]]) -> str:
    """X-Twilio-Signature for a POST of `params` to `url` (repeated names: values sorted)."""
    signed = url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, without its port and with the scheme's default port: Twilio signs
    whichever it called, and a proxy may add or drop the port on the way."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url, urlunsplit(parts._replace(netloc=prefix + host))]
    if default_port:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default_port}")))
    return list(dict.fromkeys(variants))


def _form(body: bytes) -> dict[str, list[str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not UTF-8 form data: {exc}") from exc
    try:
        return parse_qs(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=200)
    except ValueError as exc:
        raise PayloadError(f"body is not application/x-www-form-urlencoded: {exc}") from exc


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""


def _coordinate(form: dict[str, list[str]], name: str, limit: float) -> float | None:
    value = _one(form, name)
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise PayloadError(f"{name} must be a number, got {value[:32]!r}") from None
    if not -limit <= number <= limit:  # also refuses nan and inf, which JSON columns cannot hold
        raise PayloadError(f"{name} must be a number from -{limit:g} to {limit:g}")
    return number


def contact_of(address: str) -> str:
    """The contact a Twilio address names: `whatsapp:+14155550100` -> `+14155550100`."""
    return address[len(WHATSAPP_PREFIX) :] if address.lower().startswith(WHATSAPP_PREFIX) else address


def _consent(body: str, opt_out_type: str) -> str | None:
    if opt_out_type:
        return OPT_OUT_TYPES.get(opt_out_type.strip().upper())
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return "opt_out"
    if word in OPT_IN_KEYWORDS:
        return "opt_in"
    return None


def _media_kind(mime_type: str) -> str:
    major = mime_type.split("/", 1)[0].lower()
    return major if major in {"image", "audio", "video"} else "document"


def _attachments(form: dict[str, list[str]]) -> list[Attachment]:
    raw = _one(form, "NumMedia") or "0"
    if not raw.isdigit() or int(raw) > MAX_MEDIA:
        raise PayloadError(f"NumMedia must be a whole number from 0 to {MAX_MEDIA}")
    attachments = []
    for n in range(int(raw)):
        url = _one(form, f"MediaUrl{n}")
        if not url.startswith(("https://", "http://")):
            raise PayloadError(f"MediaUrl{n} must be an http(s) URL")
        mime_type = _one(form, f"MediaContentType{n}")
        attachments.append(Attachment(kind=_media_kind(mime_type), url=url, mime_type=mime_type or None))
    return attachments


def twilio_error(response: httpx.Response) -> ChannelError:
    """Twilio's error body is `{"code", "message", "more_info", "status"}`."""
    try:
        error = response.json()
    except ValueError:
        error = None
    if not isinstance(error, dict):
        error = {}
    code = error.get("code")
    message = str(error.get("message") or response.text[:200])
    if code == UNSUBSCRIBED_RECIPIENT:
        message = f"the recipient opted out of this sender (replied STOP); Twilio refuses until they reply START: {message}"
    detail = f"twilio {response.status_code}" + (f" error {code}" if code else "") + f": {message}"
    retryable = response.status_code == 429 or response.status_code >= 500
    try:
        retry_after = float(response.headers.get("retry-after", ""))
    except ValueError:
        retry_after = None
    return ChannelError(detail, status=response.status_code, retryable=retryable, retry_after=retry_after)


def _with_reference(url: str, reference: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({REFERENCE_PARAM: reference})))


def _same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


class TwilioAdapter(AdapterDefaults):
    name = "twilio"
    receipts_echo_reference = True  # through `frontdesk_ref` on the status callback URL
    capabilities = Capabilities(
        max_text_chars=MAX_BODY_CHARS,
        max_buttons=0,
        max_list_rows=0,
        media_kinds=frozenset({"image", "audio", "voice", "video", "document"}),
    )

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def verify(self, request: WebhookRequest, secrets: dict[str, Any]) -> None:
        auth_token = secrets.get("auth_token")
        if not auth_token:
            raise SignatureError("channel account has no Twilio auth token configured")
        header = request.headers.get("x-twilio-signature", "")
        if not header:
            raise SignatureError("missing X-Twilio-Signature header")
        try:
            params = _form(request.body)
        except PayloadError:
            raise SignatureError("X-Twilio-Signature does not match: the body is not form data Twilio signed") from None
        for url in _url_variants(request.url):
            # Bytes, not str: compare_digest raises TypeError on non-ASCII str (a forged header).
            if hmac.compare_digest(signature(auth_token, url, params).encode(), header.encode("utf-8", "replace")):
                return
        raise SignatureError("X-Twilio-Signature does not match the URL and parameters (check the public URL setting behind a proxy)")

    def webhook_ack(self, parsed: ParsedWebhook) -> WebhookAck | None:
        return WebhookAck(body=EMPTY_TWIML, media_type="text/xml")

    def parse(self, request: WebhookRequest, channel_account_id: str) -> ParsedWebhook:
        form = _form(request.body)
        sid = _one(form, "MessageSid") or _one(form, "SmsSid")
        if not sid:
            raise PayloadError("expected MessageSid")
        if len(sid) > MAX_MESSAGE_ID_CHARS:
            raise PayloadError(f"MessageSid is longer than {MAX_MESSAGE_ID_CHARS} characters")
        status = _one(form, "MessageStatus")
        if status and status not in INBOUND_STATUSES:
            return ParsedWebhook(statuses=self._statuses(form, sid, status, request.query))
        return ParsedWebhook(messages=[self._message(form, sid, channel_account_id)])

    def _statuses(self, form: dict[str, list[str]], sid: str, status: str, query: dict[str, str]) -> list[StatusUpdate]:
        if status not in STATUSES:
            return []
        errors = []
        if code := _one(form, "ErrorCode"):
            error: dict[str, Any] = {"code": int(code) if code.isdigit() else code, "twilio_status": status}
            if message := _one(form, "ErrorMessage"):
                error["message"] = message
            errors.append(error)
        reference = query.get(REFERENCE_PARAM) or None
        return [
            StatusUpdate(
                provider_message_id=sid,
                status=STATUSES[status],
                recipient_id=contact_of(_one(form, "To")) or None,
                errors=errors,
                client_reference=reference if reference and len(reference) <= 512 else None,
            )
        ]

    def _message(self, form: dict[str, list[str]], sid: str, account_id: str) -> InboundMessage:
        contact = contact_of(_one(form, "From"))
        if not is_valid_contact(contact):
            raise PayloadError("From must be a phone number (or whatsapp:+number)")
        body = _one(form, "Body")
        attachments = _attachments(form)
        latitude, longitude = _coordinate(form, "Latitude", 90), _coordinate(form, "Longitude", 180)
        button_text, button_payload = _one(form, "ButtonText"), _one(form, "ButtonPayload")
        message = InboundMessage(
            channel=self.name,
            channel_account_id=account_id,
            external_id=sid,
            contact_id=contact,
            text=body,
            contact_name=_one(form, "ProfileName") or None,
            attachments=attachments,
            reply_to_external_id=_one(form, "OriginalRepliedMessageSid") or None,
        )
        if button_text or button_payload:
            message.kind, message.text = "reply", button_text or body
            message.reply_payload = button_payload or None
        elif latitude is not None and longitude is not None:
            label, address = _one(form, "Label") or None, _one(form, "Address") or None
            message.kind = "location"
            message.location = Location(latitude, longitude, name=label, address=address)
            message.text = body or " ".join(["[location]", *[part for part in (label, address) if part]])
        elif attachments:
            message.kind = attachments[0].kind
            attachments[0].caption = body or None
            message.text = f"[{message.kind}] {body}" if body else f"[{message.kind}]"
        else:
            message.consent = _consent(body, _one(form, "OptOutType"))
        return message

    async def send(self, message: OutboundMessage, config: dict[str, Any], secrets: dict[str, Any]) -> SendResult:
        account_sid, sender, token = config.get("account_sid"), config.get("from_number"), secrets.get("auth_token")
        if not account_sid or not sender or not token:
            raise ChannelError("channel account lacks account_sid, from_number or auth_token", status=None, retryable=False)
        to = message.to
        if sender.startswith(WHATSAPP_PREFIX) and not to.startswith(WHATSAPP_PREFIX):
            to = WHATSAPP_PREFIX + to
        form = {"To": to, "From": sender, "Body": message.text[:MAX_BODY_CHARS]}
        if message.media is not None and message.media.url:
            form["MediaUrl"] = message.media.url
        if callback := config.get("status_callback"):
            form["StatusCallback"] = _with_reference(str(callback), message.idempotency_key)
        base_url = str(config.get("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/")
        url = f"{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"
        try:
            response = await self._http.post(url, data=form, auth=(account_sid, token))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ChannelError(f"twilio unreachable: {exc!r}", status=None, retryable=True) from exc
        except httpx.HTTPError as exc:
            raise ChannelError(f"twilio did not answer: {exc!r}", status=None, retryable=True, maybe_delivered=True) from exc
        if response.status_code >= 400:
            raise twilio_error(response)
        try:
            return SendResult(provider_message_id=str(response.json()["sid"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ChannelError("twilio answered without a message sid", status=response.status_code, retryable=True) from exc

    async def fetch_media(self, attachment: Attachment, config: dict[str, Any], secrets: dict[str, Any]) -> tuple[bytes, str | None]:
        if not attachment.url:
            raise ChannelError("the attachment has no Twilio MediaUrl", status=None, retryable=False)
        base_url = str(config.get("api_base_url") or DEFAULT_API_BASE_URL)
        # Media may require HTTP basic auth (an account setting); the token goes only to Twilio's
        # own API host, and httpx drops it when Twilio redirects to the storage host.
        auth = (config.get("account_sid", ""), secrets.get("auth_token", "")) if _same_origin(attachment.url, base_url) else None
        try:
            response = await self._http.get(attachment.url, auth=auth, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise ChannelError(f"twilio media download failed: {exc!r}", status=None, retryable=True) from exc
        if response.status_code >= 400:
            raise twilio_error(response)
        return response.content, response.headers.get("content-type") or attachment.mime_type

