"""Typed tools the model may call, with their arguments checked against a JSON Schema first.

A tool is a name, a description the model reads, a JSON Schema of its arguments and an async
handler. The registry is the only way a model's call reaches a handler: unknown tools, tools
outside the agent's allow-list and arguments that do not match the schema are refused with a
message that goes back to the model (never to the database), so it can correct itself.

Handlers run inside one database transaction opened by the tool activity
(activities/tools.py), which also records the call under its idempotency key: a call retried
after a worker crash finds its record and returns the first result instead of running again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from sqlalchemy.ext.asyncio import AsyncSession

from llm.base import ToolDefinition

# Default rounds of model ↔ tools per turn (issue 8); an agent profile may lower or raise it.
DEFAULT_MAX_ROUNDS = 5


@dataclass(frozen=True)
class ToolContext:
    """Who a call is for. Tools act only within this tenant and, for customer data, this customer."""

    tenant_id: str
    conversation_id: str
    customer_id: str | None
    channel: str
    idempotency_key: str  # stable across retries of the same call
    services: Mapping[str, Any] = field(default_factory=dict)  # e.g. a knowledge searcher; set by the activity


class ToolRefused(Exception):
    """A call the tool will not carry out (order not found, not cancellable): the message goes
    back to the model as the tool's result, and counts as an answer, not a failure."""


Handler = Callable[[AsyncSession, ToolContext, dict[str, Any]], Awaitable[dict[str, Any]]]
Preview = Callable[[AsyncSession, ToolContext, dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True)
class Tool:
    name: str  # ^[a-zA-Z0-9_-]{1,64}$
    description: str
    parameters: dict[str, Any]  # JSON Schema of the arguments object
    handler: Handler
    # Moves money or cancels something: the customer must say yes first (the workflow asks).
    financial: bool = False
    # The question put to the customer before a financial call, from its arguments.
    confirmation: Callable[[dict[str, Any]], str] | None = None
    # Acted on by the workflow itself after the handler records it (a durable timer, a handoff).
    workflow_effect: str | None = None
    # The confirmation question written from our records ("Cancel order #1001 (2 items, 59.90
    # EUR)?"), run by an activity before the workflow asks; it raises ToolRefused when the call
    # would be refused anyway (no such order, already shipped), so the customer is not asked in vain.
    preview: Preview | None = None

    def definition(self) -> ToolDefinition:
        return ToolDefinition(name=self.name, description=self.description, parameters=self.parameters)


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        jsonschema.Draft202012Validator.check_schema(tool.parameters)
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def allowed(self, allow_list: Iterable[str] | None) -> list[Tool]:
        """The tools an agent may use: all of them when it has no allow-list."""
        if allow_list is None:
            return list(self._tools.values())
        wanted = set(allow_list)
        return [t for t in self._tools.values() if t.name in wanted]

    def check_call(self, name: str, arguments: Any, allow_list: Iterable[str] | None) -> tuple[Tool | None, str | None]:
        """The tool to run, or why the call is refused (for the model to read)."""
        tool = self._tools.get(name)
        if tool is None:
            return None, f"there is no tool named {name!r}; the tools are: {', '.join(self._tools)}"
        if allow_list is not None and name not in set(allow_list):
            return None, f"the tool {name!r} is not available to this agent"
        errors = argument_errors(tool.parameters, arguments)
        if errors:
            return None, f"invalid arguments for {name}: " + "; ".join(errors)
        return tool, None


def argument_errors(schema: dict[str, Any], arguments: Any, limit: int = 5) -> list[str]:
    """Each way the arguments break the schema, as "path: message" (empty when they fit)."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    out = []
    for err in errors[:limit]:
        where = "/".join(str(p) for p in err.absolute_path) or "arguments"
        out.append(f"{where}: {err.message}")
    return out
