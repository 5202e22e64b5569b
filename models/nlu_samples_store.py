"""What the tenant's NLU admin routes read and write: intents, with their sample counts, and the
training samples people write, review, import and export.

Every query names the tenant, and runs in a tenant transaction (row-level security) besides.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, Text, any_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.nlu import Intent, TrainingSample
from nlu.sample_files import ExportRow, SampleRow

# Two imports of one tenant at once would both find a text missing and both insert it.
_IMPORT_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('nlu-samples-import:' || :tenant, 0))")
_INSERT_BATCH = 1_000


def _one_of(column, values: Sequence, item_type) -> object:
    """`column = ANY(:array)`: one parameter however many values (asyncpg takes at most 32,767)."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(item_type)))


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Intents


def intents_query(tenant_id: uuid.UUID, *, active: bool | None) -> Select:
    query = select(Intent).where(Intent.tenant_id == tenant_id)
    return query if active is None else query.where(Intent.active.is_(active))


async def intent_by_id(session: AsyncSession, tenant_id: uuid.UUID, intent_id: uuid.UUID, *, lock: bool = False) -> Intent | None:
    query = select(Intent).where(Intent.tenant_id == tenant_id, Intent.id == intent_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def intents_by_name(session: AsyncSession, tenant_id: uuid.UUID, names: Sequence[str], *, lock: bool = False) -> dict[str, Intent]:
    """`lock`: for a caller about to label samples with them, so a concurrent delete waits
    for its commit rather than failing its foreign keys."""
    if not names:
        return {}
    query = select(Intent).where(Intent.tenant_id == tenant_id, _one_of(Intent.name, sorted(set(names)), Text))
    rows = await session.scalars(query.with_for_update(key_share=True) if lock else query)
    return {i.name: i for i in rows}


async def intent_named(session: AsyncSession, tenant_id: uuid.UUID, name: str, *, lock: bool = False) -> Intent | None:
    return (await intents_by_name(session, tenant_id, [name], lock=lock)).get(name)


async def add_intent(session: AsyncSession, tenant_id: uuid.UUID, name: str, **fields: object) -> Intent | None:
    """The new intent, or None when the tenant already has one of that name (checked by the
    unique constraint, so two requests at once cannot both create it)."""
    inserted = await session.execute(
        insert(Intent)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, name=name, **fields)
        .on_conflict_do_nothing(index_elements=["tenant_id", "name"])
        .returning(Intent.id)
    )
    intent_id = inserted.scalar()
    return None if intent_id is None else await intent_by_id(session, tenant_id, intent_id)


async def sample_counts(session: AsyncSession, tenant_id: uuid.UUID, intent_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """(approved, pending) samples of each intent."""
    if not intent_ids:
        return {}
    rows = await session.execute(
        select(
            TrainingSample.intent_id,
            func.count().filter(TrainingSample.status == "approved"),
            func.count().filter(TrainingSample.status == "pending"),
        )
        .where(TrainingSample.tenant_id == tenant_id, TrainingSample.intent_id.in_(intent_ids))
        .group_by(TrainingSample.intent_id)
    )
    return {intent_id: (int(approved), int(pending)) for intent_id, approved, pending in rows}


async def delete_intent(session: AsyncSession, tenant_id: uuid.UUID, intent: Intent) -> int:
    """Deletes the intent; its samples stay, unlabelled, and the approved ones go back to the
    review queue (an approved sample must have an intent). Returns how many went back."""
    requeued = await session.execute(
        update(TrainingSample)
        .where(TrainingSample.tenant_id == tenant_id, TrainingSample.intent_id == intent.id, TrainingSample.status == "approved")
        .values(status="pending", intent_id=None, reviewed_by=None, reviewed_at=None, updated_at=func.now())
    )
    await session.delete(intent)  # the foreign key unlabels the pending and rejected ones
    await session.flush()
    return requeued.rowcount


# Samples


def samples_query(
    tenant_id: uuid.UUID, *, status: str | None = None, intent: str | None = None, source: str | None = None, q: str | None = None
) -> Select:
    """Rows of (sample, intent name or None) matching every filter given."""
    query = (
        select(TrainingSample, Intent.name)
        .outerjoin(Intent, Intent.id == TrainingSample.intent_id)
        .where(TrainingSample.tenant_id == tenant_id)
    )
    if status:
        query = query.where(TrainingSample.status == status)
    if intent:
        query = query.where(Intent.name == intent)
    if source:
        query = query.where(TrainingSample.source == source)
    if q and q.strip():
        query = query.where(TrainingSample.text.ilike(f"%{_escape_like(q.strip())}%", escape="\\"))
    return query


async def sample_by_id(
    session: AsyncSession, tenant_id: uuid.UUID, sample_id: uuid.UUID, *, lock: bool = False
) -> TrainingSample | None:
    query = select(TrainingSample).where(TrainingSample.tenant_id == tenant_id, TrainingSample.id == sample_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def add_sample(session: AsyncSession, tenant_id: uuid.UUID, **values: object) -> uuid.UUID | None:
    """The new sample's id, or None when the tenant has a sample of the same text_key."""
    inserted = await session.execute(
        insert(TrainingSample)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, **values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "text_key"])
        .returning(TrainingSample.id)
    )
    return inserted.scalar()


