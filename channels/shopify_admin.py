"""Carrying a cancellation or refund the customer confirmed out at Shopify (Admin REST API).

Each call checks the store first and acts only when the action is not there yet, so a retry
after a crash between Shopify's answer and our record of it does not act twice:
- cancel: GET the order; already `cancelled_at` → done; else POST orders/{id}/cancel.json.
- refund: GET the order's refunds; one whose note carries our action id → done; else GET its
  transactions (the successful sale or capture to refund against) and POST orders/{id}/refunds.json
  with the note. The remaining window: two attempts racing inside Shopify's own processing of the
  first POST (the first not yet listed when the second looks) could both refund; Temporal runs one
  attempt at a time, so that needs an attempt to time out while Shopify is still working on it.

Answers: `StoreResult` for what the store decided (done, or refused with its reason: the team
completes it by hand); `StoreUnavailable` for what may pass (429, 5xx, network), to retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from channels.remote_errors import StoreRefused, StoreUnavailable

API_VERSION = "2025-01"
MARKER = "frontdesk-action:"  # in the refund's note: how a retry finds the refund already made
REFUNDABLE_KINDS = ("sale", "capture")
TIMEOUT = httpx.Timeout(20.0, connect=5.0)


@dataclass(frozen=True)
class StoreResult:
    done: bool
    detail: str  # what happened, for the model and the audit
    store_ref: str | None = None  # the store's id of what it did (a refund id)


@dataclass(frozen=True)
class ShopifyAdmin:
    http: httpx.AsyncClient
    base_url: str  # https://{shop}.myshopify.com/admin/api/{version}
    access_token: str

    @classmethod
    def for_account(cls, http: httpx.AsyncClient, config: dict[str, Any], secrets: dict[str, Any]) -> ShopifyAdmin | None:
        """The client for a store account, or None when it has no Admin API token."""
        token = secrets.get("admin_access_token")
        if not token:
            return None
        base = config.get("admin_api_base_url") or f"https://{config['shop_domain']}/admin/api/{API_VERSION}"
        return cls(http, str(base).rstrip("/"), token)

    async def cancel(self, order_id: str, reason: str | None) -> StoreResult:
        order = (await self._call("GET", f"/orders/{order_id}.json", params={"fields": "id,cancelled_at"}))["order"]
        if order.get("cancelled_at"):
            return StoreResult(True, "the order is cancelled at the store")
        # "customer": the customer changed their mind, the reason Shopify's admin shows for this.
        await self._call("POST", f"/orders/{order_id}/cancel.json", json={"reason": "customer", "email": True})
        return StoreResult(True, "cancelled at the store" + (f" ({reason})" if reason else ""))

    async def refund(self, order_id: str, action_id: str, amount: Decimal, currency: str, reason: str | None) -> StoreResult:
        marker = f"{MARKER}{action_id}"
        refunds = (await self._call("GET", f"/orders/{order_id}/refunds.json"))["refunds"]
        for made in refunds:
            if marker in (made.get("note") or ""):
                return StoreResult(True, "refunded at the store", str(made.get("id")))
        transactions = (await self._call("GET", f"/orders/{order_id}/transactions.json"))["transactions"]
        paid = [t for t in transactions if t.get("kind") in REFUNDABLE_KINDS and t.get("status") == "success"]
        if not paid:
            return StoreResult(False, "the store shows no captured payment to refund")
        parent = paid[-1]
        body = {
            "refund": {
                "currency": currency,
                "notify": True,
                "note": f"{reason or 'Refund agreed with the customer'} [{marker}]",
                "transactions": [
                    {"parent_id": parent["id"], "amount": f"{amount:.2f}", "kind": "refund", "gateway": parent.get("gateway")}
                ],
            }
        }
        made = (await self._call("POST", f"/orders/{order_id}/refunds.json", json=body))["refund"]
        return StoreResult(True, "refunded at the store", str(made.get("id")))

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.http.request(
                method, self.base_url + path, headers={"X-Shopify-Access-Token": self.access_token}, timeout=TIMEOUT, **kwargs
            )
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"Shopify unreachable: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = response.headers.get("Retry-After")
            raise StoreUnavailable(f"Shopify answered {response.status_code}", float(retry_after) if _number(retry_after) else None)
        if response.status_code >= 400:
            raise StoreRefused(f"Shopify refused ({response.status_code}): {_errors(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise StoreUnavailable("Shopify answered with something other than JSON") from exc


def _number(value: str | None) -> bool:
    try:
        return value is not None and float(value) >= 0
    except ValueError:
        return False


def _errors(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("errors") or body.get("error") or body)[:200]
