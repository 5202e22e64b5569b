"""Training samples: the messages, each labelled with an intent, that the tenant's intent model
learns from. Only approved samples are trained on.

A sample a person writes is approved by default (writing it is labelling it); messages the live
model was unsure of arrive `pending`, with its guess, and wait for review here, one at a time or
in bulk. One sample per message: texts that differ only in case, accents, spacing or punctuation
are the same sample (nlu.samples.text_key), so writing one twice is a 409 naming the first.
CSV files import (upserting by text) and export (the same columns, so an export imports back).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func

from api.auth import Ctx, Scoped
from api.nlu_runs import ensure_schedule_quietly
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from api.problems import Problem
from core.scopes import Scope
from models import nlu_samples_store as store
from models.nlu import Intent, TrainingSample
from models.nlu_settings import nlu_settings
from nlu.sample_files import MAX_IMPORT_BYTES, SampleFileRejected, export_lines, parse_sample_csv
from nlu.samples import MAX_SAMPLE_CHARS, text_key

router = APIRouter(prefix="/v1/nlu/samples", tags=["nlu"])
Reader = Annotated[Ctx, Depends(Scoped(Scope.KNOWLEDGE_READ))]
Writer = Annotated[Ctx, Depends(Scoped(Scope.KNOWLEDGE_WRITE))]

Status = Literal["pending", "approved", "rejected"]
Source = Literal["manual", "import", "conversation"]
IntentName = Annotated[str, Field(min_length=1, max_length=64)]
MAX_REVIEW_IDS = 1_000


class SampleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": "mera order kahan hai?", "intent": "track_order"}]})

    text: str = Field(min_length=1, max_length=MAX_SAMPLE_CHARS)
    intent: IntentName | None = Field(None, description="The intent's name; required unless the sample is pending.")
    status: Literal["approved", "pending"] = "approved"

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if not text_key(value):
            raise ValueError("must contain a letter or digit")
        return value.strip()


class SampleUpdate(BaseModel):
    """Relabel and/or review. `intent: null` removes the label (not from an approved sample)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"status": "approved"}, {"intent": "refund_status", "status": "approved"}]})

    intent: IntentName | None = None
    status: Status | None = None


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ids": ["5f0c6a4e-8a41-4a8e-9a7e-7f5d1f3c2b10"], "action": "approve"}]})

    ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_REVIEW_IDS)
    action: Literal["approve", "reject"]
    intent: IntentName | None = Field(None, description="Relabel every one of them with this intent as well.")


class ReviewResult(BaseModel):
    updated: int
    not_found: int = Field(description="Ids that are not samples of this tenant.")
    missing_intent: int = Field(description="Samples without an intent, so not approved.")


class SampleOut(BaseModel):
    id: uuid.UUID
    text: str
    intent: str | None
    status: str
    source: str
    predicted_by: str | None
    confidence: float | None
    conversation_id: uuid.UUID | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: TrainingSample, intent: str | None) -> SampleOut:
        return cls(
            id=s.id, text=s.text, intent=intent, status=s.status, source=s.source, predicted_by=s.predicted_by, confidence=s.confidence,
            conversation_id=s.conversation_id, reviewed_by=s.reviewed_by, reviewed_at=s.reviewed_at, created_at=s.created_at,
            updated_at=s.updated_at,
        )  # fmt: skip


class RowError(BaseModel):
    row: int = Field(description="The spreadsheet row (the header is row 1).")
    reason: str


class ImportResult(BaseModel):
    created: int
    updated: int = Field(description="Texts already samples, now with the file's intent or status.")
    unchanged: int = Field(description="Texts already samples with the same intent and status.")
    errors: list[RowError] = Field(description="Rows not imported, with the reason; the other rows were imported.")


async def _intent(session, ctx: Ctx, name: str) -> Intent:
    intent = await store.intent_named(session, ctx.tenant_id, name, lock=True)
    if intent is None:
        raise Problem(422, "Unknown intent", f"no intent named {name!r}; create it under /v1/nlu/intents first")
    return intent


