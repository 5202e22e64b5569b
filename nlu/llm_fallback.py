"""Asking the LLM for a message's intent when the tenant's model is unsure (or not trained yet).

The model must call `choose_intent` with one of the tenant's intent names, or "none": a forced
tool call with an enum is the one answer shape every provider (OpenAI, Anthropic, vLLM with
tools) keeps to, where free text would need parsing and guessing.
"""

from __future__ import annotations

from collections.abc import Sequence

from llm.base import ChatMessage, Completion, CompletionRequest, ToolDefinition
from nlu.samples import MAX_SAMPLE_CHARS

TOOL_NAME = "choose_intent"
NONE = "none"
INSTRUCTIONS = (
    "You label customer-service messages. Call choose_intent with the one intent the customer's message "
    "is about, from the list; choose 'none' when none of them fits. Judge the meaning, whatever the language "
    "(English, Hindi, Hinglish and others)."
)
MAX_DESCRIPTION_CHARS = 300


def intent_request(text: str, choices: Sequence[tuple[str, str]]) -> CompletionRequest:
    """`choices`: (name, description) of each intent the tenant uses."""
    listed = "\n".join(f"- {name}: {description[:MAX_DESCRIPTION_CHARS]}" if description else f"- {name}" for name, description in choices)
    names = [name for name, _ in choices] + [NONE]
    tool = ToolDefinition(
        name=TOOL_NAME,
        description="Record the intent of the customer's message.",
        parameters={
            "type": "object",
            "properties": {"intent": {"type": "string", "enum": names}},
            "required": ["intent"],
            "additionalProperties": False,
        },
    )
    message = f"Intents:\n{listed}\n\nCustomer's message:\n{text[:MAX_SAMPLE_CHARS]}"
    return CompletionRequest(
        messages=[ChatMessage("system", INSTRUCTIONS), ChatMessage("user", message)],
        tools=[tool],
        tool_choice="required",
        max_tokens=64,
        temperature=0.0,
    )


def chosen_intent(completion: Completion, names: Sequence[str]) -> str | None:
    """The intent the model chose; None for "none" or anything not among `names`."""
    for call in completion.tool_calls:
        if call.name == TOOL_NAME:
            intent = call.arguments.get("intent")
            return intent if isinstance(intent, str) and intent in names else None
    return None
