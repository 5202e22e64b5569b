"""Server-sent events, read off a streamed httpx (or httpx2) response.

Both streaming wire formats we speak (OpenAI chunks, Anthropic message events) put one JSON
document in each event's `data`, so the event name is not needed: Anthropic repeats it as `type`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from llm.base import ProviderHTTPError


async def sse_data(response: Any) -> AsyncIterator[str]:
    """The `data` of each event, multi-line data joined with newlines as the SSE spec says."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            lines.append(line[5:].removeprefix(" "))
        elif not line and lines:
            yield "\n".join(lines)
            lines = []
    if lines:  # a last event without its blank line: the server closed right after it
        yield "\n".join(lines)


def event_json(data: str, provider: str) -> dict[str, Any]:
    """One event's data as the JSON object both formats promise; anything else is a bad answer."""
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ProviderHTTPError(provider, 502, f"stream event is not a JSON object: {data[:100]!r}")
    return value
