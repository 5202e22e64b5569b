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
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.handoff import (
    DEFAULT_LOW_CONFIDENCE_TURNS,
    DEFAULT_MAX_TOOL_ROUNDS,
    DEFAULT_TOOL_FAILURE_STREAK,
    matchable,
)
from agent.prompt import DEFAULT_TEMPLATE, PLACEHOLDERS, check_template, template_diff
from agent.tools.builtin import default_registry
from api.auth import Ctx, Scoped
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from api.problems import Problem
from api.versioning import if_match_version, set_version_etag
from core.scopes import Scope
from llm.router import TIERS
from models import agent_profiles_store as store
from models.agent_profiles import AgentProfile

router = APIRouter(prefix="/v1/agent-profiles", tags=["agent profiles"])
Manager = Annotated[Ctx, Depends(Scoped(Scope.AGENTS_MANAGE))]

MAX_TEMPLATE_CHARS = 20_000
MAX_LIST_ITEMS = 50
FEATURES = ("proactive_suggestions", "spelling_correction", "rich_messages", "voice_replies")
PERSONA_COLUMNS = {"display_name": "persona_name", "tone": "tone", "traits": "traits"}
MAX_KEYWORDS = 100
MAX_TOPICS = 20
MAX_TOPIC_PHRASES = 50
MAX_TERM_CHARS = 100
TOOL_NAMES = tuple(default_registry().names())  # what an allow-list may name


def _clean_list(value: list[str] | None, max_chars: int) -> list[str] | None:
    if value is None:
        return None
    cleaned = [" ".join(v.split()) for v in value]
    if any(not 1 <= len(v) <= max_chars for v in cleaned):
        raise ValueError(f"each item is 1-{max_chars} characters")
    return list(dict.fromkeys(cleaned))


def _terms(value: list[str] | None, what: str) -> list[str] | None:
    """Trigger words: cleaned, each able to match, duplicates (ignoring case) dropped."""
    cleaned = _clean_list(value, MAX_TERM_CHARS)
    if cleaned is None:
        return None
    if unmatchable := [t for t in cleaned if not matchable(t)]:
        raise ValueError(f"{what} {unmatchable[0]!r} has no letter or digit, so it could never match")
    first: dict[str, str] = {}
    for term in cleaned:
        first.setdefault(term.casefold(), term)
    return list(first.values())


def _tools(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if unknown := [t for t in value if t not in TOOL_NAMES]:
        raise ValueError(f"unknown tool {unknown[0]!r}; the tools are {', '.join(TOOL_NAMES)}")
    return list(dict.fromkeys(value))


def _tier(value: str | None) -> str | None:
    if value is not None and value not in TIERS:
        raise ValueError(f"unknown tier {value!r}; the router knows {', '.join(TIERS)}")
    return value


def _template(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise ValueError("must not be blank")
    check_template(value)  # a TemplateError is a ValueError: 422 with its reason
    return value


def _blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value.strip() if value is not None else None


class PersonaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(None, min_length=1, max_length=100, description="The name the agent introduces itself with.")
    tone: str | None = Field(None, min_length=1, max_length=100, description='e.g. "warm and concise"')
    traits: list[str] | None = Field(None, max_length=20)

    _strip = field_validator("display_name", "tone")(classmethod(lambda cls, v: _blank(v)))
    _traits = field_validator("traits")(classmethod(lambda cls, v: _clean_list(v, 64)))


class FeaturesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proactive_suggestions: bool | None = None
    spelling_correction: bool | None = None
    rich_messages: bool | None = None
    voice_replies: bool | None = None


class TopicIn(BaseModel):
    """A subject people handle: a message mentioning any of its phrases hands over."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "legal", "phrases": ["lawsuit", "court"]}]})

    name: str = Field(min_length=1, max_length=64)
    phrases: list[str] = Field(min_length=1, max_length=MAX_TOPIC_PHRASES)

    _name = field_validator("name")(classmethod(lambda cls, v: _blank(v)))
    _phrases = field_validator("phrases")(classmethod(lambda cls, v: _terms(v, "phrase")))


def _topics(value: list[TopicIn] | None) -> list[TopicIn] | None:
    if value is None:
        return None
    names = [t.name.casefold() for t in value]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"topic {dupes[0]!r} appears twice")
    return value


_TEMPLATE_HELP = f"May use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}; any other placeholder is refused (422)."


class ProfileUpdate(BaseModel):
    """Only the fields sent change (inside `persona` and `features` too); `fallback_tier` may be null."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"persona": {"tone": "formal"}}, {"is_default": True}]})

    name: str | None = Field(None, min_length=1, max_length=100)
    persona: PersonaIn | None = None
    prompt_template: str | None = Field(None, min_length=1, max_length=MAX_TEMPLATE_CHARS, description=_TEMPLATE_HELP)
    restrictions: list[str] | None = Field(None, max_length=MAX_LIST_ITEMS)
    disclaimers: list[str] | None = Field(None, max_length=MAX_LIST_ITEMS)
    default_tier: str | None = Field(None, description=f"One of {', '.join(TIERS)}.")
    fallback_tier: str | None = Field(None, description=f"One of {', '.join(TIERS)}, or null.")
    confidence_threshold: float | None = Field(None, ge=0, le=1)
    features: FeaturesIn | None = None
    is_default: bool | None = Field(None, description="true makes this the tenant's default (the old default stops being one).")
    handoff_keywords: list[str] | None = Field(
        None, max_length=MAX_KEYWORDS, description="Words or phrases that hand the conversation to people (whole words, any case)."
    )
    human_only_topics: list[TopicIn] | None = Field(None, max_length=MAX_TOPICS, description="Subjects people handle.")
    low_confidence_turns: int | None = Field(None, ge=1, le=20, description="Hand over after this many unsure answers in a row.")
    tool_failure_streak: int | None = Field(None, ge=1, le=20, description="Hand over after this many failed tool calls in a row.")
    allowed_tools: list[str] | None = Field(
        None, max_length=len(TOOL_NAMES), description=f"Tools the agent may use, of {', '.join(TOOL_NAMES)}; null: all of them."
    )
    max_tool_rounds: int | None = Field(None, ge=1, le=10, description="Model ↔ tool rounds per turn.")

    _name = field_validator("name")(classmethod(lambda cls, v: _blank(v)))
    _keywords = field_validator("handoff_keywords")(classmethod(lambda cls, v: _terms(v, "keyword")))
    _topic_names = field_validator("human_only_topics")(classmethod(lambda cls, v: _topics(v)))
    _allowed = field_validator("allowed_tools")(classmethod(lambda cls, v: _tools(v)))
    _tiers = field_validator("default_tier", "fallback_tier")(classmethod(lambda cls, v: _tier(v)))
    _tmpl = field_validator("prompt_template")(classmethod(lambda cls, v: _template(v)))
    _lists = field_validator("restrictions", "disclaimers")(classmethod(lambda cls, v: _clean_list(v, 500)))


class ProfileCreate(ProfileUpdate):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "Support", "persona": {"display_name": "Asha", "tone": "warm and concise", "traits": ["patient", "precise"]},
                 "restrictions": ["Never promise delivery dates."], "disclaimers": ["Prices include VAT."]}  # fmt: skip
            ]
        },
    )

    name: str = Field(min_length=1, max_length=100)


