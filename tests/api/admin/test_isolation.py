"""Tenancy enforced twice: the API filters by the credential's tenant, and PostgreSQL row-level
security hides other tenants' rows even from a query with no filter. Each layer is tested with
the other one out of the way."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from models.all import Base
from models.tenant_db import TENANT_ROLE, tenant_transaction
from tests.api.admin.conftest import admin_key_for, bearer
from tests.factories import create_tenant, eventually, new_phone, new_wamid, signature, whatsapp_payload

TENANT_TABLES = sorted(t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.c) + ["tenants"]


async def _populated(http, deps, openai_standin, graph_standin):
    t = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    graph_standin.valid_tokens.add(t.access_token)
    t.admin = bearer(await admin_key_for(deps, t.tenant_id))
    t.phone = new_phone()
    body = whatsapp_payload(t.phone_number_id, [(t.phone, new_wamid(), "where is my parcel")])
    r = await http.post(f"/webhooks/whatsapp/{t.whatsapp_id}", content=body, headers={"x-hub-signature-256": signature(body, t.app_secret)})
    assert r.status_code == 200

    async def answered() -> bool:
        return bool(graph_standin.sends_to(t.phone))

    await eventually(answered, what="the reply")
    r = await http.post("/v1/users", json={"email": f"u{uuid.uuid4().hex[:6]}@example.com", "name": "U", "role": "agent", "password": "x" * 12}, headers=t.admin)
    t.user_id = r.json()["id"]
    t.key_id = (await http.get("/v1/api-keys", headers=t.admin)).json()["items"][0]["id"]
    return t


@pytest.fixture
async def two_tenants(http, deps, openai_standin, graph_standin):
    return (
        await _populated(http, deps, openai_standin, graph_standin),
        await _populated(http, deps, openai_standin, graph_standin),
    )


async def _ids_of(http, t) -> dict[str, list[str]]:
    conversations = (await http.get("/v1/conversations", headers=t.admin)).json()["items"]
    customers = (await http.get("/v1/customers", headers=t.admin)).json()["items"]
    return {
        "/v1/conversations/{}": [c["id"] for c in conversations],
        "/v1/conversations/{}/messages": [c["id"] for c in conversations],
        "/v1/customers/{}": [c["id"] for c in customers],
        "/v1/customers/{}/conversations": [c["id"] for c in customers],
        "/v1/channel-accounts/{}": [t.whatsapp_id, t.webchat_id],
        "/v1/users/{}": [t.user_id],
        "/v1/api-keys/{}": [t.key_id],
    }


LISTS = ["/v1/conversations", "/v1/customers", "/v1/channel-accounts", "/v1/users", "/v1/api-keys", "/v1/audit-log"]


async def _assert_cross_tenant_reads_fail(http, a, b) -> None:
    a_ids = await _ids_of(http, a)
    assert all(a_ids.values())  # A really has something of each kind to steal
    for template, ids in a_ids.items():
        for resource_id in ids:
            own = await http.get(template.format(resource_id), headers=a.admin)
            stolen = await http.get(template.format(resource_id), headers=b.admin)
            assert own.status_code == 200 and stolen.status_code == 404, (template, stolen.text)
    every_a_id = {i for ids in a_ids.values() for i in ids}
    for path in LISTS:
        listed = (await http.get(path, headers=b.admin)).json()["items"]
        assert listed and not {item["id"] for item in listed} & every_a_id, path
    by_phone = await http.get("/v1/customers", params={"phone": "+" + a.phone}, headers=b.admin)
    assert by_phone.json()["items"] == []
    assert (await http.get("/v1/customers", params={"phone": "+" + a.phone}, headers=a.admin)).json()["items"]


async def test_api_layer_alone_keeps_tenants_apart(http, deps, two_tenants):
    """Row-level security switched off in the database (the tenant role then sees every row):
    the credential's tenant filter alone must keep tenants apart."""
    a, b = two_tenants

    async def row_security(enabled: bool) -> None:
        async with deps.sessions.begin() as session:
            for table in TENANT_TABLES:
                await session.execute(text(f"ALTER TABLE {table} {'ENABLE' if enabled else 'DISABLE'} ROW LEVEL SECURITY"))

    await row_security(False)
    try:
        async with tenant_transaction(deps.sessions, uuid.UUID(a.tenant_id)) as session:  # really off
            assert await session.scalar(text("SELECT count(DISTINCT tenant_id) FROM conversations")) >= 2
        await _assert_cross_tenant_reads_fail(http, a, b)
    finally:
        await row_security(True)


async def test_full_stack_keeps_tenants_apart(http, two_tenants):
    a, b = two_tenants
    await _assert_cross_tenant_reads_fail(http, a, b)
    await _assert_cross_tenant_reads_fail(http, b, a)


async def test_rls_alone_hides_other_tenants_from_unfiltered_sql(deps, two_tenants):
    a, b = two_tenants
    async with tenant_transaction(deps.sessions, uuid.UUID(a.tenant_id)) as session:
        for table in TENANT_TABLES:
            column = "id" if table == "tenants" else "tenant_id"
            seen = set((await session.execute(text(f"SELECT DISTINCT {column}::text FROM {table}"))).scalars())
            assert seen <= {a.tenant_id}, table
        assert await session.scalar(text("SELECT count(*) FROM conversations")) >= 1
    # The role without a tenant set sees nothing at all, in every tenant table.
    async with deps.sessions() as session, session.begin():
        await session.execute(text(f"SET LOCAL ROLE {TENANT_ROLE}"))
        for table in TENANT_TABLES:
            assert await session.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table
    # Writing a row for another tenant is refused by the policy's WITH CHECK.
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_transaction(deps.sessions, uuid.UUID(a.tenant_id)) as session:
            await session.execute(
                text("INSERT INTO customers (id, tenant_id, created_at) VALUES (:id, :tenant, now())"),
                {"id": uuid.uuid4(), "tenant": b.tenant_id},
            )
    # The audit log is append-only for tenants.
    with pytest.raises(DBAPIError, match="permission denied"):
        async with tenant_transaction(deps.sessions, uuid.UUID(a.tenant_id)) as session:
            await session.execute(text("DELETE FROM audit_log"))


async def test_every_tenant_table_has_row_level_security(deps):
    async with deps.sessions() as session:
        rows = (await session.execute(text("SELECT relname, relrowsecurity FROM pg_class WHERE relname = ANY(:names)"), {"names": TENANT_TABLES})).all()
    assert dict(rows) == {name: True for name in TENANT_TABLES}
