"""What a person on the team sends a conversation's workflow (api/routes/conversation_actions.py).

Signals, sent with signal-with-start so they reach a conversation whose run ended while idle.
Each carries a `request_id`: the API derives it from the caller's Idempotency-Key (or makes one),
and the workflow ignores a request id it has already applied, so a retried API call acts once.
"""

from dataclasses import dataclass

TAKEOVER_SIGNAL = "takeover"
AGENT_REPLY_SIGNAL = "agent_reply"
RELEASE_SIGNAL = "release"
CLOSE_SIGNAL = "close"


@dataclass
class Takeover:
    """A person takes the conversation: the AI stops answering until released."""

    request_id: str
    agent_id: str  # the user (or API key) taking over


@dataclass
class AgentReply:
    """Text a person sends the customer through the conversation's channel, as themselves."""

    request_id: str
    agent_id: str
    text: str


@dataclass
class Release:
    """The AI answers again (the hand-over counters start from zero)."""

    request_id: str
    agent_id: str


@dataclass
class Close:
    """The conversation is resolved; the customer's next message opens it again with the AI
    answering, never straight back into hand-over."""

    request_id: str
    agent_id: str
    reason: str | None = None
