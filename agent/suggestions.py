"""Proactive suggestions (the agent profile's `proactive_suggestions` flag): the next step a
customer is likely to want, from what we know of their orders and tickets, offered as buttons
under the reply (a tap sends the button's words as the customer's message) or, where the channel
shows no buttons, as a line the model may end its answer with.

Each suggestion has a key; the conversation remembers the keys offered, so the same one is never
offered twice in a conversation. Pure: the context builder passes the rows.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

MAX_SUGGESTIONS = 2
TRACKABLE_FULFILMENT = {None, "", "partial", "fulfilled", "in_transit", "shipped"}
RETURNABLE_FULFILMENT = {"fulfilled", "delivered"}


@dataclass(frozen=True)
class Suggestion:
    key: str  # "track:#1001": offered once per conversation
    title: str  # the button's title, and the words a tap sends


def _fit(titles: Sequence[str], max_chars: int) -> str | None:
    """The first of the titles (longest wording first) that fits the channel's button."""
    return next((t for t in titles if len(t) <= max_chars), None)


def suggest(
    orders: Sequence[Any], open_tickets: Sequence[Any], already: Collection[str], max_title_chars: int = 20
) -> list[Suggestion]:
    """Up to MAX_SUGGESTIONS next steps not offered before: follow an open order, return from a
    fulfilled one, hear about an open ticket. `orders` newest first (number, status,
    fulfillment_status); tickets have id and subject."""
    found: list[Suggestion] = []

    def offer(key: str, *titles: str) -> None:
        title = _fit(titles, max_title_chars)
        if title and key not in already and all(s.key != key for s in found):
            found.append(Suggestion(key, title))

    for order in orders:
        if order.status == "cancelled" or not order.number:
            continue
        number = order.number
        if order.status != "closed" and order.fulfillment_status in TRACKABLE_FULFILMENT:
            offer(f"track:{number}", f"Track order {number}", f"Track {number}")
        if order.fulfillment_status in RETURNABLE_FULFILMENT:
            offer(f"return:{number}", f"Return an item from {number}", f"Return from {number}", "Return an item")
    for ticket in open_tickets:
        offer(f"ticket:{ticket.id}", "Update on my ticket", "Ticket update")
    return found[:MAX_SUGGESTIONS]


def suggestions_text(suggestions: Sequence[Suggestion], as_buttons: bool) -> str:
    """What the model is told about the suggestions."""
    listed = "; ".join(f'"{s.title}"' for s in suggestions)
    if as_buttons:
        return f"Buttons under your reply will offer the customer: {listed}. Do not list them again in your text."
    return f"If it fits naturally, end your reply by offering one of these next steps: {listed}."
