"""Every admin route × every kind of bad credential: 401 for missing, wrong, expired and revoked
credentials; 403 for a valid one without the route's scope; always problem+json."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest

from api.auth import Scoped
from api.main import create_app
from core.credentials import SessionClaims, derive_jwt_secret, issue_token
from core.scopes import Scope
from tests.api.admin.conftest import PLATFORM, bearer, key_with
from tests.api.app_routes import api_routes

# Routes anyone may call: health, channel webhooks and web chat (authenticated by the channel's
# own signature or the public widget), sign-in, and the codec (its own operator check).
PUBLIC = re.compile(r"^(/healthz|/readyz|/webhooks/|/v1/webchat/|/v1/auth/(login|refresh)$|/codec/)")


def _scoped_routes(settings) -> list[tuple[str, str, Scope | None]]:
    found = []
    for route in api_routes(create_app(settings).routes):
        scoped = [d.call for d in route.dependant.dependencies if isinstance(d.call, Scoped)]
        for method in sorted(route.methods - {"HEAD"}):
            found.append((method, route.path, scoped[0].scope if scoped else "none"))
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def test_every_route_declares_a_scope(settings):
    assert len(_scoped_routes(settings)) >= 40  # the walk found the routes
    undeclared = [(m, p) for m, p, scope in _scoped_routes(settings) if scope == "none" and not PUBLIC.match(p)]
    assert undeclared == []


@pytest.fixture
async def credentials(http, admin_tenant, settings):
    """One credential of each bad kind for the same tenant."""
    expired = await key_with(http, admin_tenant, "analytics:read")
    revoked = await key_with(http, admin_tenant, "analytics:read")
    r = await http.post(f"/v1/api-keys/{expired['id']}/rotate", json={"grace_hours": 0}, headers=admin_tenant.headers)
    assert r.status_code == 201
    assert (await http.delete(f"/v1/api-keys/{revoked['id']}", headers=admin_tenant.headers)).status_code == 204
    stale_session = issue_token(
        derive_jwt_secret(settings.master_key.get_secret_value()),
        SessionClaims(uuid.uuid4(), uuid.UUID(admin_tenant.id), uuid.uuid4(), "owner", "access"),
        timedelta(seconds=-5),
    )
    return {
        "missing": {},
        "not a bearer": {"Authorization": f"Basic {admin_tenant.key}"},
        "unknown key": bearer("fd_abcdefghij_" + "A" * 43),
        "malformed key": bearer("fd_nope"),
        "tampered key": bearer(admin_tenant.key[:-2] + ("AA" if not admin_tenant.key.endswith("AA") else "BB")),
        "expired key": bearer(expired["key"]),
        "revoked key": bearer(revoked["key"]),
        "expired session": bearer(stale_session),
        "forged session": bearer(stale_session[:-4] + "abcd"),
        "wrong admin key": bearer("not-the-platform-key"),
    }


async def test_bad_credentials_get_401_on_every_route(http, settings, credentials):
    failures = []
    for method, path, _ in _scoped_routes(settings):
        if PUBLIC.match(path):
            continue
        for label, headers in credentials.items():
            r = await http.request(method, _concrete(path), headers=headers, json={} if method in ("POST", "PATCH") else None)
            if r.status_code != 401 or r.headers["content-type"] != "application/problem+json" or not r.json().get("detail"):
                failures.append((method, path, label, r.status_code, r.text[:120]))
    assert failures == []


async def test_missing_scope_gets_403_on_every_route(http, settings, admin_tenant):
    everything_but = {}
    for method, path, scope in _scoped_routes(settings):
        if PUBLIC.match(path) or scope in ("none", None):
            continue
        if scope is Scope.PLATFORM:
            headers = admin_tenant.headers  # a tenant's full admin key is still not the platform
        else:
            if scope not in everything_but:
                others = [s.value for s in Scope if s not in (scope, Scope.PLATFORM)]
                everything_but[scope] = bearer((await key_with(http, admin_tenant, *others))["key"])
            headers = everything_but[scope]
        r = await http.request(method, _concrete(path), headers=headers, json={} if method in ("POST", "PATCH") else None)
        assert r.status_code == 403, (method, path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    # And the platform key is refused on tenant routes, with a reason.
    r = await http.get("/v1/conversations", headers=PLATFORM)
    assert r.status_code == 403 and "tenant API key" in r.json()["detail"]
