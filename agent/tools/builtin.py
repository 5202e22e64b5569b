"""The built-in tools every agent can be given (its allow-list picks among them).

Each tool acts only on the conversation's tenant and customer (its ToolContext), never on ids the
model supplies. Cancellations and refunds are carried out at the store after the tool records them
(activities/store_sync.py); a payment request is recorded for the team to send, and its result
says "store_synced": false.
"""

from __future__ import annotations

from agent.tools.conversation import HANDOFF_TO_HUMAN, SCHEDULE_FOLLOWUP
from agent.tools.customer import CREATE_PAYMENT_INTENT, CREATE_TICKET, GET_CUSTOMER_PROFILE
from agent.tools.knowledge import SEARCH_KNOWLEDGE
from agent.tools.orders import CANCEL_ORDER, LIST_ORDERS, REFUND_ORDER, TRACK_ORDER
from agent.tools.registry import Tool, ToolRegistry

# In the order the model sees them: reading before acting, the handoff last.
BUILTIN_TOOLS: tuple[Tool, ...] = (
    GET_CUSTOMER_PROFILE,
    LIST_ORDERS,
    TRACK_ORDER,
    SEARCH_KNOWLEDGE,
    CANCEL_ORDER,
    REFUND_ORDER,
    CREATE_PAYMENT_INTENT,
    CREATE_TICKET,
    SCHEDULE_FOLLOWUP,
    HANDOFF_TO_HUMAN,
)


def default_registry() -> ToolRegistry:
    """A new registry of the built-in tools (callers may register more on their own copy)."""
    return ToolRegistry(BUILTIN_TOOLS)
