"""Transactions that PostgreSQL row-level security confines to one tenant.

Requests made with a tenant's credential run as the `frontdesk_tenant` role with
`app.tenant_id` set, both LOCAL to the transaction (so a pooled connection carries nothing to the
next request). The policies from migration 0002 then hide every other tenant's rows even from a
query that forgot its tenant filter. The platform's own paths (webhook routing, conversation
workers, tenant management) keep the login role, which owns the tables and is not subject to
the policies; they address rows by ids that already decide the tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

TENANT_ROLE = "frontdesk_tenant"
_ENTER_TENANT = text("SELECT set_config('role', :role, true), set_config('app.tenant_id', :tenant, true)")


@asynccontextmanager
async def tenant_transaction(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
    """One transaction that can see and write only `tenant_id`'s rows; commits on success."""
    async with sessions() as session, session.begin():
        await session.execute(_ENTER_TENANT, {"role": TENANT_ROLE, "tenant": str(tenant_id)})
        yield session
