"""Binds workflow, tenant and conversation ids to every log line an activity writes."""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor


class _BindIds(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        ids = {"workflow_id": info.workflow_id, "activity": info.activity_type}
        arg = input.args[0] if input.args else None
        for name in ("tenant_id", "conversation_id"):
            value = getattr(arg, name, None)
            if value:
                ids[name] = value
        with structlog.contextvars.bound_contextvars(**ids):
            return await super().execute_activity(input)


class LogContextInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindIds(next)
