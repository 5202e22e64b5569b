"""A tenant names its intents, describes them, lists them with their sample counts, renames and
deletes them; deleting one sends its approved samples back for review. Another tenant never
sees them."""

from __future__ import annotations

import httpx
from temporalio.client import ScheduleOverlapPolicy

from tests.api.admin.conftest import AdminTenant, bearer, key_with, new_admin_tenant

INTENTS = "/v1/nlu/intents"
SAMPLES = "/v1/nlu/samples"


async def _intent(http: httpx.AsyncClient, t: AdminTenant, name: str, **fields) -> dict:
    r = await http.post(INTENTS, json={"name": name, **fields}, headers=t.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _sample(http: httpx.AsyncClient, t: AdminTenant, text: str, intent: str | None, status: str = "approved") -> dict:
    r = await http.post(SAMPLES, json={"text": text, "intent": intent, "status": status}, headers=t.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_an_intent_is_created_listed_with_counts_edited_and_renamed(http):
    t = await new_admin_tenant(http)
    track = await _intent(http, t, "track_order", description="  Where is my order?  ", tool_hints=["track_order", "list_orders", "track_order"])
    assert {k: track[k] for k in ("name", "description", "tool_hints", "handoff", "active", "approved_samples", "pending_samples")} == {
        "name": "track_order", "description": "Where is my order?", "tool_hints": ["track_order", "list_orders"],
        "handoff": False, "active": True, "approved_samples": 0, "pending_samples": 0,
    }  # fmt: skip
    oos = await _intent(http, t, "out_of_scope", description="Nothing we sell.")
    human = await _intent(http, t, "complaint", handoff=True, active=False)

    await _sample(http, t, "where is my parcel", "track_order")
    await _sample(http, t, "parcel not arrived yet", "track_order")
    await _sample(http, t, "kab aayega mera order", "track_order", "pending")
    await _sample(http, t, "do you sell cars", "out_of_scope", "pending")

    listed = (await http.get(INTENTS, headers=t.headers)).json()
    assert [(i["name"], i["approved_samples"], i["pending_samples"]) for i in listed["items"]] == [
        ("complaint", 0, 0), ("out_of_scope", 0, 1), ("track_order", 2, 1),
    ]  # newest first  # fmt: skip
    assert [i["name"] for i in (await http.get(INTENTS, params={"active": "false"}, headers=t.headers)).json()["items"]] == ["complaint"]
    page = (await http.get(INTENTS, params={"limit": 2}, headers=t.headers)).json()
    assert [i["name"] for i in page["items"]] == ["complaint", "out_of_scope"] and page["next_cursor"]
    rest = (await http.get(INTENTS, params={"limit": 2, "cursor": page["next_cursor"]}, headers=t.headers)).json()
    assert [i["name"] for i in rest["items"]] == ["track_order"] and rest["next_cursor"] is None
    read = (await http.get(f"{INTENTS}/{track['id']}", headers=t.headers)).json()
    assert (read["approved_samples"], read["pending_samples"]) == (2, 1)

    r = await http.patch(f"{INTENTS}/{human['id']}", json={"active": True, "description": "Angry customers.", "tool_hints": []}, headers=t.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["active"], r.json()["description"], r.json()["handoff"]) == (True, "Angry customers.", True)
    assert r.json()["updated_at"] > human["updated_at"]

    # Renaming keeps the samples; the old name is free again, a taken one is refused.
    renamed = await http.patch(f"{INTENTS}/{track['id']}", json={"name": "order_status"}, headers=t.headers)
    assert renamed.status_code == 200 and renamed.json()["approved_samples"] == 2
    listed = (await http.get(SAMPLES, params={"intent": "order_status"}, headers=t.headers)).json()["items"]
    assert sorted(s["text"] for s in listed) == ["kab aayega mera order", "parcel not arrived yet", "where is my parcel"]
    taken = await http.patch(f"{INTENTS}/{track['id']}", json={"name": "out_of_scope"}, headers=t.headers)
    assert taken.status_code == 409 and "out_of_scope" in taken.json()["detail"]
    assert (await http.get(f"{INTENTS}/{oos['id']}", headers=t.headers)).json()["name"] == "out_of_scope"


async def test_names_are_slugs_unique_per_tenant_and_bad_intents_are_refused(http):
    t, other = await new_admin_tenant(http), await new_admin_tenant(http)
    await _intent(http, t, "refund")
    dup = await http.post(INTENTS, json={"name": "refund"}, headers=t.headers)
    assert dup.status_code == 409 and dup.json()["detail"] == "the tenant already has an intent called 'refund'"
    await _intent(http, other, "refund")  # another tenant's namespace
    for body in (
        {"name": "Refund"}, {"name": "refund order"}, {"name": "_refund"}, {"name": ""}, {"name": "r" * 65},
        {"name": "ok", "description": "x" * 2001}, {"name": "ok", "tool_hints": ["launch_rockets"]},
        {"name": "ok", "tool_hints": ["track_order"] * 21}, {"name": "ok", "colour": "red"}, {"name": "ok", "handoff": "perhaps"},
    ):  # fmt: skip
        r = await http.post(INTENTS, json=body, headers=t.headers)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    refund = (await http.get(INTENTS, headers=t.headers)).json()["items"][0]
    for body in ({"name": None}, {"active": None}, {"name": "Bad Name"}):
        assert (await http.patch(f"{INTENTS}/{refund['id']}", json=body, headers=t.headers)).status_code == 422, body


async def test_deleting_an_intent_unlabels_its_samples_and_requeues_the_approved_ones(http):
    t = await new_admin_tenant(http)
    doomed = await _intent(http, t, "cancel_order")
    kept = await _intent(http, t, "refund")
    approved = await _sample(http, t, "cancel my order", "cancel_order")
    pending = await _sample(http, t, "order cancel karo", "cancel_order", "pending")
    rejected = await _sample(http, t, "cancel the subscription", "cancel_order", "pending")
    r = await http.patch(f"{SAMPLES}/{rejected['id']}", json={"status": "rejected"}, headers=t.headers)
    assert r.json()["status"] == "rejected"
    other = await _sample(http, t, "money back please", "refund")

    assert (await http.delete(f"{INTENTS}/{doomed['id']}", headers=t.headers)).status_code == 204
    assert (await http.get(f"{INTENTS}/{doomed['id']}", headers=t.headers)).status_code == 404
    assert (await http.delete(f"{INTENTS}/{doomed['id']}", headers=t.headers)).status_code == 404
    samples = {s["id"]: s for s in (await http.get(SAMPLES, headers=t.headers)).json()["items"]}
    assert (samples[approved["id"]]["intent"], samples[approved["id"]]["status"], samples[approved["id"]]["reviewed_by"]) == (None, "pending", None)
    assert (samples[pending["id"]]["intent"], samples[pending["id"]]["status"]) == (None, "pending")
    assert (samples[rejected["id"]]["intent"], samples[rejected["id"]]["status"]) == (None, "rejected")
    assert (samples[other["id"]]["intent"], samples[other["id"]]["status"]) == ("refund", "approved")
    assert (await http.get(f"{INTENTS}/{kept['id']}", headers=t.headers)).json()["approved_samples"] == 1
    # The name can be used again; the requeued samples are not relabelled by that.
    again = await _intent(http, t, "cancel_order")
    assert (again["approved_samples"], again["pending_samples"]) == (0, 0)
    audit = (await http.get("/v1/audit-log", params={"action": "nlu_intent.delete"}, headers=t.headers)).json()["items"]
    assert [a["changes"] for a in audit if a["action"] == "nlu_intent.delete"] == [{"name": "cancel_order", "samples_requeued": 1}]


async def test_another_tenant_cannot_read_change_or_delete_an_intent(http):
    a, b = await new_admin_tenant(http), await new_admin_tenant(http)
    intent = await _intent(http, a, "track_order")
    url = f"{INTENTS}/{intent['id']}"
    assert (await http.get(url, headers=b.headers)).status_code == 404
    assert (await http.patch(url, json={"description": "hacked"}, headers=b.headers)).status_code == 404
    assert (await http.delete(url, headers=b.headers)).status_code == 404
    assert (await http.get(INTENTS, headers=b.headers)).json()["items"] == []
    # B cannot label its samples with A's intent either: names resolve in B's own intents.
    r = await http.post(SAMPLES, json={"text": "where is it", "intent": "track_order"}, headers=b.headers)
    assert r.status_code == 422 and "track_order" in r.json()["detail"]
    assert (await http.get(url, headers=a.headers)).json()["description"] == ""


async def test_reading_needs_knowledge_read_and_changing_needs_agents_manage(http):
    t = await new_admin_tenant(http)
    intent = await _intent(http, t, "greeting")
    reader = bearer((await key_with(http, t, "knowledge:read"))["key"])
    writer = bearer((await key_with(http, t, "knowledge:read", "knowledge:write"))["key"])
    assert (await http.get(INTENTS, headers=reader)).status_code == 200
    assert (await http.get(f"{INTENTS}/{intent['id']}", headers=reader)).status_code == 200
    for headers in (reader, writer):
        assert (await http.post(INTENTS, json={"name": "bye"}, headers=headers)).status_code == 403
        assert (await http.patch(f"{INTENTS}/{intent['id']}", json={"active": False}, headers=headers)).status_code == 403
        assert (await http.delete(f"{INTENTS}/{intent['id']}", headers=headers)).status_code == 403
    manager = bearer((await key_with(http, t, "agents:manage"))["key"])
    assert (await http.post(INTENTS, json={"name": "bye"}, headers=manager)).status_code == 201
    assert (await http.get(INTENTS, headers=manager)).status_code == 403


async def test_the_first_intent_registers_the_nightly_retraining_schedule(http, temporal):
    t = await new_admin_tenant(http)
    r = await http.post("/v1/nlu/intents", json={"name": "track_order"}, headers=t.headers)
    assert r.status_code == 201, r.text

    described = await temporal.get_schedule_handle(f"nlu-retrain:{t.id}").describe()
    assert described.schedule.action.workflow == "TrainIntentModelWorkflow"
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP and not described.schedule.state.paused


async def test_intents_created_by_an_import_register_the_schedule_too(http, temporal):
    t = await new_admin_tenant(http)
    csv = b"text,intent\nwhere is my parcel,track_order\nrefund kab milega,refund_status\n"
    r = await http.post(
        "/v1/nlu/samples/import", files={"file": ("samples.csv", csv, "text/csv")}, data={"create_intents": "true"}, headers=t.headers
    )
    assert r.status_code == 200 and r.json()["created"] == 2, r.text

    described = await temporal.get_schedule_handle(f"nlu-retrain:{t.id}").describe()
    assert described.schedule.action.workflow == "TrainIntentModelWorkflow"
