"""Binds workflow, tenant, conversation and request ids to every log line an activity writes."""

from __future__ import annotations

import time
from typing import Any

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from core.logging import get_logger
from core.request_context import RequestIdInterceptor, request_id_from_headers

log = get_logger()


class _BindIds(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        ids = {"workflow_id": info.workflow_id, "activity": info.activity_type}
        arg = input.args[0] if input.args else None
        for name in ("tenant_id", "conversation_id"):
            value = getattr(arg, name, None)
            if value:
                ids[name] = value
        # Put there by the workflow (core/request_context.py): the API request behind this turn.
        request_id = request_id_from_headers(input.headers)
        if request_id:
            ids["request_id"] = request_id
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(**ids):
            result = await super().execute_activity(input)
            # Debug: a no-op at the default INFO level, a per-step timeline when asked for.
            log.debug("activity completed", duration_ms=round((time.perf_counter() - started) * 1000, 2))
            return result


class LogContextInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindIds(next)


def worker_interceptors(client: Client) -> list[Interceptor]:
    """A worker's own interceptors. Request-id propagation comes with a client connected with
    `client_interceptors()`; a worker built on a bare client (tests, scripts) adds it here, so
    its workflows still pass the id on to their activities."""
    inherited = any(isinstance(i, RequestIdInterceptor) for i in client.config()["interceptors"])
    return [LogContextInterceptor()] if inherited else [LogContextInterceptor(), RequestIdInterceptor()]