def _reviewed(sample: TrainingSample, ctx: Ctx) -> None:
    reviewed = sample.status != "pending"
    sample.reviewed_by = ctx.principal.actor if reviewed else None
    sample.reviewed_at = func.now() if reviewed else None


async def _out(session, ctx: Ctx, sample_id: uuid.UUID) -> SampleOut:
    row = (await session.execute(store.samples_query(ctx.tenant_id).where(TrainingSample.id == sample_id))).first()
    if row is None:
        raise Problem(404, "Not found", f"no training sample {sample_id}")
    return SampleOut.of(*row)


@router.post("", status_code=201, response_model=SampleOut, summary="Write a training sample (approved unless said otherwise)")
async def create_sample(body: SampleCreate, ctx: Writer) -> SampleOut:
    if body.status == "approved" and body.intent is None:
        raise Problem(422, "Intent required", "an approved sample needs an intent; name one or send status pending")
    key = text_key(body.text)
    async with ctx.db() as session:
        intent = await _intent(session, ctx, body.intent) if body.intent else None
        reviewed = body.status == "approved"
        sample_id = await store.add_sample(
            session, ctx.tenant_id, text=body.text, text_key=key, intent_id=intent.id if intent else None, status=body.status,
            source="manual", reviewed_by=ctx.principal.actor if reviewed else None, reviewed_at=func.now() if reviewed else None,
        )  # fmt: skip
        if sample_id is None:
            existing = await store.sample_id_by_key(session, ctx.tenant_id, key)
            raise Problem(409, "Duplicate sample", f"sample {existing} already has this text (ignoring case, accents and punctuation)")
        ctx.audit(session, "nlu_sample.create", "nlu_sample", sample_id, {"intent": body.intent, "status": body.status})
        return await _out(session, ctx, sample_id)


