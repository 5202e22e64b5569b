"""Hand-over to people: the customer is always told, the AI stops answering, and the team's
takeover / reply / release / close reach the conversation through its workflow."""

from __future__ import annotations

import asyncio
import uuid

from agent.notices import notice
from tests.api.admin.conftest import admin_key_for, bearer
from tests.factories import eventually, new_phone, new_wamid, signature, whatsapp_payload
from tests.workflows.agent_helpers import chat, conversation_of, outbound_texts

HANDED_OVER = notice("handoff", "en")


async def test_asking_for_a_person_hands_over_and_says_so(http, deps, tenant, openai_standin):
    reply = await chat(http, tenant.webchat_id, "ask-human", "Can I talk to a human please?")

    assert reply["reply"] == HANDED_OVER and reply["needs_human"] is True
    conversation = await conversation_of(deps, tenant.tenant_id, "ask-human")
    assert (conversation.status, conversation.needs_human) == ("handoff", True)
    asked = len(openai_standin.calls_for(tenant.model))

    quiet = await chat(http, tenant.webchat_id, "ask-human", "hello? anyone?")

    assert quiet["reply"] == "" and quiet["needs_human"] is True  # the AI no longer answers...
    assert len(openai_standin.calls_for(tenant.model)) == asked  # ...nor asks a model
    assert await outbound_texts(deps, conversation.id) == [HANDED_OVER]


async def test_hindi_and_hinglish_requests_hand_over_too(http, deps, tenant):
    cases = (("ask-hi", "मुझे किसी इंसान से बात करनी है", "hi"), ("ask-hinglish", "mujhe kisi agent se baat karni hai", "hinglish"))
    for session, text, language in cases:
        reply = await chat(http, tenant.webchat_id, session, text)
        assert reply["needs_human"] is True, text
        assert reply["reply"] == notice("handoff", language)  # told in their own language and script
        assert (await conversation_of(deps, tenant.tenant_id, session)).status == "handoff"


async def test_the_model_calling_handoff_to_human_hands_over(http, deps, tenant, openai_standin):
    openai_standin.scripted_tool_calls.append(("handoff_to_human", {"reason": "wants a custom quote"}))

    reply = await chat(http, tenant.webchat_id, "tool-human", "I need a custom quote for 500 units")

    assert HANDED_OVER in reply["reply"]
    conversation = await conversation_of(deps, tenant.tenant_id, "tool-human")
    assert conversation.status == "handoff" and "custom quote" in (conversation.handoff_reason or "")


async def _whatsapp(http, tenant, phone: str, text: str) -> None:
    body = whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), text)])
    r = await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers={"x-hub-signature-256": signature(body, tenant.app_secret)})
    assert r.status_code == 200, r.text


async def test_takeover_reply_release_and_close(http, deps, tenant, graph_standin):
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    phone = new_phone()
    await _whatsapp(http, tenant, phone, "where is my parcel")
    await eventually(lambda: _sent(graph_standin, phone, 1), what="the AI's first answer")
    conversation = await conversation_of(deps, tenant.tenant_id, phone)
    url = f"/v1/conversations/{conversation.id}"

    r = await http.post(f"{url}/takeover", json={"agent_id": "sam"}, headers=headers)
    assert r.status_code == 202, r.text
    await eventually(lambda: _status(deps, tenant, phone, "assigned"), what="the takeover")

    r = await http.post(f"{url}/reply", json={"text": "Hi, Sam here. Let me check."}, headers={**headers, "Idempotency-Key": "sam-1"})
    assert r.status_code == 202, r.text
    again = await http.post(f"{url}/reply", json={"text": "Hi, Sam here. Let me check."}, headers={**headers, "Idempotency-Key": "sam-1"})
    assert again.status_code == 202  # a retried call...
    await eventually(lambda: _sent(graph_standin, phone, 2), what="the person's reply on WhatsApp")
    await _whatsapp(http, tenant, phone, "thanks, waiting")
    await asyncio.sleep(3)
    texts = [s.text for s in graph_standin.sends_to(phone)]
    assert texts[1:] == ["Hi, Sam here. Let me check."]  # ...sent once, and the AI kept quiet

    r = await http.post(f"{url}/release", json={}, headers=headers)
    assert r.status_code == 202, r.text
    await eventually(lambda: _status(deps, tenant, phone, "open"), what="the release")
    await _whatsapp(http, tenant, phone, "one more question")
    await eventually(lambda: _sent(graph_standin, phone, 3), what="the AI answering again")
    assert graph_standin.sends_to(phone)[-1].text == f"[{tenant.model}] one more question"

    r = await http.post(f"{url}/close", json={"reason": "resolved"}, headers=headers)
    assert r.status_code == 202, r.text
    await eventually(lambda: _status(deps, tenant, phone, "closed"), what="the close")
    await _whatsapp(http, tenant, phone, "actually, hello again")
    await eventually(lambda: _sent(graph_standin, phone, 4), what="the AI answering the reopened conversation")
    reopened = await conversation_of(deps, tenant.tenant_id, phone)
    assert (reopened.status, reopened.needs_human) == ("open", False)  # reopened, not bounced into hand-over


