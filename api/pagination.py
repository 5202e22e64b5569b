"""Cursor pagination: newest first, keyed on (created_at, id) so pages never skip or repeat
rows while new ones arrive."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_

from api.problems import Problem

T = TypeVar("T")

LimitQuery = Annotated[int, Query(ge=1, le=200, description="Page size.")]
CursorQuery = Annotated[str | None, Query(max_length=200, description="`next_cursor` from the previous page.")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(*values: Any) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else str(v) for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[str]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise Problem(422, "Invalid cursor", "pass back next_cursor exactly as a page returned it") from None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise Problem(422, "Invalid cursor", "pass back next_cursor exactly as a page returned it")
    return values


def newest_first(query: Select, created_col: Any, id_col: Any, cursor: str | None, limit: int) -> Select:
    """Orders by (created_at, id) descending and continues after `cursor`; fetches one extra row
    to know whether another page exists."""
    if cursor:
        values = decode_cursor(cursor)
        try:
            created, row_id = datetime.fromisoformat(values[0]), uuid.UUID(values[1])
        except (ValueError, IndexError):
            raise Problem(422, "Invalid cursor", "pass back next_cursor exactly as a page returned it") from None
        query = query.where(or_(created_col < created, and_(created_col == created, id_col < row_id)))
    return query.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)


def page_of(rows: list[Any], limit: int, to_item: Any, key: Any) -> Page:
    """`rows` came from `newest_first(..., limit)`; `key(row)` gives the cursor values."""
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=[to_item(r) for r in rows], next_cursor=encode_cursor(*key(rows[-1])) if more and rows else None)


def decode_int_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    values = decode_cursor(cursor)
    try:
        return int(values[0])
    except (ValueError, IndexError):
        raise Problem(422, "Invalid cursor", "pass back next_cursor exactly as a page returned it") from None
