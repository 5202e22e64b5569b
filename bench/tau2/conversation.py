"""One τ² task as a web-chat conversation: the simulated customer writes, our API answers
through the real conversation workflow (update-with-start), until someone ends it."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent.confirmation import NO_PAYLOAD, YES_PAYLOAD, read_answer
from bench.tau2.scoring import AGENT_STOP, ERROR, MAX_TURNS, USER_STOP
from bench.tau2.user_sim import GREETING, UserSimulator, is_stop
from workflows.agent_turn import FALLBACK_TEXT

# A turn with the local model on 2 shared cores can take minutes (several model calls, each a
# long prompt); the POST is retried with the same client_message_id until the turn answers.
TURN_DEADLINE_S = 1800.0
RETRYABLE = frozenset({429, 500, 502, 503, 504})


class TurnFailed(RuntimeError):
    """The API refused a message for good, or no answer came within TURN_DEADLINE_S."""


@dataclass
class AgentReply:
    text: str
    needs_human: bool
    buttons: list[dict[str, Any]]


class WebChat:
    """A web-chat visitor: one session, one POST per message, retried like the widget retries."""

    def __init__(self, http: httpx.AsyncClient, webchat_id: str) -> None:
        self._http = http
        self._path = f"/v1/webchat/{webchat_id}/messages"
        self.session_id = f"tau2-{uuid.uuid4().hex[:12]}"
        self._sent = 0

    async def send(self, text: str, reply_payload: str | None = None) -> AgentReply:
        self._sent += 1
        body: dict[str, Any] = {"session_id": self.session_id, "client_message_id": f"m{self._sent}", "text": text[:4096]}
        if reply_payload:
            body["reply_payload"] = reply_payload
        deadline = time.monotonic() + TURN_DEADLINE_S
        while True:
            try:
                response = await self._http.post(self._path, json=body)
            except httpx.HTTPError as exc:
                response, problem = None, repr(exc)
            if response is not None:
                if response.status_code == 200:
                    out = response.json()
                    return AgentReply(out["reply"], bool(out.get("needs_human")), list(out.get("buttons") or []))
                problem = f"{response.status_code} {response.text[:300]}"
                if response.status_code not in RETRYABLE:
                    raise TurnFailed(problem)
            if time.monotonic() > deadline:
                raise TurnFailed(f"no answer within {TURN_DEADLINE_S:.0f} s ({problem})")
            retry_after = response.headers.get("retry-after") if response is not None else None
            await asyncio.sleep(min(float(retry_after), 5.0) if retry_after else 1.0)


def shown(reply: AgentReply) -> str:
    """The agent's message as the widget shows it: the text, then its buttons."""
    if not reply.buttons:
        return reply.text
    return reply.text + "\n" + " ".join(f"[{b['title']}]" for b in reply.buttons)


def button_tap(said: str, buttons: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(title, id) of the yes/no button a customer who wrote `said` would tap: their message
    opens with a clear yes or no ("Yes, please go ahead with the exchange."). None otherwise:
    the message is sent as typed."""
    offered = {b["id"]: b["title"] for b in buttons}
    opening = re.split(r"[.,!;:\n]", said.strip(), maxsplit=1)[0]
    answer = read_answer(opening)
    wanted = YES_PAYLOAD if answer is True else NO_PAYLOAD if answer is False else None
    if wanted is None or wanted not in offered:
        return None
    return offered[wanted], wanted


@dataclass
class Transcript:
    termination: str = MAX_TURNS
    # What the customer saw from the agent, τ²'s greeting first; what the scoring reads.
    agent_messages: list[str] = field(default_factory=lambda: [GREETING])
    turns: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


async def run_conversation(sim: UserSimulator, chat: WebChat, max_turns: int) -> Transcript:
    transcript = Transcript()
    agent_said, buttons = GREETING, []
    for _ in range(max_turns):
        try:
            said = await sim.reply(agent_said)
        except Exception as exc:  # noqa: BLE001 - a simulator failure ends this task, not the run
            transcript.termination, transcript.note = ERROR, f"user simulator failed: {exc!r}"[:300]
            return transcript
        transcript.turns.append({"customer": said})
        if is_stop(said):
            transcript.termination = USER_STOP
            return transcript
        if not said:
            transcript.termination, transcript.note = ERROR, "the user simulator wrote nothing"
            return transcript
        tap = button_tap(said, buttons)
        try:
            reply = await (chat.send(tap[0], tap[1]) if tap else chat.send(said))
        except TurnFailed as exc:
            transcript.termination, transcript.note = ERROR, f"turn failed: {exc}"[:300]
            return transcript
        transcript.turns[-1].update(agent=reply.text, buttons=[b["id"] for b in reply.buttons], tapped=tap[1] if tap else None)
        transcript.agent_messages.append(reply.text)
        if reply.text.startswith(FALLBACK_TEXT):
            # The model failed (timeouts, errors): the workflow apologised and called a person.
            transcript.termination, transcript.note = ERROR, "the agent's model failed (fallback reply)"
            return transcript
        if reply.needs_human:
            # Handed to a person: the AI stops answering, as τ²'s agent stops after a transfer.
            transcript.termination = AGENT_STOP
            return transcript
        if not reply.text.strip():
            transcript.termination, transcript.note = ERROR, "the agent answered with nothing"
            return transcript
        agent_said, buttons = shown(reply), reply.buttons
    return transcript
