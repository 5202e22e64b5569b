"""Tenants, keys and users made through the admin API itself, as an operator would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from api.routes.api_keys import create_key
from core.scopes import TENANT_SCOPES
from tests.conftest import TEST_ADMIN_KEY

PLATFORM = {"Authorization": f"Bearer {TEST_ADMIN_KEY}"}


@dataclass
class AdminTenant:
    id: str
    slug: str
    key: str  # the initial admin key

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_admin_tenant(http: httpx.AsyncClient) -> AdminTenant:
    slug = f"t-{uuid.uuid4().hex[:12]}"
    r = await http.post("/v1/tenants", json={"slug": slug, "name": f"Tenant {slug}"}, headers=PLATFORM)
    assert r.status_code == 201, r.text
    body = r.json()
    return AdminTenant(id=body["tenant"]["id"], slug=slug, key=body["api_key"]["key"])


async def key_with(http: httpx.AsyncClient, tenant: AdminTenant, *scopes: str, **extra) -> dict:
    r = await http.post("/v1/api-keys", json={"name": f"key {'+'.join(scopes)}", "scopes": list(scopes), **extra}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
async def admin_tenant(http) -> AdminTenant:
    return await new_admin_tenant(http)


async def admin_key_for(deps, tenant_id: str) -> str:
    """An admin key for a tenant made by tests/factories.create_tenant (which has channel accounts
    wired to the stand-ins)."""
    async with deps.sessions.begin() as session:
        created = await create_key(session, uuid.UUID(tenant_id), "test admin", sorted(TENANT_SCOPES), None, "test")
    return created.key
