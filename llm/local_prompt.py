"""How the local model is asked: our chat messages in its template's shape, the tools as short
signatures in the system prompt, and the JSON schema its output must match (a grammar)."""

from __future__ import annotations

import json

from llm.base import ChatMessage, ToolDefinition

# Length and pattern limits become one nested grammar rule per allowed character in llama.cpp
# (a 500-character limit: 500 nested rules), which made every tool-mode turn seconds slower.
# They are left out of the grammar only: the tool registry checks the full schema before a
# tool runs and sends a violation back to the model.
_GRAMMAR_COSTLY = frozenset({"maxLength", "minLength", "pattern", "format", "maxItems", "minItems"})


def _loosened(schema):
    if isinstance(schema, dict):
        return {k: _loosened(v) for k, v in schema.items() if k not in _GRAMMAR_COSTLY}
    if isinstance(schema, list):
        return [_loosened(v) for v in schema]
    return schema


def output_schema(tools: list[ToolDefinition], tool_choice: str) -> dict:
    branches: list[dict] = [
        {
            "type": "object",
            "properties": {"tool": {"const": tool.name}, "arguments": _loosened(tool.parameters or {"type": "object"})},
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    if tool_choice != "required":
        branches.append(
            {"type": "object", "properties": {"reply": {"type": "string"}}, "required": ["reply"], "additionalProperties": False}
        )
    return {"anyOf": branches}


def _signature(schema: dict) -> str:
    """`order_number: string, amount?: number` from an arguments schema (? marks optional)."""
    required = set(schema.get("required") or [])
    parts = []
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type", "value") if isinstance(prop, dict) else "value"
        kind = "|".join(kind) if isinstance(kind, list) else kind
        if isinstance(prop, dict) and prop.get("enum"):
            kind = "|".join(json.dumps(v) for v in prop["enum"])
        parts.append(f"{name}{'' if name in required else '?'}: {kind}")
    return ", ".join(parts)


def _tool_instructions(tools: list[ToolDefinition], tool_choice: str) -> str:
    # Signatures, not whole JSON Schemas: the output grammar already enforces each schema, and on
    # a CPU every prompt token costs (ten schemas were most of a turn's prompt).
    listed = "\n".join(f"- {tool.name}({_signature(tool.parameters)}): {tool.description}" for tool in tools)
    lines = [
        "You can call these tools:",
        listed,
        "",
        "Answer with exactly one JSON object:",
        '- {"tool": "<tool name>", "arguments": {...}} to call a tool;',
    ]
    if tool_choice == "required":
        lines.append("You must call one of the tools.")
    else:
        lines.append('- {"reply": "<your message to the user>"} to answer without a tool.')
        lines.append(
            "Call a tool when the user asks for something it does or you need what it returns; "
            "never invent what a tool would return."
        )
    return "\n".join(lines)


def chat_messages(messages: list[ChatMessage], tools: list[ToolDefinition], tool_choice: str) -> list[dict[str, str]]:
    """Our messages in the chat template's shape; past tool calls are written in the JSON the
    model itself produces, results as the template's `tool` turns."""
    names = {call.id: call.name for message in messages for call in message.tool_calls}
    rendered: list[dict[str, str]] = []
    for message in messages:
        content = message.content
        if message.tool_calls:
            calls = "\n".join(
                json.dumps({"tool": c.name, "arguments": c.arguments}, ensure_ascii=False) for c in message.tool_calls
            )
            content = f"{content}\n{calls}" if content else calls
        elif message.role == "tool" and message.tool_call_id in names:
            content = f"{names[message.tool_call_id]} returned: {content}"
        rendered.append({"role": message.role, "content": content})
    if tools:
        instructions = _tool_instructions(tools, tool_choice)
        if rendered and rendered[0]["role"] == "system":
            # Instructions first: the same tools give the same prompt prefix on every turn, and
            # llama.cpp reuses the evaluated prefix, so only the conversation's part is new work
            # (the tool schemas are most of the prompt on a CPU).
            rendered[0] = {"role": "system", "content": f"{instructions}\n\n{rendered[0]['content']}"}
        else:
            rendered.insert(0, {"role": "system", "content": instructions})
    return rendered
