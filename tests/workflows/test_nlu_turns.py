"""The turn uses the tenant's intent model: a sure intent reaches the agent with its tool hints
and is counted; an unsure message is classified by the LLM instead and queued for review; an
intent people handle hands the conversation over; another tenant's model is never used."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from models.conversations import Conversation
from models.nlu import Intent, TrainingSample
from nlu.model import IntentModel
from rag.embedding import E5Embedder
from tests.api.admin.conftest import admin_key_for, bearer
from tests.factories import create_tenant
from tests.workflows.agent_helpers import chat
from tests.workflows.nlu_helpers import SAMPLES, predictions, seed_intents, train, versions


def _system_text(request: dict) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "system")


async def _trained(http, deps, temporal, tenant, **intent_fields) -> dict:
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    await seed_intents(deps, tenant.tenant_id, **intent_fields)
    assert (await train(http, temporal, headers)).promoted
    return headers


async def test_a_sure_intent_guides_the_agent_and_is_counted(http, deps, temporal, tenant, openai_standin):
    headers = await _trained(http, deps, temporal, tenant, track_order={"tool_hints": ["track_order"]})

    await chat(http, tenant.webchat_id, "nlu-sure", "hi, where is my order? it has not arrived")

    told = _system_text(openai_standin.calls_for(tenant.model)[-1])
    assert "classified as the intent 'track_order'" in told and "Tools that usually answer it: track_order" in told
    (made,) = await predictions(deps, tenant.tenant_id)
    assert (made.intent, made.source, made.model_version, made.low_confidence) == ("track_order", "model", 1, False)
    analytics = (await http.get("/v1/nlu/analytics", headers=headers)).json()
    assert analytics["by_intent"] == [{"intent": "track_order", "messages": 1}] and analytics["low_confidence_rate"] == 0.0


async def test_an_unsure_message_is_labelled_by_the_llm_and_queued_for_review(http, deps, temporal, tenant, openai_standin):
    headers = await _trained(http, deps, temporal, tenant)
    # Three intents: a message that says nothing about any of them still gets about 1/3-1/2.
    r = await http.put("/v1/nlu/settings", json={"confidence_threshold": 0.8}, headers=headers)
    assert r.status_code == 200, r.text
    openai_standin.scripted_tool_calls.append(("choose_intent", {"intent": "refund_status"}))

    await chat(http, tenant.webchat_id, "nlu-unsure", "the thing from last tuesday, what happened with it")

    asked = openai_standin.calls_for(tenant.model)[0]  # the labelling call, before the reply
    assert asked["tool_choice"] == "required" and asked["tools"][0]["function"]["name"] == "choose_intent"
    (made,) = await predictions(deps, tenant.tenant_id)
    assert (made.intent, made.source, made.low_confidence) == ("refund_status", "llm", True)
    async with deps.sessions() as session:
        queued = (await session.execute(
            select(TrainingSample, Intent.name).join(Intent, Intent.id == TrainingSample.intent_id)
            .where(TrainingSample.tenant_id == uuid.UUID(tenant.tenant_id), TrainingSample.status == "pending")
        )).one()  # fmt: skip
    sample, label = queued
    assert (sample.text, label, sample.source, sample.predicted_by) == (
        "the thing from last tuesday, what happened with it", "refund_status", "conversation", "llm"
    )
    # The reviewer sees it in the queue, with the LLM's label to approve or correct.
    listed = (await http.get("/v1/nlu/samples", params={"status": "pending"}, headers=headers)).json()
    assert [(s["text"], s["intent"]) for s in listed["items"]] == [(sample.text, "refund_status")]


async def test_an_intent_people_handle_hands_the_conversation_over(http, deps, temporal, tenant, openai_standin):
    samples = {**SAMPLES, "legal_complaint": [
        "i will take legal action", "my lawyer will contact you", "i am filing a case against your company",
        "consumer court mein complaint karunga", "you will hear from my advocate", "this is a legal notice",
        "i am going to sue you", "see you in court", "legal notice bhej raha hoon", "i have reported you to the consumer forum",
    ]}  # fmt: skip
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    await seed_intents(deps, tenant.tenant_id, samples, legal_complaint={"handoff": True})
    assert (await train(http, temporal, headers)).promoted

    await chat(http, tenant.webchat_id, "nlu-legal", "I will take this to consumer court and my lawyer will send a legal notice")

    async with deps.sessions() as session:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id), Conversation.workflow_id.endswith("nlu-legal"))
        )
    assert conversation.status == "handoff"
    assert openai_standin.calls_for(tenant.model) == []  # no model answered what people handle


async def test_another_tenants_model_is_never_used(http, deps, temporal, tenant, openai_standin, graph_standin):
    await _trained(http, deps, temporal, tenant)
    other = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)

    await chat(http, other.webchat_id, "nlu-other", "where is my order")

    assert await predictions(deps, other.tenant_id) == [] and await predictions(deps, tenant.tenant_id) == []
    assert "classified as the intent" not in _system_text(openai_standin.calls_for(other.model)[-1])


async def test_a_model_reading_sentence_embeddings_classifies_the_turn(http, deps, temporal, tenant, openai_standin):
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    r = await http.put("/v1/nlu/settings", json={"features": "ngrams+embeddings"}, headers=headers)
    assert r.status_code == 200, r.text
    await seed_intents(deps, tenant.tenant_id)
    assert (await train(http, temporal, headers)).promoted
    detail = (await http.get("/v1/nlu/models/1", headers=headers)).json()
    assert detail["status"] == "active"
    # The admin's try-a-message embeds the message for such a model too.
    r = await http.post("/v1/nlu/models/classify", json={"text": "my refund has still not come back"}, headers=headers)
    assert (r.status_code, r.json().get("intent")) == (200, "refund_status"), r.text

    await chat(http, tenant.webchat_id, "nlu-embedded", "my refund has still not come back to my account")

    (made,) = await predictions(deps, tenant.tenant_id)
    assert (made.intent, made.source, made.model_version) == ("refund_status", "model", 1)
    model = IntentModel.from_bytes((await versions(deps, tenant.tenant_id))[1].artifact)
    assert model.embedder == E5Embedder.name and model.embedding_weights.shape == (384, 3)


async def test_an_llm_saying_out_of_scope_is_recorded_not_acted_on(http, deps, temporal, tenant, openai_standin):
    samples = {**SAMPLES, "out_of_scope": [
        "what is the weather today", "tell me a joke", "who won the match", "aaj mausam kaisa hai",
        "recommend a movie", "what time is it in london",
    ]}  # fmt: skip
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    await seed_intents(deps, tenant.tenant_id, samples)
    assert (await train(http, temporal, headers)).promoted
    assert (await http.put("/v1/nlu/settings", json={"confidence_threshold": 0.99}, headers=headers)).status_code == 200
    openai_standin.scripted_tool_calls.append(("choose_intent", {"intent": "out_of_scope"}))

    await chat(http, tenant.webchat_id, "nlu-oos", "can you write me a poem about cats")

    (made,) = await predictions(deps, tenant.tenant_id)
    assert (made.intent, made.source) == ("out_of_scope", "llm")
    assert "classified as the intent" not in _system_text(openai_standin.calls_for(tenant.model)[-1])
