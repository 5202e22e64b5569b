"""Support staff see what the agent did in a conversation: each tool call with its arguments,
result, status and latency; never another tenant's."""

from __future__ import annotations

import uuid

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.tools import RunToolInput, ToolActivities
from api.main import create_app
from api.routes import tool_calls
from tests.agent.shop import Shopper, add_order, new_shopper
from tests.api.admin.conftest import admin_key_for, bearer, key_with, new_admin_tenant
from tests.api.app_routes import api_routes
from tests.factories import create_tenant
from tests.standins.serve import serve

ROUTE = "/v1/conversations/{conversation_id}/tool-calls"


@pytest.fixture
async def api_http(settings):
    """The app as served, with this router included if api/main.py does not include it yet."""
    app = create_app(settings)
    if not any(route.path == ROUTE for route in api_routes(app.routes)):
        app.include_router(tool_calls.router)
    server = await serve(app)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client
    await server.stop()


async def _call(deps, shopper: Shopper, name: str, arguments: dict, **extra) -> None:
    input = RunToolInput(
        tenant_id=shopper.tenant_id, conversation_id=shopper.conversation_id, customer_id=shopper.customer_id, channel="whatsapp",
        call_id=f"call_{uuid.uuid4().hex[:8]}", name=name, arguments=arguments, idempotency_key=f"conv:test:{uuid.uuid4()}", **extra,
    )  # fmt: skip
    await ActivityEnvironment().run(ToolActivities(deps).run_tool, input)


async def test_a_conversations_tool_calls_are_listed_newest_first_and_only_to_its_tenant(
    api_http, deps, tenant, openai_standin, graph_standin
):
    shopper = await new_shopper(deps.sessions, tenant)
    await add_order(deps.sessions, shopper, "#1001")
    await _call(deps, shopper, "track_order", {"order_number": "1001"})
    await _call(deps, shopper, "refund_order", {"order_number": "1001", "amount": 10}, confirmed=True)
    await _call(deps, shopper, "list_orders", {"limit": 99})
    elsewhere = await new_shopper(deps.sessions, tenant, name="Someone Else")
    await _call(deps, elsewhere, "get_customer_profile", {})

    admin = bearer(await admin_key_for(deps, tenant.tenant_id))
    url = f"/v1/conversations/{shopper.conversation_id}/tool-calls"
    r = await api_http.get(url, headers=admin)
    assert r.status_code == 200, r.text
    calls = r.json()["items"]
    assert [(c["tool"], c["status"]) for c in calls] == [
        ("list_orders", "invalid"),
        ("refund_order", "ok"),
        ("track_order", "ok"),
    ]
    refund = calls[1]
    assert refund["arguments"] == {"order_number": "1001", "amount": 10} and refund["result"]["refunded"] == "10.00"
    assert refund["result"]["store_synced"] is False and refund["latency_ms"] >= 0 and refund["error"] is None
    assert calls[0]["error"].startswith("invalid arguments for list_orders: limit: 99")
    assert {c["conversation_id"] for c in calls} == {shopper.conversation_id}

    first = (await api_http.get(url, params={"limit": 2}, headers=admin)).json()
    rest = (await api_http.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin)).json()
    assert [c["id"] for c in first["items"] + rest["items"]] == [c["id"] for c in calls] and rest["next_cursor"] is None
    ok = (await api_http.get(url, params={"status": "ok", "tool": "refund_order"}, headers=admin)).json()["items"]
    assert [c["id"] for c in ok] == [refund["id"]]
    assert (await api_http.get(url, params={"status": "running"}, headers=admin)).status_code == 422
    assert (await api_http.get(url, params={"cursor": "not-a-cursor"}, headers=admin)).status_code == 422

    other = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    outsider = await api_http.get(url, headers=bearer(await admin_key_for(deps, other.tenant_id)))
    assert outsider.status_code == 404 and outsider.json()["detail"] == f"no conversation {shopper.conversation_id}"
    never = await api_http.get(f"/v1/conversations/{uuid.uuid4()}/tool-calls", headers=admin)
    assert never.status_code == 404


async def test_reading_tool_calls_needs_the_conversations_read_scope(api_http, http):
    t = await new_admin_tenant(http)
    knowledge_only = await key_with(http, t, "knowledge:read")
    r = await api_http.get(f"/v1/conversations/{uuid.uuid4()}/tool-calls", headers=bearer(knowledge_only["key"]))
    assert r.status_code == 403 and "conversations:read" in r.json()["detail"]
    assert (await api_http.get(f"/v1/conversations/{uuid.uuid4()}/tool-calls")).status_code == 401
