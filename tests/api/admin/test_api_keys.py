"""API keys: shown once, stored hashed, rotated with a grace period, revoked at once."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from models.identity import ApiKey
from tests.api.admin.conftest import bearer, key_with


async def test_key_is_shown_once_and_stored_only_as_a_hash(http, admin_tenant, deps):
    created = await key_with(http, admin_tenant, "conversations:read", expires_in_days=30)
    assert created["key"].startswith(f"fd_{created['prefix']}_")
    shown_again = await http.get(f"/v1/api-keys/{created['id']}", headers=admin_tenant.headers)
    assert shown_again.status_code == 200 and "key" not in shown_again.json()
    assert created["key"] not in (await http.get("/v1/api-keys", headers=admin_tenant.headers)).text
    async with deps.sessions() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.prefix == created["prefix"]))
    assert row.secret_hash == hashlib.sha256(created["key"].encode()).hexdigest()
    assert created["key"] not in repr(row.__dict__)
    assert shown_again.json()["expires_at"] is not None


async def test_rotation_keeps_the_old_key_for_the_grace_period_only(http, admin_tenant):
    old = await key_with(http, admin_tenant, "conversations:read")
    r = await http.post(f"/v1/api-keys/{old['id']}/rotate", json={"grace_hours": 1}, headers=admin_tenant.headers)
    assert r.status_code == 201
    new = r.json()
    assert new["key"] != old["key"] and new["scopes"] == ["conversations:read"]
    for key in (old["key"], new["key"]):  # both work during the grace period
        assert (await http.get("/v1/conversations", headers=bearer(key))).status_code == 200
    listed = {k["id"]: k for k in (await http.get("/v1/api-keys", headers=admin_tenant.headers)).json()["items"]}
    assert listed[old["id"]]["replaced_by_id"] == new["id"] and listed[old["id"]]["expires_at"]

    # Rotating the new key with no grace ends it at once; its successor works.
    r = await http.post(f"/v1/api-keys/{new['id']}/rotate", json={"grace_hours": 0}, headers=admin_tenant.headers)
    newest = r.json()
    refused = await http.get("/v1/conversations", headers=bearer(new["key"]))
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]
    assert (await http.get("/v1/conversations", headers=bearer(newest["key"]))).status_code == 200
    # An ended key cannot be rotated again.
    assert (await http.post(f"/v1/api-keys/{new['id']}/rotate", headers=admin_tenant.headers)).status_code == 409


async def test_revocation_is_immediate(http, admin_tenant):
    key = await key_with(http, admin_tenant, "conversations:read")
    assert (await http.get("/v1/conversations", headers=bearer(key["key"]))).status_code == 200
    assert (await http.delete(f"/v1/api-keys/{key['id']}", headers=admin_tenant.headers)).status_code == 204
    refused = await http.get("/v1/conversations", headers=bearer(key["key"]))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert (await http.get(f"/v1/api-keys/{key['id']}", headers=admin_tenant.headers)).json()["revoked_at"]


async def test_last_used_time_is_recorded(http, admin_tenant):
    key = await key_with(http, admin_tenant, "conversations:read")
    assert (await http.get(f"/v1/api-keys/{key['id']}", headers=admin_tenant.headers)).json()["last_used_at"] is None
    await http.get("/v1/conversations", headers=bearer(key["key"]))
    assert (await http.get(f"/v1/api-keys/{key['id']}", headers=admin_tenant.headers)).json()["last_used_at"]


async def test_keys_cannot_carry_the_platform_scope_or_unknown_scopes(http, admin_tenant):
    for scopes in (["platform"], ["root"], []):
        r = await http.post("/v1/api-keys", json={"name": "x", "scopes": scopes}, headers=admin_tenant.headers)
        assert r.status_code == 422, r.text


async def test_pages_walk_every_key_once(http, admin_tenant):
    made = {(await key_with(http, admin_tenant, "analytics:read"))["id"] for _ in range(5)}
    seen, cursor = [], None
    while True:
        r = await http.get("/v1/api-keys", params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=admin_tenant.headers)
        assert r.status_code == 200
        seen += [k["id"] for k in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 6  # the five and the tenant's initial key
    assert made <= set(seen)
    assert (await http.get("/v1/api-keys", params={"cursor": "garbage!"}, headers=admin_tenant.headers)).status_code == 422
