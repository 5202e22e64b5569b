"""Dashboard users: roles decide scopes, passwords are argon2, sessions are short-lived JWTs."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from models.identity import User
from tests.api.admin.conftest import bearer

PASSWORD = "correct horse battery"


async def _user(http, tenant, role: str, email: str | None = None) -> dict:
    email = email or f"{role}-{uuid.uuid4().hex[:6]}@example.com"
    r = await http.post("/v1/users", json={"email": email, "name": role.title(), "role": role, "password": PASSWORD}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _login(http, tenant, email: str, password: str = PASSWORD):
    return await http.post("/v1/auth/login", json={"tenant": tenant.slug, "email": email, "password": password})


async def test_roles_decide_what_a_session_may_do(http, admin_tenant, deps):
    owner = await _user(http, admin_tenant, "owner")
    viewer = await _user(http, admin_tenant, "viewer")
    async with deps.sessions() as session:
        stored = await session.scalar(select(User.password_hash).where(User.id == uuid.UUID(viewer["id"])))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    viewer_tokens = (await _login(http, admin_tenant, viewer["email"].upper())).json()  # e-mail is case-insensitive
    me = await http.get("/v1/auth/me", headers=bearer(viewer_tokens["access_token"]))
    assert me.json()["role"] == "viewer" and "admin" not in me.json()["scopes"]
    assert (await http.get("/v1/conversations", headers=bearer(viewer_tokens["access_token"]))).status_code == 200
    assert (await http.get("/v1/api-keys", headers=bearer(viewer_tokens["access_token"]))).status_code == 403

    owner_tokens = (await _login(http, admin_tenant, owner["email"])).json()
    assert (await http.get("/v1/api-keys", headers=bearer(owner_tokens["access_token"]))).status_code == 200
    # Promotion takes effect on the next request, not when the token expires.
    r = await http.patch(f"/v1/users/{viewer['id']}", json={"role": "admin"}, headers=bearer(owner_tokens["access_token"]))
    assert r.status_code == 200
    assert (await http.get("/v1/api-keys", headers=bearer(viewer_tokens["access_token"]))).status_code == 200


async def test_wrong_password_unknown_user_and_disabled_user_look_the_same(http, admin_tenant):
    agent = await _user(http, admin_tenant, "agent")
    answers = [
        await _login(http, admin_tenant, agent["email"], "wrong password here"),
        await _login(http, admin_tenant, "nobody@example.com"),
    ]
    assert (await http.delete(f"/v1/users/{agent['id']}", headers=admin_tenant.headers)).status_code == 204
    answers.append(await _login(http, admin_tenant, agent["email"]))
    assert {(r.status_code, r.json()["detail"]) for r in answers} == {(401, "wrong tenant, e-mail or password")}


async def test_logout_ends_the_session_and_its_refresh(http, admin_tenant):
    agent = await _user(http, admin_tenant, "agent")
    tokens = (await _login(http, admin_tenant, agent["email"])).json()
    assert tokens["expires_in"] == 15 * 60
    refreshed = await http.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    # An access token is not a refresh token, and the other way round.
    assert (await http.post("/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})).status_code == 401
    assert (await http.get("/v1/auth/me", headers=bearer(tokens["refresh_token"]))).status_code == 401

    assert (await http.post("/v1/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 204
    assert (await http.get("/v1/auth/me", headers=bearer(refreshed.json()["access_token"]))).status_code == 401
    assert (await http.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401


async def test_password_change_signs_the_user_out_everywhere(http, admin_tenant):
    agent = await _user(http, admin_tenant, "agent")
    tokens = (await _login(http, admin_tenant, agent["email"])).json()
    new_password = "another long password"
    r = await http.patch(f"/v1/users/{agent['id']}", json={"password": new_password}, headers=admin_tenant.headers)
    assert r.status_code == 200
    assert (await http.get("/v1/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401
    assert (await _login(http, admin_tenant, agent["email"])).status_code == 401
    assert (await _login(http, admin_tenant, agent["email"], new_password)).status_code == 200


async def test_only_owners_make_owners_and_the_last_owner_stays(http, admin_tenant):
    first_owner = await _user(http, admin_tenant, "owner")  # allowed: the tenant had no owner yet
    admin = await _user(http, admin_tenant, "admin")
    admin_tokens = (await _login(http, admin_tenant, admin["email"])).json()
    r = await http.post(
        "/v1/users",
        json={"email": "sneaky@example.com", "name": "S", "role": "owner", "password": PASSWORD},
        headers=bearer(admin_tokens["access_token"]),
    )
    assert r.status_code == 403
    owner_tokens = (await _login(http, admin_tenant, first_owner["email"])).json()
    r = await http.patch(f"/v1/users/{first_owner['id']}", json={"role": "admin"}, headers=bearer(owner_tokens["access_token"]))
    assert r.status_code == 409 and "owner" in r.json()["detail"]


async def test_weak_passwords_and_duplicate_emails_are_refused(http, admin_tenant):
    r = await http.post("/v1/users", json={"email": "a@example.com", "name": "A", "role": "agent", "password": "short"}, headers=admin_tenant.headers)
    assert r.status_code == 422
    await _user(http, admin_tenant, "agent", "dup@example.com")
    r = await http.post("/v1/users", json={"email": "dup@example.com", "name": "A", "role": "agent", "password": PASSWORD}, headers=admin_tenant.headers)
    assert r.status_code == 409


async def test_repeated_login_failures_are_rate_limited(http, admin_tenant):
    agent = await _user(http, admin_tenant, "agent")
    codes = [(await _login(http, admin_tenant, agent["email"], "wrong password here")).status_code for _ in range(7)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    limited = await _login(http, admin_tenant, agent["email"])
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


async def test_text_postgresql_cannot_store_is_a_422_not_a_500(http, admin_tenant):
    """Found by schemathesis: a NUL character passed validation and failed in the database."""
    body = {"email": f"nul-{uuid.uuid4().hex[:6]}@example.com", "name": "Asha\u0000", "role": "agent", "password": PASSWORD}
    r = await http.post("/v1/users", json=body, headers=admin_tenant.headers)
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == "text contains a character PostgreSQL cannot store (NUL)"
