"""The ids a tool may act on, from its ToolContext: never from the model's arguments."""

from __future__ import annotations

import uuid

from agent.tools.registry import ToolContext, ToolRefused


def tenant_of(ctx: ToolContext) -> uuid.UUID:
    return uuid.UUID(ctx.tenant_id)


def conversation_of(ctx: ToolContext) -> uuid.UUID:
    return uuid.UUID(ctx.conversation_id)


def customer_of(ctx: ToolContext) -> uuid.UUID:
    """The conversation's customer; a refusal the model can relay when the conversation has none."""
    if not ctx.customer_id:
        raise ToolRefused("this conversation is not linked to a customer, so there is no customer data to use")
    return uuid.UUID(ctx.customer_id)
