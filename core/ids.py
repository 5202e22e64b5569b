"""Deterministic identifiers shared by the API, workflows and activities."""

from __future__ import annotations

import re
import uuid

_CONTACT = re.compile(r"^[A-Za-z0-9_.:+@-]{1,128}$")
# Namespace for ids derived from names (demo seed) so re-running the seed finds the same rows.
FRONTDESK_NAMESPACE = uuid.UUID("6f1e7a52-5b4b-4c55-9a8e-0b3c5d7e9f10")


def is_valid_contact(contact: str) -> bool:
    return bool(_CONTACT.fullmatch(contact))


def conversation_workflow_id(tenant_id: str, channel_account_id: str, contact: str) -> str:
    """`conv:{tenant}:{channel_account}:{contact}` — one entity workflow per customer per channel."""
    if not is_valid_contact(contact):
        raise ValueError("contact must be 1-128 characters of letters, digits and _.:+@-")
    return f"conv:{tenant_id}:{channel_account_id}:{contact}"


def outbound_idempotency_key(workflow_id: str, turn_id: str) -> str:
    return f"{workflow_id}:{turn_id}"


def named_uuid(name: str) -> uuid.UUID:
    return uuid.uuid5(FRONTDESK_NAMESPACE, name)


def conversation_uuid(workflow_id: str) -> uuid.UUID:
    """A new conversation's database id, derived from its workflow id: the API can name the
    conversation's token stream (`conv:{id}:tokens`) before the first turn has created the row."""
    return uuid.uuid5(FRONTDESK_NAMESPACE, f"conversation:{workflow_id}")