class PersonaOut(BaseModel):
    display_name: str
    tone: str
    traits: list[str]


class FeaturesOut(BaseModel):
    proactive_suggestions: bool
    spelling_correction: bool
    rich_messages: bool
    voice_replies: bool


class TopicOut(BaseModel):
    name: str
    phrases: list[str]


class ProfileOut(BaseModel):
    id: uuid.UUID
    name: str
    persona: PersonaOut
    prompt_template: str
    prompt_version: int
    restrictions: list[str]
    disclaimers: list[str]
    default_tier: str
    fallback_tier: str | None
    confidence_threshold: float
    features: FeaturesOut
    handoff_keywords: list[str]
    human_only_topics: list[TopicOut]
    low_confidence_turns: int
    tool_failure_streak: int
    allowed_tools: list[str] | None = Field(description="null: every tool.")
    max_tool_rounds: int
    is_default: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: AgentProfile) -> ProfileOut:
        return cls(
            id=p.id, name=p.name, persona=PersonaOut(display_name=p.persona_name, tone=p.tone, traits=list(p.traits or [])),
            prompt_template=p.prompt_template, prompt_version=p.prompt_version, restrictions=list(p.restrictions or []),
            disclaimers=list(p.disclaimers or []), default_tier=p.default_tier, fallback_tier=p.fallback_tier,
            confidence_threshold=p.confidence_threshold, features=FeaturesOut(**{f: getattr(p, f) for f in FEATURES}),
            handoff_keywords=list(p.handoff_keywords or []), human_only_topics=[TopicOut(**t) for t in p.human_only_topics or []],
            low_confidence_turns=p.low_confidence_turns, tool_failure_streak=p.tool_failure_streak,
            allowed_tools=list(p.allowed_tools) if p.allowed_tools is not None else None, max_tool_rounds=p.max_tool_rounds,
            is_default=p.is_default, version=p.version, created_at=p.created_at, updated_at=p.updated_at,
        )  # fmt: skip


class PromptVersionOut(BaseModel):
    version: int
    template: str
    created_by: str | None
    created_at: datetime


class PromptDiffOut(BaseModel):
    from_version: int
    to_version: int
    diff: str = Field(description="A unified diff of the two templates; empty when they are the same.")


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


@router.patch("/{profile_id}", response_model=ProfileOut, summary="Change an agent profile (a new template is a new prompt version)")
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
            raise Problem(409, "Version conflict", f"the profile is at version {profile.version}, not {expected}; read it again and retry")
        if body.is_default is False and profile.is_default:
            raise Problem(409, "Default profile", "a tenant always has a default profile: make another profile the default instead")
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


@router.get("/{profile_id}/prompt-versions", response_model=Page[PromptVersionOut], summary="The prompt template's versions, newest first")
async def list_prompt_versions(profile_id: uuid.UUID, ctx: Manager, cursor: CursorQuery = None, limit: LimitQuery = 50) -> Page[PromptVersionOut]:
    if cursor is not None and not (cursor.isdigit() and len(cursor) <= 9):
        raise Problem(422, "Invalid cursor", "pass back next_cursor exactly as a page returned it")
    async with ctx.db() as session:
        await _profile(session, ctx, profile_id)
        query = store.prompt_versions_query(ctx.tenant_id, profile_id, before=int(cursor) if cursor else None, limit=limit)
        rows = list(await session.scalars(query))
    more, rows = len(rows) > limit, rows[:limit]
    items = [PromptVersionOut(version=r.version, template=r.template, created_by=r.created_by, created_at=r.created_at) for r in rows]
    return Page(items=items, next_cursor=str(rows[-1].version) if more else None)


@router.get("/{profile_id}/prompt-versions/diff", response_model=PromptDiffOut, summary="A unified diff between two prompt versions")
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

