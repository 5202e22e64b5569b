"""The simulated customer: an LLM given τ²'s user-simulation guidelines and the task's scenario.

It talks to our agent only through the agent's words (what the web chat shows), and ends the
conversation the way τ²'s simulator does, with ###STOP### (goal reached), ###TRANSFER### (handed
to a person) or ###OUT-OF-SCOPE### (the scenario does not say what to do next). It calls one of
our LLM providers directly (not the gateway: the customer's tokens are no tenant's spend).

Two styles:
- "tau2" (the default): τ²'s own set-up, the guidelines and scenario as the system prompt and the
  conversation with roles flipped (the agent speaks as "user").
- "compact", for the 1.5B local model, which in τ²'s set-up answers as the agent ("How can I
  assist you today?") and never writes a stop token (measured): the scenario and the chat as one
  dialogue to complete ("Customer:"), and, from its second message on, first a one-letter question
  about the agent's last message (asking / done / transferred) that ends the chat on "done" or
  "transferred".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.tau2.domain import RetailDomain, RetailTask, UserScenario
from llm.base import ChatMessage, CompletionRequest, Provider

STOP = "###STOP###"
TRANSFER = "###TRANSFER###"
OUT_OF_SCOPE = "###OUT-OF-SCOPE###"
STOP_TOKENS = (STOP, TRANSFER, OUT_OF_SCOPE)
# τ²'s orchestrator opens every conversation with this agent line before the customer speaks.
GREETING = "Hi! How can I help you today?"
STYLES = ("tau2", "compact")

COMPACT_SYSTEM = "You are a customer of an online store, chatting with its support agent."
COMPACT_WRITE = (
    "Complete the dialogue: write only the Customer's next line. The Customer is the person described below; "
    "the Agent works for the store."
)
COMPACT_CLASSIFY = (
    "What did the agent's last message do? Answer with one letter: A) asked you something or offered to do "
    "something, B) said your request has been carried out (even if it also asks whether you need anything else), "
    "C) transferred you to a human agent."
)


class SimulatorFailed(RuntimeError):
    """The simulator stopped playing the customer (it repeated the agent's message back)."""


def _plain(text: str) -> str:
    """Lower-cased words, without a leading speaker label ("Agent: ...")."""
    words = " ".join(text.lower().split())
    for label in ("agent:", "customer:"):
        words = words.removeprefix(label).strip()
    return words


def is_stop(text: str) -> bool:
    return any(token in text for token in STOP_TOKENS)


def system_prompt(domain: RetailDomain, task: RetailTask) -> str:
    return f"{domain.user_guidelines.strip()}\n\n<scenario>\n{task.scenario.describe()}\n</scenario>"


def _request_text(scenario: UserScenario) -> str:
    if scenario.plain is not None:
        return scenario.plain
    parts = [scenario.reason_for_call, scenario.known_info, scenario.unknown_info, scenario.task_instructions]
    return "\n".join(p for p in parts if p)


@dataclass
class UserSimulator:
    provider: Provider
    domain: RetailDomain
    task: RetailTask
    style: str = "tau2"
    temperature: float = 0.0
    max_tokens: int = 300
    # A small-context model (the local one: 4096 tokens) sees only the newest turns that fit.
    max_history_chars: int | None = None
    # The conversation from the customer's side: the agent speaks as "user", the customer as "assistant".
    history: list[ChatMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown simulator style {self.style!r}; one of {', '.join(STYLES)}")

    async def reply(self, agent_text: str) -> str:
        """The customer's next message after the agent said `agent_text`."""
        self.history.append(ChatMessage("user", agent_text))
        text = await (self._compact() if self.style == "compact" else self._tau2())
        if text and _plain(text) == _plain(agent_text):
            # Small models echo the agent once they lose the role; every later turn would too.
            raise SimulatorFailed("the simulated customer repeated the agent's message")
        self.history.append(ChatMessage("assistant", text))
        return text

    async def _complete(self, messages: list[ChatMessage], max_tokens: int) -> str:
        request = CompletionRequest(messages=messages, max_tokens=max_tokens, temperature=self.temperature)
        return (await self.provider.complete(request)).text.strip()

    async def _tau2(self) -> str:
        return await self._complete(
            [ChatMessage("system", system_prompt(self.domain, self.task)), *self._window()], self.max_tokens
        )

    async def _compact(self) -> str:
        lines = [f"{'Agent' if m.role == 'user' else 'Customer'}: {m.content}" for m in self._window()]
        who = _request_text(self.task.scenario)
        chat = f"Your request:\n{who}\n\nThe chat so far:\n" + "\n".join(lines)
        if len(self.history) > 1:  # the customer has spoken: has the agent finished?
            letter = await self._complete(
                [ChatMessage("system", COMPACT_SYSTEM), ChatMessage("user", f"{chat}\n\n{COMPACT_CLASSIFY}")], 4
            )
            if letter.lstrip("( ").upper().startswith("B"):
                return STOP
            if letter.lstrip("( ").upper().startswith("C"):
                return TRANSFER
        dialogue = f"The Customer:\n{who}\n\nDialogue:\n" + "\n".join(lines) + "\nCustomer:"
        said = await self._complete([ChatMessage("system", COMPACT_WRITE), ChatMessage("user", dialogue)], self.max_tokens)
        return said.removeprefix("Customer:").strip()

    def _window(self) -> list[ChatMessage]:
        if self.max_history_chars is None:
            return list(self.history)
        kept: list[ChatMessage] = []
        used = 0
        for message in reversed(self.history):
            used += len(message.content)
            if kept and used > self.max_history_chars:
                break
            kept.append(message)
        kept.reverse()
        while kept and kept[0].role != "user":  # a window starts with something the agent said
            kept.pop(0)
        return kept
