"""Reading one of the caller's tenant's rows by id: another tenant's row is simply not found."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.problems import Problem

Row = TypeVar("Row")


async def owned_or_404(session: AsyncSession, model: type[Row], row_id: uuid.UUID, tenant_id: uuid.UUID, label: str) -> Row:
    table: Any = model
    row = await session.scalar(select(model).where(table.id == row_id, table.tenant_id == tenant_id))
    if row is None:
        raise Problem(404, "Not found", f"no {label} {row_id}")
    return row
