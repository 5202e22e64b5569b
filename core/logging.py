"""structlog setup: JSON in production, console in development, PII and secrets masked.

Standard-library records (Temporal's workflow.logger / activity.logger, uvicorn) go through the
same processors, so they are masked too. What is masked: core/log_mask.py.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import structlog

from core.log_mask import LogMasker

# The default masker (all PII); configure_logging builds the configured one.
mask_pii = LogMasker()


def configure_logging(
    json: bool = False,
    level: str = "INFO",
    *,
    mask_pii: bool = True,
    mask_extra_patterns: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """`stream`: where every line goes (tests); by default structlog's own lines go to stdout
    and standard-library records to stderr."""
    # Plain tracebacks in the console: structlog's default (rich, with every frame's locals) prints
    # local variables unmasked (credentials included) and takes tens of milliseconds per failure,
    # blocking the worker's event loop on every retried provider error.
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    # Masking runs before the timestamp is added, so dates never look like phone numbers.
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        LogMasker(pii=mask_pii, extra_patterns=mask_extra_patterns),
        structlog.processors.TimeStamper(fmt="iso"),
    ]
    # Replace the chain in place: a logger bound before this call keeps a reference to the list
    # object, and must not keep logging unmasked.
    processors = structlog.get_config()["processors"]
    processors[:] = [*shared, renderer]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(stream) if stream is not None else structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def get_logger(**bound: Any) -> Any:
    """A lazy logger: assembled on first use, so a module-level `log = get_logger()` made at
    import time still gets the configuration (masking, level) set up later by the CLI."""
    return structlog.get_logger(**bound)
