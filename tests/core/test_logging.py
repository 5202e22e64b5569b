"""Log masking: secrets and customer PII never reach the log, correlation ids and timestamps stay readable."""

from __future__ import annotations

import pytest
import structlog

from core.logging import mask_pii


def _mask(**event) -> dict:
    return mask_pii(None, "info", dict(event))


@pytest.mark.parametrize("key", ["app_secret", "access_token", "password", "api_key", "Authorization", "master_key"])
def test_secret_values_are_hidden(key):
    assert _mask(event="configured", **{key: "s3cr3t-value"})[key] == "***"


def test_phone_numbers_keep_only_the_last_three_digits():
    out = _mask(event="inbound from +919876543210", text="call me on 650-555-1234 please")
    assert out["event"] == "inbound from ***210"
    assert out["text"] == "call me on ***234 please"


def test_email_addresses_are_hidden():
    out = _mask(event="reply", text="write to sheena.nelson+orders@example.co.uk today")
    assert out["text"] == "write to ***@*** today"


def test_correlation_ids_are_left_untouched():
    ids = {
        "workflow_id": "conv:t1:wa-acct:919876543210",
        "conversation_id": "conv-919876543210",
        "tenant_id": "6f1e7a52-5b4b-4c55-9a8e-0b3c5d7e9f10",
    }
    assert _mask(event="turn", **ids) == {"event": "turn", **ids}


def test_timestamp_added_before_masking_stays_readable():
    # configure_logging runs TimeStamper(fmt="iso") before mask_pii; the timestamp is not PII.
    stamped = structlog.processors.TimeStamper(fmt="iso")(None, "info", {"event": "turn"})
    timestamp = stamped["timestamp"]
    assert _mask(**stamped)["timestamp"] == timestamp
