"""A person on the team takes over, replies to, releases and closes a conversation through the
admin API: each action reaches the conversation's workflow as a signal with its payload, only for
the caller's own tenant, only with the conversations:write scope, and bad input is refused with
a reason. What the workflow then does is tested in tests/workflows/test_handoff.py."""

from __future__ import annotations

import uuid

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError

from activities.handoff import HandoffActivities, HandoffStateInput
from api.main import create_app
from api.routes import conversation_actions
from api.routes.api_keys import create_key
from core.embedded.ports import free_port
from core.ids import conversation_workflow_id
from tests.activities.test_handoff_state import new_conversation
from tests.api.app_routes import api_routes
from tests.factories import create_tenant, eventually
from tests.standins.serve import serve
from workflows.admin_signals import AgentReply, Close, Release, Takeover

ACTIONS = ("takeover", "reply", "release", "close")
SIGNAL_PAYLOADS = {"takeover": Takeover, "agent_reply": AgentReply, "release": Release, "close": Close}


def _app(settings):
    app = create_app(settings)
    # Until api/main.py includes this router, the tests add it themselves.
    if not any(r.path == "/v1/conversations/{conversation_id}/takeover" for r in api_routes(app.routes)):
        app.include_router(conversation_actions.router)
    return app


@pytest.fixture(scope="module")
async def actions(settings, worker):
    server = await serve(_app(settings))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client
    await server.stop()


async def _key(deps, tenant_id: str, *scopes: str) -> tuple[dict[str, str], str]:
    """Authorization headers for a new key with `scopes`, and the actor id it acts as."""
    async with deps.sessions.begin() as session:
        created = await create_key(session, uuid.UUID(tenant_id), "test", list(scopes), None, "test")
    return {"Authorization": f"Bearer {created.key}"}, f"api_key:{created.id}"


async def _signals(temporal, workflow_id: str) -> list[tuple[str, object]]:
    """Every signal the conversation's workflow received, over all its runs, oldest first."""
    runs = [w async for w in temporal.list_workflows(f"WorkflowId = '{workflow_id}'")]
    found: list[tuple[float, str, object]] = []
    for run in runs:
        history = await temporal.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
        for event in history.events:
            if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                continue
            attributes = event.workflow_execution_signaled_event_attributes
            hint = SIGNAL_PAYLOADS.get(attributes.signal_name, dict)
            [payload] = await temporal.data_converter.decode(list(attributes.input.payloads), [hint])
            found.append((event.event_time.ToDatetime().timestamp(), attributes.signal_name, payload))
    return [(name, payload) for _, name, payload in sorted(found, key=lambda f: f[0])]


def _workflow_id(tenant, contact: str) -> str:
    return conversation_workflow_id(tenant.tenant_id, tenant.webchat_id, contact)


async def test_each_action_reaches_the_conversation_s_workflow_with_its_payload(actions, deps, tenant, temporal):
    headers, actor = await _key(deps, tenant.tenant_id, "conversations:write")
    contact = f"c-{uuid.uuid4().hex[:10]}"
    conversation_id = await new_conversation(deps, tenant, contact)
    url = f"/v1/conversations/{conversation_id}"

    taken = await actions.post(f"{url}/takeover", json={"agent_id": "sam@example.com"}, headers={**headers, "Idempotency-Key": "t-1"})
    assert taken.status_code == 202, taken.text
    assert taken.json() == {"conversation_id": conversation_id, "action": "takeover", "request_id": "takeover:t-1"}
    retried = await actions.post(f"{url}/takeover", json={"agent_id": "sam@example.com"}, headers={**headers, "Idempotency-Key": "t-1"})
    assert retried.json()["request_id"] == "takeover:t-1"  # the workflow applies a request id once
    replied = await actions.post(f"{url}/reply", json={"text": "  Hi, Sam here.\nLet me check.  "}, headers=headers)
    assert replied.status_code == 202, replied.text
    released = await actions.post(f"{url}/release", headers=headers)  # no body at all is fine
    assert released.status_code == 202, released.text
    closed = await actions.post(f"{url}/close", json={"reason": "refund issued"}, headers={**headers, "Idempotency-Key": "t-1"})
    assert closed.status_code == 202 and closed.json()["request_id"] == "close:t-1"  # keys are per action
    request_ids = [r.json()["request_id"] for r in (replied, released)]
    assert all(rid.startswith(f"{a}:") and len(rid) > len(a) + 30 for rid, a in zip(request_ids, ("reply", "release"), strict=True))

    expected = [
        ("takeover", Takeover(request_id="takeover:t-1", agent_id="sam@example.com")),
        ("takeover", Takeover(request_id="takeover:t-1", agent_id="sam@example.com")),
        ("agent_reply", AgentReply(request_id=request_ids[0], agent_id=actor, text="Hi, Sam here.\nLet me check.")),
        ("release", Release(request_id=request_ids[1], agent_id=actor)),
        ("close", Close(request_id="close:t-1", agent_id=actor, reason="refund issued")),
    ]
    workflow_id = _workflow_id(tenant, contact)

    async def all_signalled() -> bool:
        return len(await _signals(temporal, workflow_id)) >= len(expected)

    await eventually(all_signalled, what="the signals in the workflow's history")
    assert await _signals(temporal, workflow_id) == expected


