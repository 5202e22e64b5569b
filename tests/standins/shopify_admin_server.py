"""A loopback server speaking the part of Shopify's Admin REST API (version in the path) that
order actions use, with orders held in memory; records every change it makes.

- `GET /admin/api/{version}/orders/{id}.json`: `{"order": {...}}` (`fields` narrows it).
- `POST .../orders/{id}/cancel.json`: sets `cancelled_at`; 422 `{"errors": ...}` when it already is.
- `GET .../orders/{id}/transactions.json`: `{"transactions": [...]}`.
- `GET .../orders/{id}/refunds.json`, `POST .../orders/{id}/refunds.json` (`{"refund": {...}}`):
  201 with the refund; 422 when the amount exceeds what the parent transaction has left.
Every request needs `X-Shopify-Access-Token` among `valid_tokens` (401 otherwise); an unknown
order is 404 `{"errors": "Not Found"}`. `fail_next` answers that many requests 503 first.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PREFIX = "/admin/api/{version}/orders/{order_id}"


@dataclass
class ShopifyAdminStandIn:
    url: str = ""
    valid_tokens: set[str] = field(default_factory=set)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    transactions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refunds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cancels: list[str] = field(default_factory=list)  # order ids, one per cancel carried out
    fail_next: int = 0
    _ids: itertools.count = field(default_factory=lambda: itertools.count(900001))

    def base_url(self) -> str:
        return f"{self.url}/admin/api/2025-01"

    def add_paid_order(self, order_id: str, amount: str, gateway: str = "shopify_payments") -> None:
        self.orders[order_id] = {"id": int(order_id), "cancelled_at": None, "financial_status": "paid"}
        self.transactions[order_id] = [
            {"id": next(self._ids), "kind": "sale", "status": "success", "amount": amount, "gateway": gateway, "parent_id": None}
        ]
        self.refunds[order_id] = []

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(PREFIX + ".json", self._order, methods=["GET"]),
                Route(PREFIX + "/cancel.json", self._cancel, methods=["POST"]),
                Route(PREFIX + "/transactions.json", self._transactions, methods=["GET"]),
                Route(PREFIX + "/refunds.json", self._list_refunds, methods=["GET"]),
                Route(PREFIX + "/refunds.json", self._refund, methods=["POST"]),
            ]
        )

    def _check(self, request: Request) -> tuple[str, JSONResponse | None]:
        order_id = request.path_params["order_id"]
        if self.fail_next > 0:
            self.fail_next -= 1
            return order_id, JSONResponse({"errors": "Service Unavailable"}, status_code=503)
        if request.headers.get("x-shopify-access-token") not in self.valid_tokens:
            return order_id, JSONResponse({"errors": "[API] Invalid API key or access token"}, status_code=401)
        if order_id not in self.orders:
            return order_id, JSONResponse({"errors": "Not Found"}, status_code=404)
        return order_id, None

    async def _order(self, request: Request) -> JSONResponse:
        order_id, refused = self._check(request)
        if refused:
            return refused
        order = self.orders[order_id]
        fields = request.query_params.get("fields")
        if fields:
            order = {k: v for k, v in order.items() if k in fields.split(",")}
        return JSONResponse({"order": order})

    async def _cancel(self, request: Request) -> JSONResponse:
        order_id, refused = self._check(request)
        if refused:
            return refused
        if self.orders[order_id]["cancelled_at"]:
            return JSONResponse({"errors": "Cannot cancel an order that has already been cancelled"}, status_code=422)
        self.orders[order_id]["cancelled_at"] = "2026-11-23T12:00:00-05:00"
        self.cancels.append(order_id)
        return JSONResponse({"order": self.orders[order_id]})

    async def _transactions(self, request: Request) -> JSONResponse:
        order_id, refused = self._check(request)
        return refused or JSONResponse({"transactions": self.transactions[order_id]})

    async def _list_refunds(self, request: Request) -> JSONResponse:
        order_id, refused = self._check(request)
        return refused or JSONResponse({"refunds": self.refunds[order_id]})

    async def _refund(self, request: Request) -> JSONResponse:
        order_id, refused = self._check(request)
        if refused:
            return refused
        body = (await request.json())["refund"]
        parents = {t["id"]: t for t in self.transactions[order_id]}
        made = []
        for wanted in body.get("transactions", []):
            parent = parents.get(wanted.get("parent_id"))
            if parent is None or wanted.get("kind") != "refund":
                return JSONResponse({"errors": {"transactions": ["parent_id is invalid"]}}, status_code=422)
            refunded = sum(Decimal(t["amount"]) for t in self.transactions[order_id] if t.get("parent_id") == parent["id"])
            if Decimal(wanted["amount"]) + refunded > Decimal(parent["amount"]):
                return JSONResponse({"errors": {"amount": ["must be less than or equal to the refundable amount"]}}, status_code=422)
            transaction = {
                "id": next(self._ids), "kind": "refund", "status": "success", "amount": wanted["amount"],
                "gateway": wanted.get("gateway"), "parent_id": parent["id"],
            }  # fmt: skip
            self.transactions[order_id].append(transaction)
            made.append(transaction)
        refund = {"id": next(self._ids), "order_id": int(order_id), "note": body.get("note"), "transactions": made}
        self.refunds[order_id].append(refund)
        return JSONResponse({"refund": refund}, status_code=201)
