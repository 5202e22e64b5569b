"""Agent profiles: the persona, system prompt template, restrictions, disclaimers, model tiers,
confidence threshold, feature flags, hand-over triggers and tools the agent answers with.

Each tenant has exactly one default profile, the one replies use: its first profile becomes the
default, making another one the default unsets the old one in the same transaction, and the
default cannot be deleted (409) or switched off except by choosing another. Every change of the
prompt template stores a new numbered version; versions are listed and diffed under
`/prompt-versions`. Edits reach the replies within 5 minutes (activities/replies.py caches the
rendered prompt); hand-over and tool settings within 30 seconds (activities/handoff.py). Each update bumps `version`, returned as the ETag; send it back as If-Match
to make a concurrent edit fail with 409. Deleting is soft: the row stays for the audit trail.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response

from agent.handoff import DEFAULT_LOW_CONFIDENCE_TURNS, DEFAULT_TOOL_FAILURE_STREAK
from agent.prompt import DEFAULT_TEMPLATE, template_diff
from agent.settings import DEFAULT_MAX_TOOL_ROUNDS
from api.agent_profile_schemas import (
    FEATURES,
    PERSONA_COLUMNS,
    ProfileCreate,
    ProfileOut,
    ProfileUpdate,
    PromptDiffOut,
    PromptVersionOut,
)
from api.auth import Ctx, Scoped
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from api.problems import Problem
from api.versioning import if_match_version, set_version_etag
from core.scopes import Scope
from models import agent_profiles_store as store
from models.agent_profiles import AgentProfile

router = APIRouter(prefix="/v1/agent-profiles", tags=["agent profiles"])
Manager = Annotated[Ctx, Depends(Scoped(Scope.AGENTS_MANAGE))]


def _etag(response: Response, profile: AgentProfile) -> ProfileOut:
    set_version_etag(response, profile.version)
    return ProfileOut.of(profile)


def _columns(body: ProfileUpdate) -> dict[str, Any]:
    """The sent fields as column values (persona and features flattened)."""
    values = body.model_dump(exclude_unset=True, exclude={"persona", "features", "is_default"})
    if body.persona is not None:
        values |= {PERSONA_COLUMNS[k]: v for k, v in body.persona.model_dump(exclude_unset=True).items()}
    if body.features is not None:
        values |= body.features.model_dump(exclude_unset=True)
    nullable = {"fallback_tier", "allowed_tools"}
    if nulls := sorted(k for k, v in values.items() if v is None and k not in nullable):
        raise Problem(422, "Request is not valid", f"{', '.join(nulls)} cannot be null")
    return values


async def _profile(session, ctx: Ctx, profile_id: uuid.UUID, *, lock: bool = False) -> AgentProfile:
    profile = await store.live_profile(session, ctx.tenant_id, profile_id, lock=lock)
    if profile is None:
        raise Problem(404, "Not found", f"no agent profile {profile_id}")
    return profile


async def _refuse_taken_name(session, ctx: Ctx, name: str, other_than: uuid.UUID | None = None) -> None:
    if await store.name_taken(session, ctx.tenant_id, name, other_than=other_than):
        raise Problem(409, "Name in use", f"another agent profile is already called {name!r}")


@router.post("", status_code=201, response_model=ProfileOut, summary="Create an agent profile (a tenant's first is its default)")
async def create_profile(body: ProfileCreate, ctx: Manager, response: Response) -> ProfileOut:
    values = _columns(body)
    persona = values.pop("persona_name", None), values.pop("tone", None), values.pop("traits", None)
    features = {f: values.pop(f) for f in FEATURES if f in values}
    async with ctx.db() as session:
        await store.lock_profiles(session, ctx.tenant_id)
        await _refuse_taken_name(session, ctx, body.name)
        profile_id = uuid.uuid4()
        first = not await store.has_live_profile(session, ctx.tenant_id)
        is_default = first or bool(body.is_default)
        if is_default:  # before the new row is flushed: at most one default at any moment
            await store.clear_default(session, ctx.tenant_id, except_id=profile_id)
        profile = AgentProfile(
            id=profile_id, tenant_id=ctx.tenant_id, name=values.pop("name"),
            persona_name=persona[0] or body.name, tone=persona[1] or "friendly",
            traits=persona[2] or [], prompt_template=values.pop("prompt_template", None) or DEFAULT_TEMPLATE, prompt_version=1,
            restrictions=values.pop("restrictions", None) or [], disclaimers=values.pop("disclaimers", None) or [],
            default_tier=values.pop("default_tier", None) or "standard", fallback_tier=values.pop("fallback_tier", None),
            confidence_threshold=values.pop("confidence_threshold", 0.5), is_default=is_default, version=1,
            proactive_suggestions=features.get("proactive_suggestions", False), spelling_correction=features.get("spelling_correction", True),
            rich_messages=features.get("rich_messages", True), voice_replies=features.get("voice_replies", False),
            handoff_keywords=values.pop("handoff_keywords", None) or [], human_only_topics=values.pop("human_only_topics", None) or [],
            low_confidence_turns=values.pop("low_confidence_turns", None) or DEFAULT_LOW_CONFIDENCE_TURNS,
            tool_failure_streak=values.pop("tool_failure_streak", None) or DEFAULT_TOOL_FAILURE_STREAK,
            allowed_tools=values.pop("allowed_tools", None), max_tool_rounds=values.pop("max_tool_rounds", None) or DEFAULT_MAX_TOOL_ROUNDS,
        )  # fmt: skip
        session.add(profile)
        await session.flush()
        store.add_prompt_version(session, profile, ctx.principal.actor)
        ctx.audit(session, "agent_profile.create", "agent_profile", profile.id, {"name": profile.name, "is_default": is_default})
        await session.flush()
        await session.refresh(profile)
    return _etag(response, profile)


@router.get("", response_model=Page[ProfileOut], summary="List agent profiles, newest first")
async def list_profiles(ctx: Manager, cursor: CursorQuery = None, limit: LimitQuery = 50) -> Page[ProfileOut]:
    async with ctx.db() as session:
        query = newest_first(store.profiles_query(ctx.tenant_id), AgentProfile.created_at, AgentProfile.id, cursor, limit)
        rows = list(await session.scalars(query))
    return page_of(rows, limit, ProfileOut.of, lambda p: (p.created_at, p.id))


@router.get("/{profile_id}", response_model=ProfileOut, summary="Read an agent profile")
async def get_profile(profile_id: uuid.UUID, ctx: Manager, response: Response) -> ProfileOut:
    async with ctx.db() as session:
        return _etag(response, await _profile(session, ctx, profile_id))


@router.patch(
    "/{profile_id}", response_model=ProfileOut, summary="Change an agent profile (a new template is a new prompt version)"
)
async def update_profile(
    profile_id: uuid.UUID,
    body: ProfileUpdate,
    ctx: Manager,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=100, description='The ETag a read returned, e.g. "3".')] = None,
) -> ProfileOut:
    values = _columns(body)
    expected = if_match_version(if_match)
    async with ctx.db() as session:
        await store.lock_profiles(session, ctx.tenant_id)
        profile = await _profile(session, ctx, profile_id, lock=True)
        if expected is not None and profile.version != expected:
            raise Problem(
                409, "Version conflict", f"the profile is at version {profile.version}, not {expected}; read it again and retry"
            )
        if body.is_default is False and profile.is_default:
            raise Problem(
                409, "Default profile", "a tenant always has a default profile: make another profile the default instead"
            )
        if "name" in values and values["name"].lower() != profile.name.lower():
            await _refuse_taken_name(session, ctx, values["name"], other_than=profile.id)
        changes = {f: {"old": getattr(profile, f), "new": v} for f, v in values.items() if getattr(profile, f) != v}
        if body.is_default and not profile.is_default:
            # The old default loses the flag before this row gains it (one statement, same transaction).
            cleared = await store.clear_default(session, ctx.tenant_id, except_id=profile.id)
            changes["is_default"] = {"old": False, "new": True, "previous_default": [str(i) for i in cleared]}
        if not changes:
            return _etag(response, profile)
        for field, change in changes.items():
            setattr(profile, field, change["new"])
        profile.version += 1
        if "prompt_template" in changes:
            profile.prompt_version += 1
            store.add_prompt_version(session, profile, ctx.principal.actor)
            changes["prompt_template"] = {"new_prompt_version": profile.prompt_version}  # the versions table holds the text
        ctx.audit(session, "agent_profile.update", "agent_profile", profile.id, changes)
        await session.flush()
        await session.refresh(profile)
    return _etag(response, profile)


@router.delete("/{profile_id}", status_code=204, summary="Delete an agent profile (never the default: 409)")
async def delete_profile(profile_id: uuid.UUID, ctx: Manager) -> Response:
    async with ctx.db() as session:
        await store.lock_profiles(session, ctx.tenant_id)
        profile = await _profile(session, ctx, profile_id, lock=True)
        if profile.is_default:
            raise Problem(409, "Default profile", "the default profile cannot be deleted: make another profile the default first")
        store.soft_delete(profile)
        ctx.audit(session, "agent_profile.delete", "agent_profile", profile.id, {"name": profile.name})
    return Response(status_code=204)


@router.get(
    "/{profile_id}/prompt-versions", response_model=Page[PromptVersionOut], summary="The prompt template's versions, newest first"
)
async def list_prompt_versions(
    profile_id: uuid.UUID, ctx: Manager, cursor: CursorQuery = None, limit: LimitQuery = 50
) -> Page[PromptVersionOut]:
    if cursor is not None and not (cursor.isdigit() and len(cursor) <= 9):
        raise Problem(422, "Invalid cursor", "pass back next_cursor exactly as a page returned it")
    async with ctx.db() as session:
        await _profile(session, ctx, profile_id)
        query = store.prompt_versions_query(ctx.tenant_id, profile_id, before=int(cursor) if cursor else None, limit=limit)
        rows = list(await session.scalars(query))
    more, rows = len(rows) > limit, rows[:limit]
    items = [
        PromptVersionOut(version=r.version, template=r.template, created_by=r.created_by, created_at=r.created_at) for r in rows
    ]
    return Page(items=items, next_cursor=str(rows[-1].version) if more else None)


@router.get(
    "/{profile_id}/prompt-versions/diff", response_model=PromptDiffOut, summary="A unified diff between two prompt versions"
)
async def diff_prompt_versions(
    profile_id: uuid.UUID,
    ctx: Manager,
    from_version: Annotated[int, Query(alias="from", ge=1, le=1_000_000)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=1_000_000)],
) -> PromptDiffOut:
    async with ctx.db() as session:
        await _profile(session, ctx, profile_id)
        old = await store.prompt_version(session, ctx.tenant_id, profile_id, from_version)
        new = await store.prompt_version(session, ctx.tenant_id, profile_id, to_version)
    missing = [str(n) for n, row in ((from_version, old), (to_version, new)) if row is None]
    if old is None or new is None:
        raise Problem(404, "Not found", f"agent profile {profile_id} has no prompt version {' or '.join(missing)}")
    diff = template_diff(old.template, new.template, f"version {from_version}", f"version {to_version}")
    return PromptDiffOut(from_version=from_version, to_version=to_version, diff=diff)
