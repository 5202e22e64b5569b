"""Every admin write leaves an audit entry: who, what, on which target, in which request."""

from __future__ import annotations

import csv
import io
import json

from tests.api.admin.conftest import PLATFORM, key_with, new_admin_tenant


async def test_admin_writes_are_audited_with_actor_and_request_id(http):
    t = await new_admin_tenant(http)
    rid = {"X-Request-ID": "req-audit-1"}
    key = await key_with(http, t, "conversations:read")
    await http.post(f"/v1/api-keys/{key['id']}/rotate", headers={**t.headers, **rid})
    await http.delete(f"/v1/api-keys/{key['id']}", headers=t.headers)
    user = (await http.post("/v1/users", json={"email": "ops@example.com", "name": "Ops", "role": "agent", "password": "p" * 12}, headers=t.headers)).json()
    await http.patch(f"/v1/users/{user['id']}", json={"role": "viewer", "password": "q" * 12}, headers=t.headers)
    await http.patch(f"/v1/tenants/{t.id}", json={"name": "Renamed"}, headers=PLATFORM)

    entries = (await http.get("/v1/audit-log", params={"limit": 200}, headers=t.headers)).json()["items"]
    actions = [e["action"] for e in reversed(entries)]
    assert actions == ["tenant.create", "api_key.create", "api_key.rotate", "api_key.revoke", "user.create", "user.update", "tenant.update"]
    by_action = {e["action"]: e for e in entries}
    assert by_action["api_key.rotate"]["request_id"] == "req-audit-1"
    assert by_action["api_key.rotate"]["actor_type"] == "api_key" and by_action["api_key.rotate"]["target_id"] == key["id"]
    assert by_action["tenant.update"]["actor_type"] == "platform"
    assert by_action["tenant.update"]["changes"]["name"]["new"] == "Renamed"
    assert by_action["user.update"]["changes"] == {"role": {"old": "agent", "new": "viewer"}, "password": "(changed)"}

    only_users = (await http.get("/v1/audit-log", params={"target_type": "user"}, headers=t.headers)).json()["items"]
    assert {e["action"] for e in only_users} == {"user.create", "user.update"}
    # Reads are not audited, and nothing was written for them.
    await http.get("/v1/users", headers=t.headers)
    assert len((await http.get("/v1/audit-log", params={"limit": 200}, headers=t.headers)).json()["items"]) == len(entries)


async def test_audit_log_exports_as_jsonl_and_csv(http):
    t = await new_admin_tenant(http)
    for _n in range(3):
        await key_with(http, t, "analytics:read")
    jsonl = await http.get("/v1/audit-log/export", params={"action": "api_key.create"}, headers=t.headers)
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in jsonl.text.splitlines()]
    assert len(records) == 3 and {r["action"] for r in records} == {"api_key.create"}

    as_csv = await http.get("/v1/audit-log/export", params={"format": "csv"}, headers=t.headers)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 4 and rows[-1]["action"] == "tenant.create"
    assert json.loads(rows[0]["changes"])["scopes"] == ["analytics:read"]
    assert (await http.get("/v1/audit-log/export", params={"format": "xml"}, headers=t.headers)).status_code == 422