async def _sent(graph_standin, phone: str, count: int) -> bool:
    return len(graph_standin.sends_to(phone)) >= count


async def _status(deps, tenant, phone: str, status: str) -> bool:
    conversation = await conversation_of(deps, tenant.tenant_id, phone)
    return conversation is not None and conversation.status == status


async def _profile(http, headers: dict, **fields) -> None:
    body = {"name": f"Agent {uuid.uuid4().hex[:6]}", "persona": {"display_name": "Asha", "tone": "warm", "traits": []}, **fields}
    r = await http.post("/v1/agent-profiles", json=body, headers=headers)
    assert r.status_code == 201, r.text


async def test_a_tenant_keyword_and_a_human_only_topic_hand_over(http, deps, tenant):
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    await _profile(http, headers, handoff_keywords=["lawyer"], human_only_topics=[{"name": "legal", "phrases": ["court case"]}])

    keyword = await chat(http, tenant.webchat_id, "kw-1", "My lawyer will call you about this")
    topic = await chat(http, tenant.webchat_id, "kw-2", "This is about the court case we have with you")
    calm = await chat(http, tenant.webchat_id, "kw-3", "When do you open?")

    assert keyword["reply"] == HANDED_OVER and topic["reply"] == HANDED_OVER
    assert "lawyer" in (await conversation_of(deps, tenant.tenant_id, "kw-1")).handoff_reason
    assert "legal" in (await conversation_of(deps, tenant.tenant_id, "kw-2")).handoff_reason
    assert calm["reply"] == f"[{tenant.model}] When do you open?" and calm["needs_human"] is False


async def test_unsure_answers_in_a_row_hand_over(http, deps, tenant):
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    await _profile(http, headers, low_confidence_turns=2)
    entry = {"type": "policy", "title": "Returns", "content": "Unworn shoes can be returned within 30 days for a full refund."}
    assert (await http.post("/v1/knowledge/entries", json=entry, headers=headers)).status_code == 201

    first = await chat(http, tenant.webchat_id, "unsure-1", "Do you sell telescopes for astronomy?")
    second = await chat(http, tenant.webchat_id, "unsure-1", "What about microscope slides for a school lab?")

    assert first["needs_human"] is False  # one answer the knowledge base did not back: not yet
    assert second["needs_human"] is True and second["reply"].endswith(HANDED_OVER)
    assert "confidence" in (await conversation_of(deps, tenant.tenant_id, "unsure-1")).handoff_reason


async def test_a_tool_outside_the_agents_allow_list_is_refused(http, deps, tenant, openai_standin):
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    await _profile(http, headers, allowed_tools=["track_order"])
    openai_standin.scripted_tool_calls.append(("create_ticket", {"subject": "x", "description": "y"}))

    reply = await chat(http, tenant.webchat_id, "allow-1", "open a ticket please")

    assert "not available to this agent" in reply["reply"]
    offered = openai_standin.calls_for(tenant.model)[-2]["tools"]
    assert [t["function"]["name"] for t in offered] == ["track_order"]  # the model was only shown that one
