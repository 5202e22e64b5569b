"""What WhatsApp Cloud, Messenger and Instagram share: Meta's webhook signature and
subscription handshake, and the Graph API's error format."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx

from channels.base import ChannelError, PayloadError, SignatureError, WebhookRequest


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


def graph_error(response: httpx.Response) -> ChannelError:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    detail = f"graph API {response.status_code}: {error.get('message') or response.text[:200]}"
    retry_after = float_or_none(response.headers.get("retry-after"))
    retryable = response.status_code == 429 or response.status_code >= 500
    return ChannelError(detail, status=response.status_code, retryable=retryable, retry_after=retry_after)


async def post_graph(http: httpx.AsyncClient, url: str, token: str, **kwargs: Any) -> httpx.Response:
    """A Graph API POST with our error mapping: unreachable is retryable; no answer may mean
    it was accepted (`maybe_delivered`)."""
    try:
        response = await http.post(url, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise ChannelError(f"graph API unreachable: {exc!r}", status=None, retryable=True) from exc
    except httpx.HTTPError as exc:
        raise ChannelError(f"graph API did not answer: {exc!r}", status=None, retryable=True, maybe_delivered=True) from exc
    if response.status_code >= 400:
        raise graph_error(response)
    return response
