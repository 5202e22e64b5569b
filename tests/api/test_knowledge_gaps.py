"""A tenant sees which questions its knowledge base could not answer, grouped by meaning and most
asked first, and only its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.testing import ActivityEnvironment

from activities.knowledge import KnowledgeActivities, SearchKnowledgeInput
from tests.api.admin.conftest import AdminTenant, new_admin_tenant

GAPS = "/v1/knowledge/gaps"


async def _ask(deps, tenant: AdminTenant, *questions: str) -> None:
    activities = KnowledgeActivities(deps)
    for question in questions:
        await ActivityEnvironment().run(activities.search_knowledge, SearchKnowledgeInput(tenant_id=tenant.id, query=question))


async def test_unanswered_questions_are_grouped_by_meaning_most_asked_first(http, deps):
    t = await new_admin_tenant(http)
    r = await http.post(
        "/v1/knowledge/entries",
        json={"type": "faq", "title": "Do you ship to Canada?", "content": "Yes, orders to Canada arrive in 5-7 business days."},
        headers=t.headers,
    )
    assert r.status_code == 201
    await _ask(
        deps, t,
        "Do you ship to Canada?",  # answered: not a gap
        "Can I pay with PayPal?",
        "Do you accept PayPal payments?",
        "Do you accept PayPal payments?",
        "What are your opening hours?",
    )  # fmt: skip

    body = (await http.get(GAPS, headers=t.headers)).json()
    assert (body["searches"], body["unanswered"], body["clustered"]) == (5, 4, 4)
    paypal, hours = body["gaps"]
    assert paypal["count"] == 3 and paypal["representative"] == "Do you accept PayPal payments?"
    assert paypal["examples"] == ["Do you accept PayPal payments?", "Can I pay with PayPal?"]
    assert (hours["count"], hours["examples"]) == (1, ["What are your opening hours?"])
    assert datetime.fromisoformat(paypal["first_seen"]) <= datetime.fromisoformat(paypal["last_seen"])

    assert len((await http.get(GAPS, params={"limit": 1}, headers=t.headers)).json()["gaps"]) == 1
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert (await http.get(GAPS, params={"since": later}, headers=t.headers)).json()["gaps"] == []


async def test_two_paraphrases_of_one_missing_topic_are_one_gap_and_other_tenants_do_not_see_it(http, deps):
    a, b = await new_admin_tenant(http), await new_admin_tenant(http)
    await _ask(deps, a, "Do you ship to Canada?", "Is shipping to Canada available?")
    (gap,) = (await http.get(GAPS, headers=a.headers)).json()["gaps"]
    assert gap["count"] == 2 and sorted(gap["examples"]) == ["Do you ship to Canada?", "Is shipping to Canada available?"]
    other = (await http.get(GAPS, headers=b.headers)).json()
    assert (other["searches"], other["gaps"]) == (0, [])


async def test_bad_gap_queries_are_refused(http):
    t = await new_admin_tenant(http)
    for params in ({"limit": 0}, {"limit": 1000}, {"since": "last tuesday"}):
        assert (await http.get(GAPS, params=params, headers=t.headers)).status_code == 422
