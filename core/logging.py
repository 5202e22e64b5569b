"""structlog setup: JSON in production, console in development, PII and secrets masked.

Standard-library records (Temporal's workflow.logger / activity.logger, uvicorn) go through the
same processors, so they are masked too.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(secret|token|password|api_key|authorization|master_key)", re.I)
_UNMASKED_KEYS = frozenset({"workflow_id", "conversation_id", "tenant_id", "timestamp", "level", "logger"})
# Phone numbers and e-mail addresses are customer PII; keep the last digits for support work.
_PHONE = re.compile(r"\+?\d[\d\s-]{7,}\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def _mask_text(text: str) -> str:
    text = _EMAIL.sub("***@***", text)
    return _PHONE.sub(lambda m: "***" + m.group(0)[-3:], text)


def _mask_value(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key):
        return "***"
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_value(key, v) for v in value]
    return value


def mask_pii(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event_dict.items()):
        if key not in _UNMASKED_KEYS:
            event_dict[key] = _mask_value(key, value)
    return event_dict


def configure_logging(json: bool = False, level: str = "INFO") -> None:
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    # Masking runs before the timestamp is added, so dates never look like phone numbers.
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        mask_pii,
        structlog.processors.TimeStamper(fmt="iso"),
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def get_logger(**bound: Any) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger().bind(**bound)
