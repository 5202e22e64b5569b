"""The NLU admin routes around a trained model: settings, trying the model on a message, and
another tenant seeing none of it."""

from __future__ import annotations

from tests.api.admin.conftest import admin_key_for, bearer
from tests.factories import create_tenant
from tests.workflows.nlu_helpers import seed_intents, train


async def test_settings_are_validated_and_kept(http, deps, tenant):
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    assert (await http.get("/v1/nlu/settings", headers=headers)).json()["confidence_threshold"] == 0.5

    for bad in ({"confidence_threshold": 1.5}, {"schedule_cron": "every night"}, {"rollback_margin": 0}, {"surprise": 1}):
        r = await http.put("/v1/nlu/settings", json=bad, headers=headers)
        assert r.status_code == 422, (bad, r.text)
    r = await http.put("/v1/nlu/settings", json={"confidence_threshold": 0.7, "schedule_cron": "30 2 * * 1"}, headers=headers)
    assert r.status_code == 200, r.text
    kept = (await http.get("/v1/nlu/settings", headers=headers)).json()
    assert (kept["confidence_threshold"], kept["schedule_cron"]) == (0.7, "30 2 * * 1")


async def test_the_active_model_classifies_a_message_and_another_tenant_sees_nothing(http, deps, temporal, tenant, graph_standin, openai_standin):
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    r = await http.post("/v1/nlu/models/classify", json={"text": "where is my order"}, headers=headers)
    assert r.status_code == 409 and "train a model first" in r.json()["detail"]
    await seed_intents(deps, tenant.tenant_id)
    await train(http, temporal, headers)

    r = await http.post("/v1/nlu/models/classify", json={"text": "mera refund kab milega"}, headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["model_version"], r.json()["intent"]) == (1, "refund_status")
    assert r.json()["ranking"][0][0] == "refund_status" and len(r.json()["ranking"]) == 3
    (listed,) = (await http.get("/v1/nlu/models", headers=headers)).json()
    assert (listed["version"], listed["status"], listed["rollback_available"]) == (1, "active", True)
    # A newly promoted version answers the next try at once: the parsed model follows the active version.
    assert (await train(http, temporal, headers, force=True)).promoted
    r = await http.post("/v1/nlu/models/classify", json={"text": "mera refund kab milega"}, headers=headers)
    assert (r.json()["model_version"], r.json()["intent"]) == (2, "refund_status")

    other = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    theirs = bearer(await admin_key_for(deps, other.tenant_id))
    assert (await http.get("/v1/nlu/models", headers=theirs)).json() == []
    assert (await http.get("/v1/nlu/models/1", headers=theirs)).status_code == 404
    assert (await http.post("/v1/nlu/models/classify", json={"text": "where is my order"}, headers=theirs)).status_code == 409
    refused = await http.post("/v1/nlu/models/rollback", json={"reason": "try"}, headers=theirs)
    assert refused.status_code == 422
