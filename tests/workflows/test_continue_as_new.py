"""Long conversations continue-as-new and carry what they know."""

from __future__ import annotations

from core.ids import conversation_workflow_id
from workflows.conversation import ConversationWorkflow


async def test_conversation_continues_as_new_with_its_state(make_api, tenant, temporal, openai_standin):
    http = await make_api(turns_per_run=3)
    session = "long-talker"
    url = f"/v1/webchat/{tenant.webchat_id}/messages"
    handle = temporal.get_workflow_handle(conversation_workflow_id(tenant.tenant_id, tenant.webchat_id, session))

    first = await http.post(url, json={"session_id": session, "client_message_id": "c1", "text": "turn 1"})
    first_run = (await handle.describe()).run_id
    for i in range(2, 6):
        r = await http.post(url, json={"session_id": session, "client_message_id": f"c{i}", "text": f"turn {i}"})
        assert r.json()["reply"] == f"[{tenant.model}] turn {i}"
    later_run = (await handle.describe()).run_id
    assert later_run != first_run

    snapshot = await temporal.get_workflow_handle(handle.id).query(ConversationWorkflow.snapshot)
    assert snapshot.turns == 5  # the count survived the new run
    # The model still sees the whole conversation, not just this run's turns.
    assert len(openai_standin.calls_for(tenant.model)[-1]["messages"]) == 1 + 9

    calls = len(openai_standin.calls_for(tenant.model))
    retry = await http.post(url, json={"session_id": session, "client_message_id": "c1", "text": "turn 1"})
    assert retry.json()["reply"] == first.json()["reply"]
    assert retry.json()["duplicate"] is True
    assert len(openai_standin.calls_for(tenant.model)) == calls
