"""What a turn runs with: the tenant's default agent profile read as settings (defaults
without one). Travels in the workflow's history (activities/handoff.assess_message)."""

from dataclasses import dataclass, field
from typing import Any

from agent.handoff import HandoffSettings
from agent.tools.registry import DEFAULT_MAX_ROUNDS

DEFAULT_MAX_TOOL_ROUNDS = DEFAULT_MAX_ROUNDS
DEFAULT_CONFIDENCE_THRESHOLD = 0.5


@dataclass
class AgentSettings:
    """What a turn runs with, from the tenant's default agent profile (defaults without one)."""

    profile_id: str | None = None
    handoff: HandoffSettings = field(default_factory=HandoffSettings)
    allowed_tools: list[str] | None = None  # None: every tool; [] none
    max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS
    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD
    default_tier: str = "standard"
    fallback_tier: str | None = None
    proactive_suggestions: bool = False
    spelling_correction: bool = True
    rich_messages: bool = True
    voice_replies: bool = False

    @classmethod
    def from_profile(cls, profile: Any) -> "AgentSettings":
        allowed = profile.allowed_tools
        return cls(
            profile_id=str(profile.id),
            handoff=HandoffSettings.from_profile(profile),
            allowed_tools=list(allowed) if allowed is not None else None,
            max_tool_rounds=profile.max_tool_rounds,
            confidence_threshold=profile.confidence_threshold,
            default_tier=profile.default_tier,
            fallback_tier=profile.fallback_tier,
            proactive_suggestions=profile.proactive_suggestions,
            spelling_correction=profile.spelling_correction,
            rich_messages=profile.rich_messages,
            voice_replies=profile.voice_replies,
        )
