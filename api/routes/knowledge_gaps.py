"""What customers asked that the knowledge base could not answer, grouped by meaning and most
asked first: the tenant's list of what to write next. Every knowledge search is recorded
(activities/knowledge.py); one that returned no passage above the tenant's score threshold
counts as unanswered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import Ctx, Scoped
from core.scopes import Scope
from models.knowledge_coverage import MAX_GAP_EVENTS, retrieval_counts, unanswered_since
from rag.gaps import GapCluster, cluster_unanswered

router = APIRouter(prefix="/v1/knowledge/gaps", tags=["knowledge"])
Reader = Annotated[Ctx, Depends(Scoped(Scope.KNOWLEDGE_READ))]
DEFAULT_WINDOW = timedelta(days=30)


class GapOut(BaseModel):
    representative: str = Field(description="The most frequent wording of the question.")
    count: int = Field(description="How many searches asked it, in any wording.")
    examples: list[str] = Field(description="Distinct wordings, most frequent first.")
    first_seen: datetime
    last_seen: datetime

    @classmethod
    def of(cls, g: GapCluster) -> GapOut:
        return cls(representative=g.representative, count=g.count, examples=g.examples, first_seen=g.first_seen, last_seen=g.last_seen)


class GapsOut(BaseModel):
    since: datetime
    searches: int = Field(description="Knowledge searches since `since`.")
    unanswered: int = Field(description="Of those, how many found nothing relevant.")
    clustered: int = Field(description=f"Unanswered searches clustered into gaps: the latest {MAX_GAP_EVENTS} at most.")
    gaps: list[GapOut]


@router.get("", response_model=GapsOut, summary="The most frequent questions the knowledge base could not answer")
async def knowledge_gaps(
    ctx: Reader,
    since: Annotated[datetime | None, Query(description="Start of the window (default: 30 days ago); no zone means UTC.")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="How many gaps to return.")] = 20,
) -> GapsOut:
    start = since or datetime.now(UTC) - DEFAULT_WINDOW
    try:
        start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    except OverflowError:  # 0001-01-01 with a positive offset: before the first representable instant
        start = datetime.min.replace(tzinfo=UTC)
    async with ctx.db() as session:
        searches, unanswered = await retrieval_counts(session, ctx.tenant_id, start)
        events = await unanswered_since(session, ctx.tenant_id, start) if unanswered else []
    # numpy work over up to MAX_GAP_EVENTS vectors: off the event loop.
    clusters = await asyncio.to_thread(cluster_unanswered, events)
    return GapsOut(
        since=start, searches=searches, unanswered=unanswered, clustered=len(events),
        gaps=[GapOut.of(c) for c in clusters[:limit]],
    )  # fmt: skip
