"""The conversation workflow's hand-over steps: what the tenant's agent runs with, and the
conversation's hand-over state recorded and announced."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import uuid
from dataclasses import dataclass

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.ids import uuid_arg
from agent.handoff import HandoffTrigger, detect_trigger
from agent.language import detect_language
from agent.settings import AgentSettings
from core import events
from core.ttl_cache import TtlCache
from models import agent_profiles_store, handoff_store

# Read on every turn; a profile edit reaches the turns within this many seconds (per worker).
SETTINGS_CACHE_SECONDS = 30.0


@dataclass
class HandoffStateInput:
    tenant_id: str
    conversation_id: str
    state: str  # handoff | assigned | released | closed
    reason: str | None = None
    agent_id: str | None = None  # the person acting (takeover, release, close); None: the workflow itself


@dataclass
class HandoffStateResult:
    changed: bool  # False: the conversation was already in that state (nothing announced)
    status: str  # the conversation's status now: open | handoff | assigned | closed




@dataclass
class AssessMessageInput:
    tenant_id: str
    text: str  # the customer's new messages of the turn, one per line


@dataclass
class MessageAssessment:
    settings: AgentSettings
    trigger: HandoffTrigger | None = None  # the customer asked for a person, a keyword, a human-only topic
    language: str | None = None  # "en", "hi", "hinglish", ...; None when the words do not tell


class HandoffActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps
        self._settings: TtlCache[uuid.UUID, AgentSettings] = TtlCache(SETTINGS_CACHE_SECONDS)

    async def load_agent_settings(self, tenant_id: str) -> AgentSettings:
        """The tenant's default agent profile as turn settings (defaults without a profile)."""
        tenant = uuid_arg(tenant_id, "tenant_id")

        async def load() -> AgentSettings:
            async with self._deps.statements() as session:
                return await agent_profiles_store.default_settings(session, tenant)

        return await self._settings.get_or_load(tenant, load)

    @activity.defn
    async def assess_message(self, input: AssessMessageInput) -> MessageAssessment:
        """The turn's settings, and what the customer's words ask for: a person (a trigger) and
        which language to answer in. An activity, not workflow code: its answer is kept in the
        history, so improving the phrase lists never changes how an old turn replays."""
        settings = await self.load_agent_settings(input.tenant_id)
        language = detect_language(input.text)
        return MessageAssessment(
            settings=settings,
            trigger=detect_trigger(input.text, settings.handoff) if input.text.strip() else None,
            language=language.code if language.evidence and language.code != "unknown" else None,
        )

    @activity.defn
    async def record_handoff_state(self, input: HandoffStateInput) -> HandoffStateResult:
        """Commits the state, then tells the tenant's dashboards; a repeat changes nothing and
        announces nothing (a retried or replayed step)."""
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        conversation_id = uuid_arg(input.conversation_id, "conversation_id")
        try:
            async with self._deps.sessions.begin() as session:
                change = await handoff_store.record_state(
                    session, tenant_id, conversation_id, input.state, input.reason, input.agent_id
                )
        except (ValueError, handoff_store.ConversationNotFound) as exc:
            raise ApplicationError(str(exc), type="InvalidInput", non_retryable=True) from exc
        if change.changed:
            events.publish(
                self._deps.redis, input.tenant_id, handoff_store.EVENT_OF[input.state],
                conversation_id=input.conversation_id, status=change.status, reason=input.reason,
                agent_id=change.assigned_agent_id or input.agent_id,
            )  # fmt: skip
        return HandoffStateResult(changed=change.changed, status=change.status)
