"""What WhatsApp Cloud, Messenger and Instagram share: Meta's webhook signature and
subscription handshake, and the Graph API's error format."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from channels.base import AdapterDefaults, ChannelError, PayloadError, SignatureError, WebhookRequest


def float_or_none(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def verify_signature(request: WebhookRequest, secrets: dict[str, Any]) -> None:
    """`X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the app secret."""
    app_secret = secrets.get("app_secret")
    if not app_secret:
        raise SignatureError("channel account has no app secret configured")
    header = request.headers.get("x-hub-signature-256", "")
    if not header.startswith("sha256="):
        raise SignatureError("missing X-Hub-Signature-256 header")
    expected = hmac.new(app_secret.encode(), request.body, hashlib.sha256).hexdigest()
    # Bytes, not str: compare_digest raises TypeError on non-ASCII str (a forged header).
    if not hmac.compare_digest(header[len("sha256=") :].encode(), expected.encode()):
        raise SignatureError("X-Hub-Signature-256 does not match the body")


def handshake(query: dict[str, str], secrets: dict[str, Any]) -> str:
    """Meta's subscription check: echo `hub.challenge` when `hub.verify_token` matches."""
    missing = [k for k in ("hub.mode", "hub.verify_token", "hub.challenge") if not query.get(k)]
    if missing:
        raise PayloadError(f"the subscription check lacks {', '.join(missing)}")
    expected = str(secrets.get("verify_token") or "")
    token = query.get("hub.verify_token", "")
    challenge = query.get("hub.challenge", "")
    if query.get("hub.mode") != "subscribe" or not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise SignatureError("hub.mode must be 'subscribe' and hub.verify_token must match")
    if len(challenge) > 512:
        raise PayloadError("hub.challenge is longer than 512 characters")
    return challenge


def webhook_entries(request: WebhookRequest, expected_object: str) -> list[dict[str, Any]]:
    """The `entry` list of a Meta webhook body (WhatsApp, Messenger and Instagram share the
    envelope), or PayloadError."""
    try:
        payload = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from exc
    except RecursionError:  # a signed body can still be hostile: nesting deeper than ours
        raise PayloadError("body is nested too deeply") from None
    if not isinstance(payload, dict) or payload.get("object") != expected_object:
        raise PayloadError(f"expected object '{expected_object}'")
    entries = payload.get("entry")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise PayloadError("expected 'entry' to be a list of objects")
    return entries


# Graph reports throttling and transient faults with these codes, often on an HTTP 400.
TRANSIENT_ERROR_CODES = frozenset({1, 2, 4, 17, 32, 341, 613})


def _error_object(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


def graph_error_code(response: httpx.Response) -> Any:
    return _error_object(response).get("code")


def graph_error(response: httpx.Response) -> ChannelError:
    error = _error_object(response)
    detail = f"graph API {response.status_code}: {error.get('message') or response.text[:200]}"
    retry_after = float_or_none(response.headers.get("retry-after"))
    retryable = (
        response.status_code == 429
        or response.status_code >= 500
        or error.get("is_transient") is True
        or error.get("code") in TRANSIENT_ERROR_CODES
    )
    return ChannelError(detail, status=response.status_code, retryable=retryable, retry_after=retry_after)


async def graph_request(
    http: httpx.AsyncClient, method: str, url: str, token: str, *, may_deliver: bool = False, **kwargs: Any
) -> httpx.Response:
    """One Graph API call; the response whatever its status (callers map errors with
    `graph_error`, after reading codes of their own). No response is a ChannelError: unreachable
    is retryable; no answer to a send (`may_deliver`) may mean it was accepted (`maybe_delivered`)."""
    try:
        response = await http.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise ChannelError(f"graph API unreachable: {exc!r}", status=None, retryable=True) from exc
    except httpx.HTTPError as exc:
        raise ChannelError(f"graph API did not answer: {exc!r}", status=None, retryable=True, maybe_delivered=may_deliver) from exc
    return response


async def post_graph(http: httpx.AsyncClient, url: str, token: str, **kwargs: Any) -> httpx.Response:
    """A Graph API send: POST, errors raised as ChannelError."""
    response = await graph_request(http, "POST", url, token, may_deliver=True, **kwargs)
    if response.status_code >= 400:
        raise graph_error(response)
    return response


class MetaAdapter(AdapterDefaults):
    """What the adapters of Meta's channels share: the Graph client, Meta's signature check and
    its subscription handshake."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def verify(self, request: WebhookRequest, secrets: dict[str, Any]) -> None:
        verify_signature(request, secrets)

    def handshake(self, query: dict[str, str], secrets: dict[str, Any]) -> str | None:
        return handshake(query, secrets)
