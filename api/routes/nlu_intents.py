"""A tenant's intents: the names its intent model learns to tell apart, what each means (the
LLM reads it when the model is unsure), the tools that usually answer it and whether people
handle it. `out_of_scope` is an ordinary name here: the tenant's explicit "none of ours" class.

Changes reach live turns within the classifier's cache time (activities/nlu.py). Renaming an
intent keeps its samples; the live model goes on predicting the old name until it is retrained.
Deleting is a hard delete in one transaction: the samples stay, unlabelled, and the approved
ones go back to the review queue (an approved sample always has an intent).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from api.agent_profile_schemas import TOOL_NAMES
from api.auth import Ctx, Scoped
from api.nlu_runs import ensure_schedule_quietly
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from api.problems import Problem
from core.scopes import Scope
from models import nlu_samples_store as store
from models.nlu import Intent
from models.nlu_settings import nlu_settings

router = APIRouter(prefix="/v1/nlu/intents", tags=["nlu"])
Reader = Annotated[Ctx, Depends(Scoped(Scope.KNOWLEDGE_READ))]
Manager = Annotated[Ctx, Depends(Scoped(Scope.AGENTS_MANAGE))]

NAME_PATTERN = r"^[a-z0-9][a-z0-9_]{0,63}$"  # the table's check constraint
MAX_DESCRIPTION_CHARS = 2_000
MAX_TOOL_HINTS = 20


def _tool_hints(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if unknown := [t for t in value if t not in TOOL_NAMES]:
        raise ValueError(f"unknown tool {unknown[0][:64]!r}; the tools are {', '.join(TOOL_NAMES)}")
    return list(dict.fromkeys(value))


class IntentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "track_order", "description": "Where is my order, when will it arrive.", "tool_hints": ["track_order"]}]},
    )

    name: str = Field(pattern=NAME_PATTERN, description="Lower-case letters, digits and _; `out_of_scope` names the none-of-ours class.")
    description: str = Field("", max_length=MAX_DESCRIPTION_CHARS, description="What the intent means; the LLM reads it.")
    tool_hints: list[str] = Field(default_factory=list, max_length=MAX_TOOL_HINTS, description="Tools that usually answer it.")
    handoff: bool = Field(False, description="People handle this intent: the conversation is handed over.")
    active: bool = True

    @field_validator("description")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("tool_hints")
    @classmethod
    def _tools(cls, value: list[str]) -> list[str]:
        return _tool_hints(value) or []


class IntentUpdate(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"description": "Order status questions."}, {"active": False}]})

    name: str | None = Field(None, pattern=NAME_PATTERN)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_CHARS)
    tool_hints: list[str] | None = Field(None, max_length=MAX_TOOL_HINTS)
    handoff: bool | None = None
    active: bool | None = None

    @field_validator("description")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @field_validator("tool_hints")
    @classmethod
    def _tools(cls, value: list[str] | None) -> list[str] | None:
        return _tool_hints(value)


class IntentOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    tool_hints: list[str]
    handoff: bool
    active: bool
    approved_samples: int
    pending_samples: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, i: Intent, counts: tuple[int, int] = (0, 0)) -> IntentOut:
        return cls(
            id=i.id, name=i.name, description=i.description, tool_hints=list(i.tool_hints or []), handoff=i.handoff, active=i.active,
            approved_samples=counts[0], pending_samples=counts[1], created_at=i.created_at, updated_at=i.updated_at,
        )  # fmt: skip


def _name_taken(name: str) -> Problem:
    return Problem(409, "Name in use", f"the tenant already has an intent called {name!r}")


async def _intent(session, ctx: Ctx, intent_id: uuid.UUID, *, lock: bool = False) -> Intent:
    intent = await store.intent_by_id(session, ctx.tenant_id, intent_id, lock=lock)
    if intent is None:
        raise Problem(404, "Not found", f"no intent {intent_id}")
    return intent


async def _out(session, ctx: Ctx, intent: Intent) -> IntentOut:
    counts = await store.sample_counts(session, ctx.tenant_id, [intent.id])
    return IntentOut.of(intent, counts.get(intent.id, (0, 0)))


@router.post("", status_code=201, response_model=IntentOut, summary="Create an intent")
async def create_intent(body: IntentCreate, ctx: Manager) -> IntentOut:
    async with ctx.db() as session:
        intent = await store.add_intent(session, ctx.tenant_id, **body.model_dump())
        if intent is None:
            raise _name_taken(body.name)
        ctx.audit(session, "nlu_intent.create", "nlu_intent", intent.id, {"name": intent.name})
        settings = await nlu_settings(session, ctx.tenant_id)
    # The tenant's nightly retraining starts with its first intent.
    await ensure_schedule_quietly(ctx.state.temporal, ctx.state.settings, ctx.tenant_id, settings)
    return IntentOut.of(intent)


@router.get("", response_model=Page[IntentOut], summary="List intents, newest first, with their sample counts")
async def list_intents(
    ctx: Reader, active: Annotated[bool | None, Query()] = None, cursor: CursorQuery = None, limit: LimitQuery = 50
) -> Page[IntentOut]:
    async with ctx.db() as session:
        query = newest_first(store.intents_query(ctx.tenant_id, active=active), Intent.created_at, Intent.id, cursor, limit)
        rows = list(await session.scalars(query))
        counts = await store.sample_counts(session, ctx.tenant_id, [i.id for i in rows[:limit]])
    return page_of(rows, limit, lambda i: IntentOut.of(i, counts.get(i.id, (0, 0))), lambda i: (i.created_at, i.id))


@router.get("/{intent_id}", response_model=IntentOut, summary="Read an intent")
async def get_intent(intent_id: uuid.UUID, ctx: Reader) -> IntentOut:
    async with ctx.db() as session:
        return await _out(session, ctx, await _intent(session, ctx, intent_id))


@router.patch("/{intent_id}", response_model=IntentOut, summary="Change an intent")
async def update_intent(intent_id: uuid.UUID, body: IntentUpdate, ctx: Manager) -> IntentOut:
    values = body.model_dump(exclude_unset=True)
    if nulls := sorted(k for k, v in values.items() if v is None):
        raise Problem(422, "Request is not valid", f"{', '.join(nulls)} cannot be null")
    async with ctx.db() as session:
        intent = await _intent(session, ctx, intent_id, lock=True)
        changes = {f: {"old": getattr(intent, f), "new": v} for f, v in values.items() if getattr(intent, f) != v}
        if "name" in changes and await store.intent_named(session, ctx.tenant_id, values["name"]) is not None:
            raise _name_taken(values["name"])
        if changes:
            for field, change in changes.items():
                setattr(intent, field, change["new"])
            intent.updated_at = func.now()
            ctx.audit(session, "nlu_intent.update", "nlu_intent", intent.id, changes)
            try:
                async with session.begin_nested():
                    await session.flush()
            except IntegrityError:  # the name's unique constraint: another rename got there first
                raise _name_taken(values["name"]) from None
            await session.refresh(intent)
        return await _out(session, ctx, intent)


@router.delete("/{intent_id}", status_code=204, summary="Delete an intent (its approved samples go back to review)")
async def delete_intent(intent_id: uuid.UUID, ctx: Manager) -> Response:
    async with ctx.db() as session:
        intent = await _intent(session, ctx, intent_id, lock=True)
        requeued = await store.delete_intent(session, ctx.tenant_id, intent)
        ctx.audit(session, "nlu_intent.delete", "nlu_intent", intent_id, {"name": intent.name, "samples_requeued": requeued})
    return Response(status_code=204)