@router.get("", response_model=Page[SampleOut], summary="List training samples, newest first")
async def list_samples(
    ctx: Reader,
    status: Annotated[Status | None, Query()] = None,
    intent: Annotated[str | None, Query(max_length=64, description="The intent's name.")] = None,
    source: Annotated[Source | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200, description="Part of the text, any case.")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[SampleOut]:
    query = store.samples_query(ctx.tenant_id, status=status, intent=intent, source=source, q=q)
    async with ctx.db() as session:
        rows = list(await session.execute(newest_first(query, TrainingSample.created_at, TrainingSample.id, cursor, limit)))
    return page_of(rows, limit, lambda r: SampleOut.of(*r), lambda r: (r[0].created_at, r[0].id))


@router.get("/export", summary="Export training samples as CSV (text,intent,status,source), oldest first")
async def export_samples(
    ctx: Reader,
    status: Annotated[Status | None, Query()] = None,
    intent: Annotated[str | None, Query(max_length=64, description="The intent's name.")] = None,
    bom: Annotated[bool, Query(description="Start with a UTF-8 byte order mark, for Excel.")] = False,
) -> StreamingResponse:
    query = store.samples_query(ctx.tenant_id, status=status, intent=intent)

    async def lines():
        yield ("\ufeff" if bom else "") + "".join(export_lines([]))
        async with ctx.db() as session:
            async for batch in store.export_rows(session, query):
                yield "".join(export_lines(batch, header=False))

    headers = {"Content-Disposition": 'attachment; filename="nlu-samples.csv"'}
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/{sample_id}", response_model=SampleOut, summary="Read a training sample")
async def get_sample(sample_id: uuid.UUID, ctx: Reader) -> SampleOut:
    async with ctx.db() as session:
        return await _out(session, ctx, sample_id)


@router.patch("/{sample_id}", response_model=SampleOut, summary="Relabel a sample and/or approve, reject or reopen it")
async def update_sample(sample_id: uuid.UUID, body: SampleUpdate, ctx: Writer) -> SampleOut:
    values = body.model_dump(exclude_unset=True)
    if "status" in values and values["status"] is None:
        raise Problem(422, "Request is not valid", "status cannot be null")
    async with ctx.db() as session:
        sample = await store.sample_by_id(session, ctx.tenant_id, sample_id, lock=True)
        if sample is None:
            raise Problem(404, "Not found", f"no training sample {sample_id}")
        intent_id = sample.intent_id
        if "intent" in values:
            intent_id = (await _intent(session, ctx, values["intent"])).id if values["intent"] else None
        status = values.get("status", sample.status)
        if status == "approved" and intent_id is None:
            raise Problem(422, "Intent required", "a sample without an intent cannot be approved; relabel it in the same request")
        if (intent_id, status) != (sample.intent_id, sample.status):
            changes = {"status": {"old": sample.status, "new": status}} | ({"intent": values["intent"]} if "intent" in values else {})
            sample.intent_id, sample.status, sample.updated_at = intent_id, status, func.now()
            _reviewed(sample, ctx)
            ctx.audit(session, "nlu_sample.update", "nlu_sample", sample.id, changes)
            await session.flush()
        return await _out(session, ctx, sample.id)


@router.post("/review", response_model=ReviewResult, summary="Approve or reject many samples at once (optionally relabelling them)")
async def review_samples(body: ReviewRequest, ctx: Writer) -> ReviewResult:
    async with ctx.db() as session:
        intent = await _intent(session, ctx, body.intent) if body.intent else None
        status = "approved" if body.action == "approve" else "rejected"
        counts = await store.review_samples(
            session, ctx.tenant_id, body.ids, status=status, intent_id=intent.id if intent else None, reviewer=ctx.principal.actor
        )
        details = {"action": body.action, "intent": body.intent, "updated": counts.updated, "not_found": counts.not_found}
        ctx.audit(session, "nlu_sample.review", "nlu_sample", None, details | {"missing_intent": counts.missing_intent})
    return ReviewResult(updated=counts.updated, not_found=counts.not_found, missing_intent=counts.missing_intent)


@router.post("/import", response_model=ImportResult, summary="Import samples from a CSV file (text,intent[,status]), upserting by text")
async def import_samples(
    ctx: Writer,
    file: Annotated[UploadFile, File(description="CSV, UTF-8, with a header row naming text and intent (and optionally status).")],
    create_intents: Annotated[bool, Form(description="Create the intents the file names that do not exist yet (needs agents:manage).")] = False,
) -> ImportResult:
    if create_intents and Scope.AGENTS_MANAGE.value not in ctx.principal.scopes:
        raise Problem(403, "Forbidden", "create_intents needs the 'agents:manage' scope; create the intents first or import without it")
    data = await file.read(MAX_IMPORT_BYTES + 1)
    try:
        rows, problems = parse_sample_csv(data)
    except SampleFileRejected as exc:
        status = 413 if len(data) > MAX_IMPORT_BYTES else 422
        raise Problem(status, "File cannot be imported", exc.reason) from None
    errors = [(p.row, p.reason) for p in problems]
    async with ctx.db() as session:
        names = sorted({r.intent for r in rows if r.intent})
        intents = {name: i.id for name, i in (await store.intents_by_name(session, ctx.tenant_id, names, lock=True)).items()}
        for name in [n for n in names if n not in intents] if create_intents else []:
            created = await store.add_intent(session, ctx.tenant_id, name) or await store.intent_named(session, ctx.tenant_id, name, lock=True)
            intents[name] = created.id
            ctx.audit(session, "nlu_intent.create", "nlu_intent", created.id, {"name": name, "by": "import"})
        known = [r for r in rows if r.intent is None or r.intent in intents]
        reason = "no intent named {!r}; create it first, or import with create_intents=true"
        errors += [(r.row, reason.format(r.intent)) for r in rows if r.intent is not None and r.intent not in intents]
        counts, failed = await store.import_samples(session, ctx.tenant_id, known, intents, ctx.principal.actor)
        errors += failed
        summary = vars(counts) | {"errors": len(errors), "file": (file.filename or "").replace("\x00", "")[:200]}
        ctx.audit(session, "nlu_sample.import", "nlu_sample", None, summary)
        settings = await nlu_settings(session, ctx.tenant_id)
    await ensure_schedule_quietly(ctx.state.temporal, ctx.state.settings, ctx.tenant_id, settings)  # intents may have been created
    return ImportResult(**vars(counts), errors=[RowError(row=row, reason=reason) for row, reason in sorted(errors)])
