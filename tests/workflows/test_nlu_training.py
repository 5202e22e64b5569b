"""A tenant's intent model through its life: trained on the approved samples, promoted only when
it beats the active version (or when forced), retrained on a Temporal Schedule, rolled back by
an admin's signal or automatically when its live confidence drops, the last 3 models kept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import insert
from temporalio.client import ScheduleOverlapPolicy

from models.nlu import IntentPrediction
from tests.api.admin.conftest import admin_key_for, bearer
from tests.factories import eventually
from tests.workflows.nlu_helpers import active_version, seed_intents, train, versions


async def test_training_promotes_only_a_better_model_and_rollback_restores_the_previous(http, deps, temporal, tenant):
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    await seed_intents(deps, tenant.tenant_id)

    first = await train(http, temporal, headers)
    assert (first.version, first.promoted, first.active_version) == (1, True, 1)
    assert first.decision.startswith("first model") and first.accuracy is not None

    # The nightly Schedule is registered for the tenant, and a run still going makes the next skip.
    schedule = await temporal.get_schedule_handle(f"nlu-retrain:{tenant.tenant_id}").describe()
    assert schedule.schedule.action.workflow == "TrainIntentModelWorkflow"
    assert schedule.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP

    # The same samples again: a model no better than the active one is kept out.
    same = await train(http, temporal, headers)
    assert (same.version, same.promoted, same.active_version) == (2, False, 1)
    assert same.decision.startswith("does not beat version 1")
    held = await versions(deps, tenant.tenant_id)
    assert (held[1].status, held[2].status) == ("active", "rejected")
    assert held[2].baseline["version"] == 1 and held[2].test_samples > 0

    forced = await train(http, temporal, headers, force=True)
    assert (forced.version, forced.promoted, forced.active_version) == (3, True, 3)

    listed = (await http.get("/v1/nlu/models", headers=headers)).json()
    assert [v["version"] for v in listed] == [3, 2, 1] and listed[0]["status"] == "active"
    detail = (await http.get("/v1/nlu/models/3", headers=headers)).json()
    assert detail["per_intent"] and set(detail["per_intent"]) <= {"track_order", "cancel_order", "refund_status"}

    r = await http.post("/v1/nlu/models/rollback", json={"reason": "agents report wrong routing"}, headers=headers)
    assert r.status_code == 202, r.text

    async def rolled_back() -> bool:
        return await active_version(deps, tenant.tenant_id) == 1

    await eventually(rolled_back, timeout=30, what="version 1 active again")
    assert (await versions(deps, tenant.tenant_id))[1].decision.startswith("rollback: agents report wrong routing")

    # Only the last 3 versions keep their models: a fourth drops the first's (no longer active).
    await train(http, temporal, headers, force=True)
    kept = {n: v.artifact is not None for n, v in (await versions(deps, tenant.tenant_id)).items()}
    assert kept == {1: False, 2: True, 3: True, 4: True}
    refused = await http.post("/v1/nlu/models/rollback", json={"reason": "x", "to_version": 1}, headers=headers)
    assert refused.status_code == 422


async def test_too_few_intents_end_the_run_with_a_reason_not_a_version(http, deps, temporal, tenant):
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    await seed_intents(deps, tenant.tenant_id, {"track_order": ["where is my order", "order kab aayega"]})

    result = await train(http, temporal, headers)

    assert result.version is None and "at least 2 intents" in result.decision
    assert await versions(deps, tenant.tenant_id) == {}


async def _live(deps, tenant_id: str, version: int, count: int, *, low: bool) -> None:
    rows = [
        {"id": uuid.uuid4(), "tenant_id": uuid.UUID(tenant_id), "turn_id": uuid.uuid4().hex, "model_version": version,
         "confidence": 0.2 if low else 0.9, "low_confidence": low, "source": "model", "created_at": datetime.now(UTC)}
        for _ in range(count)
    ]  # fmt: skip
    async with deps.sessions() as session, session.begin():
        await session.execute(insert(IntentPrediction), rows)


async def test_a_new_version_whose_live_confidence_drops_is_rolled_back_by_itself(http, deps, temporal, tenant):
    headers = bearer(await admin_key_for(deps, tenant.tenant_id))
    settings = {"rollback_margin": 0.2, "rollback_min_predictions": 10, "rollback_check_seconds": 1}
    assert (await http.put("/v1/nlu/settings", json=settings, headers=headers)).status_code == 200
    await seed_intents(deps, tenant.tenant_id)
    assert (await train(http, temporal, headers)).active_version == 1
    await _live(deps, tenant.tenant_id, 1, 20, low=False)  # version 1 was sure of what customers wrote

    assert (await train(http, temporal, headers, force=True)).active_version == 2
    await _live(deps, tenant.tenant_id, 2, 5, low=True)
    await _live(deps, tenant.tenant_id, 2, 7, low=False)  # 5 of 12 unsure: 42% against 0% before

    async def rolled_back() -> bool:
        return await active_version(deps, tenant.tenant_id) == 1

    await eventually(rolled_back, timeout=30, what="automatic rollback to version 1")
    decision = (await versions(deps, tenant.tenant_id))[1].decision
    assert decision.startswith("rollback: automatic: version 2 left 42% of 12 messages below the confidence threshold")
