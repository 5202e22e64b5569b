"""Customer tools: the profile, support tickets and payment requests, for the conversation's own
customer only.

A payment intent is recorded here; the conversation's turn then makes it a Stripe Checkout link
when the tenant has a Stripe account connected (activities/store_sync.py) and adds the link to
this result; without one the result keeps "store_synced": false and the team sends the request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agent.tools.money import currency_code, money, parse_amount
from agent.tools.orders import find_order
from agent.tools.registry import Tool, ToolContext, ToolRefused
from agent.tools.scope import conversation_of, customer_of, tenant_of
from models import agent_tools_store as store
from models.agent_tools import TICKET_PRIORITIES

TICKET_AUTHOR = "agent"


async def get_customer_profile(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    profile = await store.customer_profile(session, tenant_of(ctx), customer_of(ctx))
    if profile is None:
        raise ToolRefused("this conversation's customer is no longer on record")
    c = profile.customer
    return {
        "name": c.display_name,
        "email": c.email,
        "phone": c.phone,
        "customer_since": c.created_at.isoformat(),
        "identities": [{"channel": channel, "id": external_id} for channel, external_id in profile.identities],
        "order_count": profile.order_count,
        "open_tickets": [
            {
                "ticket_id": str(t.id),
                "subject": t.subject,
                "status": t.status,
                "priority": t.priority,
                "created_at": t.created_at.isoformat(),
            }
            for t in profile.open_tickets
        ],
    }


async def create_ticket(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    subject, description = args["subject"].strip(), args["description"].strip()
    if not subject or not description:
        raise ToolRefused("a ticket needs a subject and a description that are not blank")
    ticket = await store.add_ticket(
        session, tenant_id=tenant_of(ctx), customer_id=customer_of(ctx), conversation_id=conversation_of(ctx), subject=subject,
        description=description, priority=args.get("priority", "normal"), created_by=TICKET_AUTHOR,
    )  # fmt: skip
    return {"ticket_id": str(ticket.id), "status": ticket.status, "priority": ticket.priority, "subject": ticket.subject}


async def create_payment_intent(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    currency = currency_code(args["currency"])
    amount = parse_amount(args["amount"], currency)
    description = args["description"].strip()
    if not description:
        raise ToolRefused("say what the payment is for in description")
    order = None
    if args.get("order_number"):
        order = await find_order(session, ctx, args["order_number"])
        if order.currency and order.currency != currency:
            raise ToolRefused(f"order {order.number} is in {order.currency}, not {currency}")
    intent = await store.add_payment_intent(
        session, tenant_id=tenant_of(ctx), customer_id=customer_of(ctx), conversation_id=conversation_of(ctx),
        order_id=order.id if order else None, amount=amount, currency=currency, description=description,
    )  # fmt: skip
    return {
        "payment_intent_id": str(intent.id),
        "amount": money(amount, currency),
        "currency": currency,
        "description": description,
        "order_number": order.number if order else None,
        "status": intent.status,
        "recorded": True,
        "store_synced": False,
        "note": "Recorded in Frontdesk only: no payment link has been made yet.",
    }


def _payment_question(args: dict[str, Any]) -> str:
    amount, currency = args.get("amount"), str(args.get("currency", "")).upper()
    return f"Create a payment request of {amount} {currency} for \u201c{args.get('description', '')}\u201d? Reply yes or no."


GET_CUSTOMER_PROFILE = Tool(
    name="get_customer_profile",
    description=(
        "Who the customer in this conversation is: name, e-mail, phone, the channels they have written from, "
        "how many orders they have and their open support tickets. Takes no arguments."
    ),
    parameters={"type": "object", "properties": {}, "additionalProperties": False},
    handler=get_customer_profile,
)

CREATE_TICKET = Tool(
    name="create_ticket",
    description=(
        "Open a support ticket for the customer when something needs the team's follow-up (a damaged item, a "
        "complaint, a request you cannot complete). Tell the customer the ticket was opened."
    ),
    parameters={
        "type": "object",
        "properties": {
            "subject": {"type": "string", "minLength": 1, "maxLength": 200, "description": "A short title."},
            "description": {
                "type": "string",
                "minLength": 1,
                "maxLength": 4000,
                "description": "What happened and what the customer wants.",
            },
            "priority": {
                "type": "string",
                "enum": list(TICKET_PRIORITIES),
                "default": "normal",
                "description": "normal unless it is urgent.",
            },
        },
        "required": ["subject", "description"],
        "additionalProperties": False,
    },
    handler=create_ticket,
)

CREATE_PAYMENT_INTENT = Tool(
    name="create_payment_intent",
    description=(
        "Ask the customer for a payment (an extra charge, a balance due): amount, ISO currency code and what it "
        "is for, optionally for one of their orders. The customer is asked to confirm first."
    ),
    parameters={
        "type": "object",
        "properties": {
            "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 999999999999.99, "description": "e.g. 25 or 25.50"},
            "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217 code, e.g. EUR, USD, INR."},
            "description": {"type": "string", "minLength": 1, "maxLength": 500, "description": "What the payment is for."},
            "order_number": {"type": "string", "minLength": 1, "maxLength": 64, "description": "The order it is for, if any."},
        },
        "required": ["amount", "currency", "description"],
        "additionalProperties": False,
    },
    handler=create_payment_intent,
    financial=True,
    confirmation=_payment_question,
)
