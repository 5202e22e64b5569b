"""A tenant sets up its chat providers through the admin API, and reads what its LLM calls used
and how much of its budget is gone."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

from tests.api.admin.conftest import AdminTenant, bearer, key_with, new_admin_tenant
from tests.factories import eventually
from tests.standins.openai_server import CACHED_TOKENS, COMPLETION_TOKENS, PROMPT_TOKENS


async def _create(http: httpx.AsyncClient, t: AdminTenant, **fields) -> httpx.Response:
    body = {
        "name": f"p-{uuid.uuid4().hex[:8]}",
        "kind": "openai_compatible",
        "base_url": "http://vllm.internal:8000/v1",
        "model": "qwen",
        **fields,
    }
    return await http.post("/v1/llm/providers", json=body, headers=t.headers)


async def _stored_key(deps, provider_id: str) -> str | None:
    async with deps.sessions() as session:
        return await session.scalar(text("SELECT api_key_encrypted FROM llm_providers WHERE id = :id"), {"id": provider_id})


async def test_providers_are_added_listed_changed_and_removed_and_their_keys_stay_secret(http, deps):
    t = await new_admin_tenant(http)
    key, new_key = "sk-" + secrets.token_urlsafe(24), "sk-" + secrets.token_urlsafe(24)
    backup = await _create(http, t, name="backup", priority=5)
    created = await _create(http, t, name="main", kind="openai", base_url="", model="gpt-4o-mini", api_key=key, priority=1)
    assert backup.status_code == created.status_code == 201, created.text
    main = created.json()
    assert main["api_key_set"] is True and backup.json()["api_key_set"] is False
    assert main["base_url"] == ""  # the vendor's default address
    assert "api_key" not in main

    listed = await http.get("/v1/llm/providers", headers=t.headers)
    assert [p["name"] for p in listed.json()["items"]] == ["main", "backup"]  # the order replies try them

    # Stored encrypted under the app's key, bound to the row.
    stored = await _stored_key(deps, main["id"])
    assert stored and key not in stored
    assert deps.secrets.decrypt(stored, context=main["id"]) == key

    # PATCH merges what was sent; a new key replaces the old; null removes it.
    changed = await http.patch(f"/v1/llm/providers/{main['id']}", json={"priority": 9, "enabled": False}, headers=t.headers)
    assert changed.json() == {**main, "priority": 9, "enabled": False}
    rekeyed = await http.patch(f"/v1/llm/providers/{main['id']}", json={"api_key": new_key}, headers=t.headers)
    assert rekeyed.json()["api_key_set"] is True
    assert deps.secrets.decrypt(await _stored_key(deps, main["id"]), context=main["id"]) == new_key
    cleared = await http.patch(f"/v1/llm/providers/{main['id']}", json={"api_key": None}, headers=t.headers)
    assert cleared.json()["api_key_set"] is False and await _stored_key(deps, main["id"]) is None
    nulled = await http.patch(f"/v1/llm/providers/{main['id']}", json={"model": None}, headers=t.headers)
    assert nulled.status_code == 422 and "model cannot be null" in nulled.text
    taken = await http.patch(f"/v1/llm/providers/{main['id']}", json={"name": "backup"}, headers=t.headers)
    assert taken.status_code == 409 and "backup" in taken.json()["detail"]

    assert (await http.delete(f"/v1/llm/providers/{main['id']}", headers=t.headers)).status_code == 204
    assert (await http.get(f"/v1/llm/providers/{main['id']}", headers=t.headers)).status_code == 404
    assert [p["name"] for p in (await http.get("/v1/llm/providers", headers=t.headers)).json()["items"]] == ["backup"]

    # Every write is in the audit log, the key only as "(changed)".
    export = await http.get("/v1/audit-log/export", headers=t.headers)
    for r in (created, listed, changed, rekeyed, cleared, export):
        assert key not in r.text and new_key not in r.text
    audit = [json.loads(line) for line in export.text.splitlines() if '"llm_provider.' in line]
    assert (
        sorted(e["action"] for e in audit) == ["llm_provider.create"] * 2 + ["llm_provider.delete"] + ["llm_provider.update"] * 3
    )
    create = next(e for e in audit if e["action"] == "llm_provider.create" and e["target_id"] == main["id"])
    assert create["changes"]["api_key"] == "(changed)" and create["changes"]["model"] == "gpt-4o-mini"
    key_changes = [e["changes"]["api_key"] for e in audit if e["action"] == "llm_provider.update" and "api_key" in e["changes"]]
    assert sorted(key_changes) == ["(changed)", "(cleared)"]


async def test_bad_providers_are_refused_with_a_reason(http):
    t = await new_admin_tenant(http)
    unknown = await _create(http, t, kind="pigeon")
    assert unknown.status_code == 422
    assert "pigeon" in unknown.text and all(k in unknown.text for k in ("openai", "anthropic", "openai_compatible"))
    for fields, where in [
        ({"name": "has space"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"base_url": "ftp://files.example/v1"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"base_url": ""}, "base_url"),  # a self-hosted server has no default address
        ({"model": ""}, "model"),
        ({"priority": 10**12}, "priority"),
        ({"api_key": "sk-caf\u00e9"}, "api_key"),  # would fail every call: header values are ASCII
        ({"api_key": "sk with space"}, "api_key"),
    ]:
        r = await _create(http, t, **fields)
        assert r.status_code == 422, (fields, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert [where] in [e["loc"][-1:] for e in r.json()["detail"]], (fields, r.text)

    first = await _create(http, t, name="primary")
    again = await _create(http, t, name="primary", model="other")
    assert first.status_code == 201 and again.status_code == 409 and "primary" in again.json()["detail"]
    pid = first.json()["id"]
    assert (await http.patch(f"/v1/llm/providers/{pid}", json={"kind": "pigeon"}, headers=t.headers)).status_code == 422
    assert (await http.patch(f"/v1/llm/providers/{pid}", json={"base_url": ""}, headers=t.headers)).status_code == 422
    unchanged = await http.get(f"/v1/llm/providers/{pid}", headers=t.headers)
    assert unchanged.json() == first.json()


async def test_another_tenants_provider_is_not_found(http):
    owner, other = await new_admin_tenant(http), await new_admin_tenant(http)
    mine = (await _create(http, owner, name="mine", api_key="sk-owner")).json()
    path = f"/v1/llm/providers/{mine['id']}"
    assert (await http.get(path, headers=other.headers)).status_code == 404
    assert (await http.patch(path, json={"model": "stolen"}, headers=other.headers)).status_code == 404
    assert (await http.delete(path, headers=other.headers)).status_code == 404
    assert (await http.get("/v1/llm/providers", headers=other.headers)).json()["items"] == []
    assert (await http.get(path, headers=owner.headers)).json() == mine


async def _turn(http: httpx.AsyncClient, webchat_id: str, session_id: str, message: str) -> str:
    body = {"session_id": session_id, "client_message_id": uuid.uuid4().hex, "text": message}
    r = await http.post(f"/v1/webchat/{webchat_id}/messages", json=body)
    assert r.status_code == 200, r.text
    return r.json()["reply"]


async def test_a_provider_added_through_the_api_answers_and_its_usage_and_budget_add_up(http, openai_standin):
    t = await new_admin_tenant(http)
    time_zone = "Pacific/Kiritimati"  # UTC+14: its day is rarely UTC's day
    limit = {"period": "day", "metric": "tokens", "limit": "100000", "action": "alert"}
    settings = {"timezone": time_zone, "llm": {"budgets": {"limits": [limit]}}}
    assert (await http.patch("/v1/tenant", json={"settings": settings}, headers=t.headers)).status_code == 200
    model = f"model-{uuid.uuid4().hex[:10]}"
    created = await _create(http, t, name="standin", base_url=f"{openai_standin.url}/v1", model=model, api_key="sk-test")
    assert created.status_code == 201, created.text
    web = await http.post("/v1/channel-accounts", json={"channel": "webchat", "name": "site"}, headers=t.headers)

    assert await _turn(http, web.json()["id"], "visitor-a", "Where is my parcel?") == f"[{model}] Where is my parcel?"
    assert await _turn(http, web.json()["id"], "visitor-a", "And the invoice?") == f"[{model}] And the invoice?"
    assert await _turn(http, web.json()["id"], "visitor-b", "Hello") == f"[{model}] Hello"

    async def usage(**params) -> dict:
        r = await http.get("/v1/llm/usage", params=params, headers=t.headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def all_recorded() -> bool:
        return (await usage(group_by="model"))["totals"]["calls"] == 3

    await eventually(all_recorded, what="three usage rows")
    by_model = await usage(group_by="model")
    [row] = by_model["rows"]
    assert row["key"] == model and row["calls"] == 3
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (
        3 * PROMPT_TOKENS,
        3 * COMPLETION_TOKENS,
        3 * CACHED_TOKENS,
    )
    assert row["failovers"] == 0 and Decimal(row["cost_usd"]) >= 0
    assert by_model["totals"] == {k: v for k, v in row.items() if k != "key"}

    by_day = await usage(group_by="day")
    assert by_day["time_zone"] == time_zone
    assert [(r["key"], r["calls"]) for r in by_day["rows"]] == [(datetime.now(ZoneInfo(time_zone)).date().isoformat(), 3)]
    assert [(r["key"], r["calls"]) for r in (await usage(group_by="provider"))["rows"]] == [("standin", 3)]

    by_conversation = await usage(group_by="conversation")
    assert sorted(r["calls"] for r in by_conversation["rows"]) == [1, 2]
    assert [r["key"] for r in by_conversation["rows"]] == sorted(r["key"] for r in by_conversation["rows"])
    busiest = next(r["key"] for r in by_conversation["rows"] if r["calls"] == 2)
    only_it = await usage(group_by="day", conversation_id=busiest)
    assert only_it["totals"]["calls"] == 2 and only_it["totals"]["output_tokens"] == 2 * COMPLETION_TOKENS
    paged = await usage(group_by="conversation", limit=1)
    rest = await usage(group_by="conversation", limit=1, cursor=paged["next_cursor"])
    assert [r["key"] for r in paged["rows"] + rest["rows"]] == [r["key"] for r in by_conversation["rows"]]
    assert rest["next_cursor"] is None and rest["totals"]["calls"] == 3

    budget = await http.get("/v1/llm/budget", headers=t.headers)
    assert budget.status_code == 200, budget.text
    [status] = budget.json()["limits"]
    used = 3 * (PROMPT_TOKENS + COMPLETION_TOKENS)
    assert status | {"resets_at": None} == {**limit, "used": used, "percent": round(used / 100_000 * 100, 2), "resets_at": None}
    resets_at = datetime.fromisoformat(status["resets_at"])
    assert timedelta(0) < resets_at - datetime.now(ZoneInfo(time_zone)) <= timedelta(days=1)


async def test_usage_and_budget_of_a_quiet_tenant_and_bad_queries(http):
    t = await new_admin_tenant(http)
    analyst = bearer((await key_with(http, t, "analytics:read"))["key"])
    quiet = await http.get("/v1/llm/usage", params={"group_by": "model"}, headers=analyst)
    assert quiet.status_code == 200
    assert (
        quiet.json()["rows"] == [] and quiet.json()["totals"]["calls"] == 0 and quiet.json()["totals"]["cost_usd"] == "0.000000"
    )
    assert (await http.get("/v1/llm/budget", headers=analyst)).json()["limits"] == []
    assert (await http.get("/v1/llm/providers", headers=analyst)).status_code == 403  # providers need agents:manage

    for params in [
        {"since": "yesterday"},
        {"since": "2025-03-02T00:00:00Z", "until": "2025-03-01T00:00:00Z"},
        {"since": "2024-01-01T00:00:00Z", "until": "2025-03-01T00:00:00Z"},  # over 366 days
        {"group_by": "week"},
        {"cursor": "not-a-cursor"},
    ]:
        r = await http.get("/v1/llm/usage", params=params, headers=analyst)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"] == "application/problem+json" and r.json()["detail"]
    # A time without an offset is the tenant's local time (UTC until it sets one).
    local = await http.get(
        "/v1/llm/usage", params={"since": "2025-03-01T00:00:00", "until": "2025-03-02T00:00:00"}, headers=analyst
    )
    assert local.status_code == 200 and local.json()["since"] == "2025-03-01T00:00:00Z"
