"""structlog setup: JSON in production, console in development, PII and secrets masked."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(secret|token|password|api_key|authorization|master_key)", re.I)
# Phone numbers and e-mail addresses are customer PII; keep the last digits for support work.
_PHONE = re.compile(r"\+?\d[\d\s-]{7,}\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def _mask_text(text: str) -> str:
    text = _EMAIL.sub("***@***", text)
    return _PHONE.sub(lambda m: "***" + m.group(0)[-3:], text)


def mask_pii(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event_dict.items()):
        if _SECRET_KEYS.search(key):
            event_dict[key] = "***"
        elif isinstance(value, str) and key not in ("workflow_id", "conversation_id", "tenant_id"):
            event_dict[key] = _mask_text(value)
    return event_dict


def configure_logging(json: bool = False, level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level)
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            mask_pii,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )


def get_logger(**bound: Any) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger().bind(**bound)