async def sample_id_by_key(session: AsyncSession, tenant_id: uuid.UUID, key: str) -> uuid.UUID | None:
    return await session.scalar(select(TrainingSample.id).where(TrainingSample.tenant_id == tenant_id, TrainingSample.text_key == key))


@dataclass(frozen=True)
class ReviewCounts:
    updated: int
    not_found: int
    missing_intent: int


async def review_samples(
    session: AsyncSession, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID], *, status: str, intent_id: uuid.UUID | None, reviewer: str
) -> ReviewCounts:
    """Approves or rejects the tenant's samples among `ids`, relabelling them first when
    `intent_id` is given. Samples without an intent are not approved."""
    wanted = sorted(set(ids))
    found = await session.scalar(
        select(func.count()).select_from(TrainingSample).where(TrainingSample.tenant_id == tenant_id, TrainingSample.id.in_(wanted))
    )
    query = (
        update(TrainingSample)
        .where(TrainingSample.tenant_id == tenant_id, TrainingSample.id.in_(wanted))
        .values(status=status, reviewed_by=reviewer, reviewed_at=func.now(), updated_at=func.now())
    )
    if intent_id is not None:
        query = query.values(intent_id=intent_id)
    if status == "approved" and intent_id is None:
        query = query.where(TrainingSample.intent_id.is_not(None))
    updated = (await session.execute(query)).rowcount
    return ReviewCounts(updated=updated, not_found=len(wanted) - int(found or 0), missing_intent=int(found or 0) - updated)


@dataclass
class ImportCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


async def import_samples(
    session: AsyncSession, tenant_id: uuid.UUID, rows: Sequence[SampleRow], intent_ids: dict[str, uuid.UUID], reviewer: str
) -> tuple[ImportCounts, list[tuple[int, str]]]:
    """Upserts `rows` (every intent named in `intent_ids`) by text_key: a new text is a sample, a
    known one with another intent or status is relabelled, one that says the same is left as
    it is. Returns the counts and (row, reason) for rows that could not be written."""
    await session.execute(_IMPORT_LOCK, {"tenant": str(tenant_id)})
    counts, problems = ImportCounts(), []
    if not rows:
        return counts, problems
    existing = {
        s.text_key: s
        for s in await session.scalars(
            select(TrainingSample)
            .where(TrainingSample.tenant_id == tenant_id, _one_of(TrainingSample.text_key, [r.key for r in rows], Text))
            .with_for_update()
        )
    }
    fresh: list[SampleRow] = []
    changes: dict[tuple[uuid.UUID | None, str], list[uuid.UUID]] = {}
    for row in rows:
        label = intent_ids[row.intent] if row.intent else None
        sample = existing.get(row.key)
        if sample is None:
            fresh.append(row)
        elif (sample.intent_id, sample.status) == (label, row.status):
            counts.unchanged += 1
        else:
            changes.setdefault((label, row.status), []).append(sample.id)
    for (label, status), ids in changes.items():
        reviewed = {"reviewed_by": reviewer, "reviewed_at": func.now()} if status != "pending" else {}
        await session.execute(
            update(TrainingSample)
            .where(TrainingSample.tenant_id == tenant_id, _one_of(TrainingSample.id, ids, UUID(as_uuid=True)))
            .values(intent_id=label, status=status, updated_at=func.now(), **reviewed)
        )
        counts.updated += len(ids)
    # Consecutive creation times in the file's order (one transaction would give every row the
    # same now()), so listings show the samples as the file had them.
    clock = await session.scalar(select(func.clock_timestamp()))
    for start in range(0, len(fresh), _INSERT_BATCH):
        batch = fresh[start : start + _INSERT_BATCH]
        values = [
            {
                "id": uuid.uuid4(), "tenant_id": tenant_id, "text": r.text, "text_key": r.key, "source": "import",
                "intent_id": intent_ids[r.intent] if r.intent else None, "status": r.status,
                "reviewed_by": reviewer if r.status != "pending" else None, "reviewed_at": clock if r.status != "pending" else None,
                "created_at": clock + timedelta(microseconds=start + i), "updated_at": clock,
            }  # fmt: skip
            for i, r in enumerate(batch)
        ]
        statement = insert(TrainingSample).on_conflict_do_nothing(index_elements=["tenant_id", "text_key"]).returning(TrainingSample.text_key)
        inserted = set(await session.scalars(statement, values))
        counts.created += len(inserted)
        # Written meanwhile by a person or a conversation (the lock holds back imports only).
        problems += [(r.row, "a sample with this text was added meanwhile; import the file again") for r in batch if r.key not in inserted]
    return counts, problems


async def export_rows(session: AsyncSession, query: Select, batch: int = 1_000) -> AsyncIterator[list[ExportRow]]:
    """The rows of `samples_query(...)`, oldest first, `batch` at a time from a server-side cursor."""
    ordered = query.order_by(TrainingSample.created_at, TrainingSample.id).execution_options(yield_per=batch)
    result = await session.stream(ordered)
    async for partition in result.partitions(batch):
        yield [ExportRow(s.text, name, s.status, s.source) for s, name in partition]
