"""Request and response bodies of the agent-profile API (api/routes/agent_profiles.py), with
their validation: a bad template, tier, tool name or keyword is a 422 with the reason."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.handoff import (
    matchable,
)
from agent.prompt import PLACEHOLDERS, check_template
from agent.tools.builtin import default_registry
from llm.router import TIERS
from models.agent_profiles import AgentProfile

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

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "legal", "phrases": ["lawsuit", "court"]}]}
    )

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

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"persona": {"tone": "formal"}}, {"is_default": True}]}
    )

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
        None,
        max_length=MAX_KEYWORDS,
        description="Words or phrases that hand the conversation to people (whole words, any case).",
    )
    human_only_topics: list[TopicIn] | None = Field(None, max_length=MAX_TOPICS, description="Subjects people handle.")
    low_confidence_turns: int | None = Field(None, ge=1, le=20, description="Hand over after this many unsure answers in a row.")
    tool_failure_streak: int | None = Field(
        None, ge=1, le=20, description="Hand over after this many failed tool calls in a row."
    )
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
                {
                    "name": "Support",
                    "persona": {"display_name": "Asha", "tone": "warm and concise", "traits": ["patient", "precise"]},
                    "restrictions": ["Never promise delivery dates."],
                    "disclaimers": ["Prices include VAT."],
                }  # fmt: skip
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
