"""What the agent is told about the intent the turn classified."""

from __future__ import annotations

from collections.abc import Sequence


def intent_text(intent: str | None, tools: Sequence[str]) -> str:
    """A hint, not an order: the model still reads the message itself (a classifier can be wrong)."""
    if not intent:
        return ""
    line = f"The customer's message was classified as the intent '{intent}'."
    if tools:
        line += f" Tools that usually answer it: {', '.join(tools)}."
    return line + " If the message says otherwise, follow the message."