async def test_a_reply_to_a_closed_conversation_is_accepted(actions, deps, tenant, temporal):
    headers, actor = await _key(deps, tenant.tenant_id, "conversations:write")
    contact = f"c-{uuid.uuid4().hex[:10]}"
    conversation_id = await new_conversation(deps, tenant, contact)
    await HandoffActivities(deps).record_handoff_state(HandoffStateInput(tenant.tenant_id, conversation_id, "closed", "done", actor))

    r = await actions.post(f"/v1/conversations/{conversation_id}/reply", json={"text": "One more thing about your order"}, headers=headers)
    assert r.status_code == 202, r.text

    async def signalled() -> bool:
        return [name for name, _ in await _signals(temporal, _workflow_id(tenant, contact))] == ["agent_reply"]

    await eventually(signalled, what="the reply signal")


async def test_bad_input_is_refused_with_a_reason(actions, deps, tenant):
    headers, _ = await _key(deps, tenant.tenant_id, "conversations:write")
    url = f"/v1/conversations/{await new_conversation(deps, tenant)}"
    cases = [
        ("reply", {}, {}, "text"),
        ("reply", {"text": ""}, {}, "text"),
        ("reply", {"text": "   "}, {}, "blank"),
        ("reply", {"text": "x" * 4097}, {}, "4096"),
        ("reply", {"text": "nul \x00 byte"}, {}, "control characters"),
        ("reply", {"text": "hi", "author": "me"}, {}, "author"),
        ("takeover", {"agent_id": ""}, {}, "agent_id"),
        ("takeover", {"agent_id": "  "}, {}, "blank"),
        ("takeover", {"agent_id": "a" * 201}, {}, "200"),
        ("takeover", {"agent_id": "sam\nkim"}, {}, "one line"),
        ("takeover", {"agent_id": 7}, {}, "agent_id"),
        ("close", {"reason": ""}, {}, "reason"),
        ("close", {"reason": "r" * 501}, {}, "500"),
        ("release", {"why": "because"}, {}, "why"),
        ("takeover", {}, {"Idempotency-Key": "has spaces"}, "Idempotency-Key"),
        ("takeover", {}, {"Idempotency-Key": "k" * 65}, "Idempotency-Key"),
        ("release", {}, {"Idempotency-Key": ""}, "Idempotency-Key"),
    ]
    for action, body, extra, reason in cases:
        r = await actions.post(f"{url}/{action}", json=body, headers={**headers, **extra})
        assert r.status_code == 422, (action, body, extra, r.text)
        assert r.headers["content-type"] == "application/problem+json" and reason in r.text, (action, body, r.text)
    bad_json = await actions.post(f"{url}/reply", content=b"{not json", headers={**headers, "content-type": "application/json"})
    assert bad_json.status_code == 422
    assert (await actions.post("/v1/conversations/not-a-uuid/takeover", json={}, headers=headers)).status_code == 422
    missing = await actions.post(f"/v1/conversations/{uuid.uuid4()}/close", json={}, headers=headers)
    assert missing.status_code == 404 and "no conversation" in missing.json()["detail"]


async def test_another_tenant_s_conversation_is_not_found_and_not_signalled(actions, deps, tenant, temporal, openai_standin, graph_standin):
    other = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    other_headers, _ = await _key(deps, other.tenant_id, "conversations:write")
    contact = f"c-{uuid.uuid4().hex[:10]}"
    conversation_id = await new_conversation(deps, tenant, contact)
    for action in ACTIONS:
        body = {"text": "hello"} if action == "reply" else {}
        r = await actions.post(f"/v1/conversations/{conversation_id}/{action}", json=body, headers=other_headers)
        assert r.status_code == 404, (action, r.text)
        assert r.json()["detail"] == f"no conversation {conversation_id}"
    with pytest.raises(RPCError):  # nothing started or signalled the customer's workflow
        await temporal.get_workflow_handle(_workflow_id(tenant, contact)).describe()


async def test_only_callers_allowed_to_write_conversations_may_act(actions, deps, tenant):
    viewer, _ = await _key(deps, tenant.tenant_id, "conversations:read", "analytics:read")
    agents_only, _ = await _key(deps, tenant.tenant_id, "agents:manage")
    conversation_id = await new_conversation(deps, tenant)
    for action in ACTIONS:
        url = f"/v1/conversations/{conversation_id}/{action}"
        body = {"text": "hello"} if action == "reply" else {}
        for headers in (viewer, agents_only):
            r = await actions.post(url, json=body, headers=headers)
            assert r.status_code == 403 and "conversations:write" in r.json()["detail"], (action, r.text)
        assert (await actions.post(url, json=body)).status_code == 401
    assert {r.path for r in api_routes(conversation_actions.router.routes)} == {
        f"/v1/conversations/{{conversation_id}}/{a}" for a in ACTIONS
    }


async def test_temporal_unreachable_is_503_with_retry_after(settings, deps, tenant):
    headers, _ = await _key(deps, tenant.tenant_id, "conversations:write")
    conversation_id = await new_conversation(deps, tenant)
    server = await serve(_app(settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            r = await http.post(f"/v1/conversations/{conversation_id}/takeover", json={}, headers=headers)
    finally:
        await server.stop()
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5" and r.json()["title"] == "Could not reach the conversation yet"
