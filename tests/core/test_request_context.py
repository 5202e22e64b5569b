"""Request ids: echoed by the API and carried through Temporal into the log lines of the
activities of the turn the request started."""

from __future__ import annotations

import re

import httpx
import pytest
import structlog

from api.main import create_app
from api.request_id import RequestIdMiddleware
from core.ids import conversation_workflow_id
from tests.factories import eventually, new_phone, new_wamid, signature, whatsapp_payload
from tests.standins.serve import serve


@pytest.fixture
async def api_http(settings, worker):
    # Wrapped here as api/main.py does; an outer RequestIdMiddleware makes the inner one a no-op.
    server = await serve(RequestIdMiddleware(create_app(settings)))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client
    await server.stop()


@pytest.fixture
def activity_lines():
    """Every structlog line written while the test runs, with the bound context merged in."""
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as lines:
        yield lines


def _activities_of(lines: list[dict], workflow_id: str) -> dict[str, set]:
    """activity name -> the request ids its log lines carried."""
    found: dict[str, set] = {}
    for line in lines:
        if line.get("workflow_id") == workflow_id and "activity" in line:
            found.setdefault(line["activity"], set()).add(line.get("request_id"))
    return found


async def test_web_chat_request_id_is_echoed_and_reaches_the_turns_activities(api_http, tenant, activity_lines):
    response = await api_http.post(
        f"/v1/webchat/{tenant.webchat_id}/messages",
        json={"session_id": "rid-visitor", "client_message_id": "m1", "text": "Where is my order?"},
        headers={"X-Request-ID": "chat-req.0001"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "chat-req.0001"
    workflow_id = conversation_workflow_id(tenant.tenant_id, tenant.webchat_id, "rid-visitor")
    steps = _activities_of(activity_lines, workflow_id)
    # The reply was returned, so the turn's database and model steps have all run.
    assert {"persist_inbound", "generate_reply", "persist_outbound"} <= steps.keys()
    assert all(ids == {"chat-req.0001"} for ids in steps.values()), steps


async def test_whatsapp_request_id_reaches_the_delivery(api_http, tenant, graph_standin, activity_lines):
    phone = new_phone()
    body = whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), "Is the shop open?")])
    response = await api_http.post(
        f"/webhooks/whatsapp/{tenant.whatsapp_id}",
        content=body,
        headers={"content-type": "application/json", "x-hub-signature-256": signature(body, tenant.app_secret), "X-Request-ID": "wa-req-7"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "wa-req-7"
    workflow_id = conversation_workflow_id(tenant.tenant_id, tenant.whatsapp_id, phone)

    async def delivered() -> bool:
        return "send_reply" in _activities_of(activity_lines, workflow_id)

    await eventually(delivered, what="the reply's send activity")
    steps = _activities_of(activity_lines, workflow_id)
    assert {"persist_inbound", "generate_reply", "persist_outbound", "send_reply"} <= steps.keys()
    assert all(ids == {"wa-req-7"} for ids in steps.values()), steps


@pytest.mark.parametrize("given", [None, "has spaces in it", "x" * 65, "semi;colon"])
async def test_missing_or_unsafe_request_ids_are_replaced(api_http, given):
    headers = {"X-Request-ID": given} if given is not None else {}
    response = await api_http.get("/healthz", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
