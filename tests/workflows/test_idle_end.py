"""Idle conversations end; a message redelivered after that is still answered only once."""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowExecutionStatus

from api.inbound_guard import seen_key
from core.ids import conversation_workflow_id
from tests.factories import eventually, new_phone, new_wamid, signature, whatsapp_payload


def _ended(handle):
    async def check() -> bool:
        return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    return check


async def test_idle_web_chat_ends_and_a_retry_gets_the_same_reply(make_api, tenant, temporal, openai_standin):
    http = await make_api(idle_timeout_seconds=3)
    url = f"/v1/webchat/{tenant.webchat_id}/messages"
    session = "idle-visitor"
    handle = temporal.get_workflow_handle(conversation_workflow_id(tenant.tenant_id, tenant.webchat_id, session))

    first_run = None
    for i in range(4):  # active: a message every second keeps the run alive past the timeout
        r = await http.post(url, json={"session_id": session, "client_message_id": f"a{i}", "text": f"msg {i}"})
        assert r.status_code == 200
        run_id = (await handle.describe()).run_id
        first_run = first_run or run_id
        assert run_id == first_run
        await asyncio.sleep(1)
    await eventually(_ended(handle), timeout=20, what="the idle conversation to end")

    calls = len(openai_standin.calls_for(tenant.model))
    again = await http.post(url, json={"session_id": session, "client_message_id": "a0", "text": "msg 0"})
    assert again.json()["reply"] == f"[{tenant.model}] msg 0"
    assert len(openai_standin.calls_for(tenant.model)) == calls  # no second turn

    fresh = await http.post(url, json={"session_id": session, "client_message_id": "b1", "text": "back again"})
    assert fresh.json()["reply"] == f"[{tenant.model}] back again"


async def test_whatsapp_redelivery_after_the_conversation_ended_is_not_answered_again(
    make_api, tenant, temporal, graph_standin, openai_standin, deps
):
    http = await make_api(idle_timeout_seconds=2)
    phone, wamid = new_phone(), new_wamid()
    body = whatsapp_payload(tenant.phone_number_id, [(phone, wamid, "Is my refund done?")])
    headers = {"x-hub-signature-256": signature(body, tenant.app_secret)}
    assert (await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers=headers)).status_code == 200

    async def replied() -> bool:
        return len(graph_standin.sends_to(phone)) == 1

    await eventually(replied, what="the reply")
    handle = temporal.get_workflow_handle(conversation_workflow_id(tenant.tenant_id, tenant.whatsapp_id, phone))
    await eventually(_ended(handle), timeout=20, what="the idle conversation to end")
    first_run = (await handle.describe()).run_id

    calls = len(openai_standin.calls_for(tenant.model))
    # Meta redelivers the same message (it does, for days). Past the API's record of accepted
    # ids (an hour), the redelivery starts a new run, which must find it answered.
    await deps.redis.delete(seen_key(tenant.whatsapp_id, wamid))
    assert (await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers=headers)).status_code == 200

    async def new_run_ended() -> bool:
        description = await handle.describe()
        return description.run_id != first_run and description.status == WorkflowExecutionStatus.COMPLETED

    await eventually(new_run_ended, timeout=30, what="the redelivery's run to finish")
    assert len(graph_standin.sends_to(phone)) == 1
    assert len(openai_standin.calls_for(tenant.model)) == calls
