"""The tenant's audit log: every admin write, filterable, exportable as JSON Lines or CSV."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Select, select

from api.auth import Ctx, Scoped
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from core.scopes import Scope
from models.audit import AuditEntry

router = APIRouter(prefix="/v1/audit-log", tags=["audit log"])
Admin = Annotated[Ctx, Depends(Scoped(Scope.ADMIN))]
EXPORT_BATCH = 500


class AuditOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    actor_type: str
    actor_id: str
    action: str
    target_type: str
    target_id: str | None
    request_id: str | None
    ip: str | None
    changes: dict[str, Any]

    @classmethod
    def of(cls, e: AuditEntry) -> AuditOut:
        return cls(
            id=e.id, created_at=e.created_at, actor_type=e.actor_type, actor_id=e.actor_id, action=e.action,
            target_type=e.target_type, target_id=e.target_id, request_id=e.request_id, ip=e.ip, changes=e.changes or {},
        )  # fmt: skip


class AuditFilters:
    def __init__(
        self,
        action: Annotated[str | None, Query(max_length=64, examples=["api_key.rotate"])] = None,
        actor_id: Annotated[str | None, Query(max_length=200)] = None,
        target_type: Annotated[str | None, Query(max_length=32)] = None,
        target_id: Annotated[str | None, Query(max_length=200)] = None,
        since: Annotated[datetime | None, Query()] = None,
        until: Annotated[datetime | None, Query()] = None,
    ) -> None:
        self.values = {"action": action, "actor_id": actor_id, "target_type": target_type, "target_id": target_id}
        self.since, self.until = since, until

    def apply(self, query: Select, tenant_id: uuid.UUID) -> Select:
        query = query.where(AuditEntry.tenant_id == tenant_id)
        for column, value in self.values.items():
            if value is not None:
                query = query.where(getattr(AuditEntry, column) == value)
        if self.since:
            query = query.where(AuditEntry.created_at >= self.since)
        if self.until:
            query = query.where(AuditEntry.created_at < self.until)
        return query


Filters = Annotated[AuditFilters, Depends()]


@router.get("", response_model=Page[AuditOut], summary="Admin actions, newest first")
async def list_audit(ctx: Admin, filters: Filters, cursor: CursorQuery = None, limit: LimitQuery = 50) -> Page[AuditOut]:
    query = filters.apply(select(AuditEntry), ctx.tenant_id)
    async with ctx.db() as session:
        rows = list(await session.scalars(newest_first(query, AuditEntry.created_at, AuditEntry.id, cursor, limit)))
    return page_of(rows, limit, AuditOut.of, lambda e: (e.created_at, e.id))


_CSV_COLUMNS = list(AuditOut.model_fields)


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


@router.get(
    "/export",
    summary="Export the audit log (JSON Lines or CSV)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
)
async def export_audit(ctx: Admin, filters: Filters, format: Literal["jsonl", "csv"] = "jsonl") -> StreamingResponse:
    base = filters.apply(select(AuditEntry), ctx.tenant_id)

    async def rows() -> AsyncIterator[str]:
        if format == "csv":
            yield _csv_line(_CSV_COLUMNS)
        cursor = None
        while True:
            # One short tenant transaction per batch: a long export holds no connection between batches.
            async with ctx.db() as session:
                batch = list(await session.scalars(newest_first(base, AuditEntry.created_at, AuditEntry.id, cursor, EXPORT_BATCH)))
            page = page_of(batch, EXPORT_BATCH, AuditOut.of, lambda e: (e.created_at, e.id))
            for item in page.items:
                record = item.model_dump(mode="json")
                if format == "csv":
                    yield _csv_line([json.dumps(v) if isinstance(v, dict) else v for v in record.values()])
                else:
                    yield json.dumps(record) + "\n"
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    media = "text/csv" if format == "csv" else "application/x-ndjson"
    filename = f"audit-log.{format}"
    return StreamingResponse(rows(), media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
