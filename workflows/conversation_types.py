"""The conversation workflow's input, state and answers (payloads: they travel through Temporal)."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
from dataclasses import dataclass, field

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agent.handoff import HandoffCounters
    from agent.product_names import ProductCheck
    from channels.base import Button, InboundMessage
    from workflows import policies
    from workflows.agent_turn import PendingConfirmation, ScheduledFollowup


@dataclass
class AdminAction:
    """A person's action (workflows/admin_signals.py), queued until the turn in flight ends."""

    kind: str  # takeover | reply | release | close
    request_id: str
    agent_id: str
    text: str = ""
    reason: str | None = None


@dataclass
class ConversationState:
    conversation_id: str | None = None
    customer_id: str | None = None
    needs_human: bool = False
    turns: int = 0
    recent_ids: list[str] = field(default_factory=list)
    # client_message_id -> reply, so a web-chat retry in a later run gets the same answer.
    recent_replies: dict[str, str] = field(default_factory=dict)
    pending: list[InboundMessage] = field(default_factory=list)
    # What the customer's voice notes were spoken in: the next note's transcription hint.
    language: str | None = None
    # Who answers: "ai"; "handoff" (waiting for a person); "human" (a person took over); "closed".
    mode: str = "ai"
    # The language the customer writes in ("en", "hi", "hinglish"): the platform's own notices use it.
    reply_language: str | None = None
    assigned_agent: str | None = None
    counters: HandoffCounters = field(default_factory=HandoffCounters)
    confirmation: PendingConfirmation | None = None
    followups: list[ScheduledFollowup] = field(default_factory=list)
    # A "did you mean <product>?" waiting for the customer's answer, and the suggestions already
    # offered in this conversation (never offered twice).
    product_check: ProductCheck | None = None
    suggested: list[str] = field(default_factory=list)
    # People's actions not yet applied, and the request ids already applied (a retried API call).
    admin: list[AdminAction] = field(default_factory=list)
    applied_requests: list[str] = field(default_factory=list)


@dataclass
class ConversationInput:
    tenant_id: str
    channel_account_id: str
    channel: str
    contact_id: str
    debounce_seconds: float = 1.5
    idle_timeout_seconds: float = 24 * 3600
    turns_per_run: int = 200
    state: ConversationState | None = None
    # Where replies are generated (`frontdesk worker --queue llm`); None: this workflow's queue.
    llm_task_queue: str | None = None
    # Where voice notes are transcribed and replies voiced (`frontdesk worker --queue stt`).
    stt_task_queue: str | None = None
    # How long a refund/cancellation/payment question waits for the customer's yes.
    confirmation_timeout_seconds: float = policies.CONFIRMATION_TIMEOUT.total_seconds()


@dataclass
class ChatReply:
    text: str
    in_reply_to: str
    needs_human: bool = False
    duplicate: bool = False


@dataclass
class ConversationSnapshot:
    conversation_id: str | None
    needs_human: bool
    turns: int
    pending: int
    mode: str = "ai"
    assigned_agent: str | None = None
    awaiting_confirmation: str | None = None  # the question the customer has not answered yet
    followups: int = 0


@dataclass
class TurnReply:
    """What a turn answers: text (empty: nothing to send), buttons, and why it is a fallback."""

    text: str
    buttons: list[Button] = field(default_factory=list)
    fallback_reason: str | None = None
