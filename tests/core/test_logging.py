"""Log masking: secrets and customer PII never reach the log, correlation ids and timestamps stay readable."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from core.logging import configure_logging, mask_pii


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paid with 4111 1111 1111 1111 yesterday", "paid with ****1111 yesterday"),
        ("card 5500-0000-0000-0004", "card ****0004"),
        ("order 1234567890123456 shipped", "order 1234567890123456 shipped"),  # fails Luhn: not a card
        ("header Authorization: Bearer abc.def.ghijklmnop", "header Authorization: ***"),
        ("sent with Bearer EAAGm0PX4ZCpsBAKZBZCw7ZAZB", "sent with Bearer ***"),
        ("key fd_ab12cd34_Zx9yY0secretpart used", "key fd_ab12cd34_*** used"),
        ("provider key sk-proj-abcdefghijklmnop1234", "provider key sk-***"),
        ("session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl ok", "session eyJ*** ok"),
        ("graph token EAABsbCS1iHgBAKZBZCw7ZAZBabcdefgh", "graph token EAA***"),
        (
            "HTTP Request: POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage",
            "HTTP Request: POST https://api.telegram.org/bot123456789:***/sendMessage",
        ),
        ("GET /cb?access_token=abcdef123456&x=1", "GET /cb?access_token=***&x=1"),
        ("sig sha256=0123456789abcdef0123456789abcdef0123456789abcdef", "sig sha256=***"),
    ],
)
def test_cards_and_tokens_in_text_are_masked(text, expected):
    assert _mask(event=text)["event"] == expected


@pytest.mark.parametrize(
    "text",
    [
        "tenant 6f1e7a52-5b4b-4c55-9a8e-0b3c5d7e9f10 ready",
        "request req-1234567890 done",
        "at 2024-05-01 10:00:00 and 2024-05-01T10:00:00Z",
        "message wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUM0 stored",
        "took 1234 ms for 5 items from 192.168.100.200",
    ],
)
def test_ids_dates_and_small_numbers_stay_readable(text):
    assert _mask(event=text)["event"] == text


def _lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_configured_logging_masks_structlog_and_stdlib_lines(captured_output):
    configure_logging(json=True, level="DEBUG", stream=captured_output)
    structlog.get_logger("test").info(
        "reply sent to +919876543210",
        workflow_id="conv:t1:acct:919876543210",
        request_id="req-42",
        note="card 4111 1111 1111 1111, mail sheena@example.com",
        headers={"Authorization": "Bearer abcdefghijkl", "x-request-id": "req-42"},
    )
    # Temporal's activity.logger and uvicorn log through the standard library.
    logging.getLogger("temporalio.activity").warning(
        "provider failed for %s with key %s", "+14155550123", "sk-abcdefghijklmnopqrstu", extra={"access_token": "EAAB123"}
    )
    structured, stdlib = _lines(captured_output)
    assert structured["event"] == "reply sent to ***210"
    assert structured["note"] == "card ****1111, mail ***@***"
    assert structured["headers"] == {"Authorization": "***", "x-request-id": "req-42"}
    assert structured["workflow_id"] == "conv:t1:acct:919876543210"  # correlation ids stay whole
    assert structured["request_id"] == "req-42"
    assert stdlib["event"] == "provider failed for ***123 with key sk-***"
    assert stdlib["access_token"] == "***"
    assert "919876543210" not in captured_output.getvalue().replace(structured["workflow_id"], "")


def test_masking_is_configurable(captured_output):
    configure_logging(json=True, stream=captured_output, mask_pii=False, mask_extra_patterns=[r"ORD-\d{6}"])
    structlog.get_logger("test").info("order ORD-123456 for +919876543210", api_key="sk-live", auth="Bearer abcdefghijkl")
    (line,) = _lines(captured_output)
    assert line["event"] == "order *** for +919876543210"  # PII switched off, the extra pattern applies
    assert line["api_key"] == "***" and line["auth"] == "Bearer ***"  # secrets are never logged
