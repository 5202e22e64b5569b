"""The conversation turn's knowledge search: an entry a tenant writes is found with its citation,
stops being found when switched off, is never found by another tenant, and every search leaves a
coverage record."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.knowledge import (
    MAX_QUERY_CHARS,
    KnowledgeActivities,
    SearchKnowledgeInput,
    SearchKnowledgeResult,
    follow_up_query,
)
from models.knowledge import RetrievalEvent
from tests.api.admin.conftest import AdminTenant, new_admin_tenant

ENTRIES = "/v1/knowledge/entries"
SHIPPING = {"type": "faq", "title": "Do you ship to Canada?", "content": "Yes. Orders to Canada arrive in 5-7 business days."}
RETURNS = {"type": "policy", "title": "Returns", "content": "Unworn shoes can be returned within 30 days for a full refund."}


async def _search(deps, tenant: AdminTenant, query: str, **extra) -> SearchKnowledgeResult:
    activities = KnowledgeActivities(deps)
    return await ActivityEnvironment().run(activities.search_knowledge, SearchKnowledgeInput(tenant_id=tenant.id, query=query, **extra))


async def _write(http, tenant: AdminTenant, body: dict) -> dict:
    r = await http.post(ENTRIES, json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_an_entry_is_found_with_its_citation_until_it_is_switched_off(http, deps):
    t = await new_admin_tenant(http)
    shipping = await _write(http, t, SHIPPING)
    returns = await _write(http, t, RETURNS)

    found = await _search(deps, t, "can you deliver my order to canada?")
    assert found.answered and found.passages, found
    best = found.passages[0]
    assert (best.entry_id, best.document_id, best.title) == (shipping["id"], None, "Do you ship to Canada?")
    assert "5-7 business days" in best.text and best.score == found.top_score
    assert (await _search(deps, t, "How long do I have to return shoes?")).passages[0].entry_id == returns["id"]

    r = await http.patch(f"{ENTRIES}/{shipping['id']}", json={"active": False}, headers=t.headers)
    assert r.status_code == 200
    hidden = await _search(deps, t, "can you deliver my order to canada?")
    assert shipping["id"] not in {p.entry_id for p in hidden.passages}

    await http.patch(f"{ENTRIES}/{shipping['id']}", json={"active": True}, headers=t.headers)
    assert (await _search(deps, t, "can you deliver my order to canada?")).passages[0].entry_id == shipping["id"]
    await http.delete(f"{ENTRIES}/{shipping['id']}", headers=t.headers)
    gone = await _search(deps, t, "can you deliver my order to canada?")
    assert shipping["id"] not in {p.entry_id for p in gone.passages}


async def test_an_edit_is_searchable_at_once(http, deps):
    t = await new_admin_tenant(http)
    entry = await _write(http, t, RETURNS)
    await http.patch(f"{ENTRIES}/{entry['id']}", json={"content": "Gift cards never expire and can be used online."}, headers=t.headers)
    found = await _search(deps, t, "do gift cards expire?")
    assert found.passages and found.passages[0].entry_id == entry["id"] and "never expire" in found.passages[0].text


async def test_another_tenant_never_gets_these_entries(http, deps):
    a, b = await new_admin_tenant(http), await new_admin_tenant(http)
    await _write(http, a, SHIPPING)
    own = await _write(http, b, RETURNS)
    for question in ("Do you ship to Canada?", "canada shipping time", "returns"):
        result = await _search(deps, b, question)
        assert {p.entry_id for p in result.passages} <= {own["id"]}, (question, result)
    empty = await new_admin_tenant(http)
    nothing = await _search(deps, empty, "Do you ship to Canada?")
    assert (nothing.passages, nothing.answered, nothing.top_score) == ([], False, None)


async def test_every_search_is_recorded_for_coverage(http, deps):
    t = await new_admin_tenant(http)
    await _write(http, t, SHIPPING)
    conversation_id = str(uuid.uuid4())
    hit = await _search(deps, t, "Do you ship to Canada?", conversation_id=conversation_id)
    miss = await _search(deps, t, "What is the airspeed velocity of an unladen swallow?")
    assert hit.answered and not miss.answered
    async with deps.sessions() as session:
        events = list(
            await session.scalars(select(RetrievalEvent).where(RetrievalEvent.tenant_id == uuid.UUID(t.id)).order_by(RetrievalEvent.created_at))
        )
    assert [(e.query, e.answered, e.passage_count > 0) for e in events] == [
        ("Do you ship to Canada?", True, True),
        ("What is the airspeed velocity of an unladen swallow?", False, False),
    ]
    assert str(events[0].conversation_id) == conversation_id and events[0].top_score == pytest.approx(hit.top_score)
    assert events[1].query_embedding is not None and len(events[1].query_embedding) == 384


async def test_the_tenant_settings_decide_how_many_passages_come_back(http, deps):
    t = await new_admin_tenant(http)
    for i in range(4):
        await _write(http, t, {"type": "snippet", "title": f"Shipping note {i}", "content": f"Parcels to zone {i} ship with courier {i}."})
    r = await http.put("/v1/knowledge/settings", json={"top_k": 2, "min_score": 0}, headers=t.headers)
    assert r.status_code == 200
    assert len((await _search(deps, t, "shipping courier zone")).passages) == 2
    assert len((await _search(deps, t, "shipping courier zone", top_k=3)).passages) == 3


async def test_bad_input_fails_without_retries(deps):
    for bad in (
        SearchKnowledgeInput(tenant_id="not-a-uuid", query="hi"),
        SearchKnowledgeInput(tenant_id=str(uuid.uuid4()), query="hi"),  # no such tenant
        SearchKnowledgeInput(tenant_id=str(uuid.uuid4()), query="   "),
        SearchKnowledgeInput(tenant_id=str(uuid.uuid4()), query="hi", top_k=0),
        SearchKnowledgeInput(tenant_id=str(uuid.uuid4()), query="hi", conversation_id="nope"),
    ):
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(KnowledgeActivities(deps).search_knowledge, bad)
        assert caught.value.type == "InvalidInput" and caught.value.non_retryable, bad


async def test_a_retried_search_counts_the_question_once(http, deps):
    t = await new_admin_tenant(http)
    await _write(http, t, SHIPPING)
    turn = str(uuid.uuid4())
    # The same turn's search run twice (a worker died after committing, before reporting).
    await _search(deps, t, "do you ship to canada?", search_id=turn)
    await _search(deps, t, "do you ship to canada?", search_id=turn)
    await _search(deps, t, "do you ship to canada?", search_id=str(uuid.uuid4()))  # the next turn asks again
    async with deps.sessions() as session:
        recorded = (await session.scalars(select(RetrievalEvent.query).where(RetrievalEvent.tenant_id == uuid.UUID(t.id)))).all()
    assert recorded == ["do you ship to canada?"] * 2


async def test_the_entry_the_tenant_prefers_comes_first_among_equals(http, deps):
    t = await new_admin_tenant(http)
    question = "how long does shipping to canada take?"
    answer = {"type": "faq", "title": "Shipping to Canada", "content": "Orders to Canada arrive in 5-7 business days."}
    copies = [await _write(http, t, answer), await _write(http, t, answer)]  # the same answer written twice
    before = [p.entry_id for p in (await _search(deps, t, question)).passages]
    shown = [c["id"] for c in copies if c["id"] in before]
    assert len(shown) == 1  # near-duplicates collapse to one passage
    other = next(c for c in copies if c["id"] != shown[0])
    r = await http.patch(f"{ENTRIES}/{other['id']}", json={"priority": 5}, headers=t.headers)
    assert r.status_code == 200
    after = [p.entry_id for p in (await _search(deps, t, question)).passages]
    assert after[0] == other["id"] and shown[0] not in after  # the tenant's preferred copy is the one shown


def test_a_follow_up_keeps_the_question_whole_and_the_latest_earlier_words():
    question = "and when will I see it?"
    earlier = "first words " + "x" * MAX_QUERY_CHARS + " I sent the jacket back for a refund"
    combined = follow_up_query(earlier, question)
    assert len(combined) <= MAX_QUERY_CHARS
    assert combined.endswith("I sent the jacket back for a refund\n" + question) and "first words" not in combined
    assert follow_up_query("I sent the  jacket\nback", question) == "I sent the jacket back\n" + question
    assert follow_up_query("anything", "q" * MAX_QUERY_CHARS) == "q" * MAX_QUERY_CHARS
