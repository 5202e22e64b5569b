"""Request ids that flow from the API through Temporal to workflows and activities.

The API binds a request id per request (api/request_id.py). `RequestIdInterceptor` carries it
on: the client puts it in a Temporal header on every start, signal and update; the workflow
remembers the header of the last signal (or of the update it is handling) and copies it onto
the activities and local activities it schedules; workers/log_context.py binds it to the
activity's log lines. A turn's log lines can then be found from the id a channel or browser
saw in the `X-Request-ID` response header.

Workflow side: the header payload is passed along as received, never decoded, so it costs a
dict copy per scheduled activity and stays deterministic (headers are part of history).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import structlog
from temporalio import client as temporal_client
from temporalio import worker as temporal_worker
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadConverter

HEADER = "frontdesk-request-id"
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

# The API request being served (set by the middleware for the request's task).
_current: ContextVar[str | None] = ContextVar("frontdesk_request_id", default=None)
# Inside a workflow: the header of the update whose handler task is running.
_handler_header: ContextVar[Payload | None] = ContextVar("frontdesk_update_request_id", default=None)


def sane_request_id(value: str | None) -> str | None:
    """A caller's id is kept only if it is a short plain token (it ends up in logs and headers)."""
    return value if value is not None and _SANE.fullmatch(value) else None


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _current.get()


def bind_request_id(request_id: str) -> dict[str, Any]:
    """Bind for the current context (request task); returns tokens for `unbind_request_id`."""
    return {"own": _current.set(request_id), "structlog": structlog.contextvars.bind_contextvars(request_id=request_id)}


def unbind_request_id(tokens: dict[str, Any]) -> None:
    structlog.contextvars.reset_contextvars(**tokens["structlog"])
    _current.reset(tokens["own"])


def request_id_from_headers(headers: Mapping[str, Payload]) -> str | None:
    payload = headers.get(HEADER)
    if payload is None:
        return None
    try:
        return sane_request_id(PayloadConverter.default.from_payload(payload, str))
    except Exception:  # a header written by something else (or codec-encoded): not ours to fail on
        return None


def _with_header(headers: Mapping[str, Payload], payload: Payload) -> Mapping[str, Payload]:
    return {**headers, HEADER: payload}


# -- client side ---------------------------------------------------------------------------


class _ClientOutbound(temporal_client.OutboundInterceptor):
    @staticmethod
    def _payload() -> Payload | None:
        request_id = _current.get()
        return None if request_id is None else PayloadConverter.default.to_payload(request_id)

    async def start_workflow(self, input: temporal_client.StartWorkflowInput) -> temporal_client.WorkflowHandle[Any, Any]:
        # Covers signal-with-start too: the server gives the start signal the same header.
        if (payload := self._payload()) is not None:
            input.headers = _with_header(input.headers, payload)
        return await super().start_workflow(input)

    async def signal_workflow(self, input: temporal_client.SignalWorkflowInput) -> None:
        if (payload := self._payload()) is not None:
            input.headers = _with_header(input.headers, payload)
        await super().signal_workflow(input)

    async def start_workflow_update(self, input: temporal_client.StartWorkflowUpdateInput) -> temporal_client.WorkflowUpdateHandle[Any]:
        if (payload := self._payload()) is not None:
            input.headers = _with_header(input.headers, payload)
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(
        self, input: temporal_client.StartWorkflowUpdateWithStartInput
    ) -> temporal_client.WorkflowUpdateHandle[Any]:
        if (payload := self._payload()) is not None:
            start, update = input.start_workflow_input, input.update_workflow_input
            start.headers = _with_header(start.headers, payload)
            update.headers = _with_header(update.headers, payload)
        return await super().start_update_with_start_workflow(input)


# -- workflow side (one instance per workflow run; runs inside the sandbox) -----------------


class _WorkflowInbound(temporal_worker.WorkflowInboundInterceptor):
    def __init__(self, next: temporal_worker.WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        self.latest: Payload | None = None  # the last start/signal/update header of this run

    def init(self, outbound: temporal_worker.WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound, self))

    def _remember(self, headers: Mapping[str, Payload]) -> Payload | None:
        payload = headers.get(HEADER)
        if payload is not None:
            self.latest = payload
        return payload

    async def execute_workflow(self, input: temporal_worker.ExecuteWorkflowInput) -> Any:
        self._remember(input.headers)
        return await super().execute_workflow(input)

    async def handle_signal(self, input: temporal_worker.HandleSignalInput) -> None:
        # Signals only queue messages; the run loop's next turn is labelled with the last one.
        self._remember(input.headers)
        await super().handle_signal(input)

    async def handle_update_handler(self, input: temporal_worker.HandleUpdateInput) -> Any:
        # An update runs its own turn in its own task: label that turn with its own request.
        token = _handler_header.set(self._remember(input.headers))
        try:
            return await super().handle_update_handler(input)
        finally:
            _handler_header.reset(token)


class _WorkflowOutbound(temporal_worker.WorkflowOutboundInterceptor):
    def __init__(self, next: temporal_worker.WorkflowOutboundInterceptor, inbound: _WorkflowInbound) -> None:
        super().__init__(next)
        self._inbound = inbound

    def _header(self) -> Payload | None:
        return _handler_header.get() or self._inbound.latest

    def start_activity(self, input: temporal_worker.StartActivityInput) -> Any:
        if (payload := self._header()) is not None:
            input.headers = _with_header(input.headers, payload)
        return super().start_activity(input)

    def start_local_activity(self, input: temporal_worker.StartLocalActivityInput) -> Any:
        if (payload := self._header()) is not None:
            input.headers = _with_header(input.headers, payload)
        return super().start_local_activity(input)

    def continue_as_new(self, input: temporal_worker.ContinueAsNewInput) -> Any:
        if (payload := self._inbound.latest) is not None:
            input.headers = _with_header(input.headers, payload)
        return super().continue_as_new(input)


class RequestIdInterceptor(temporal_client.Interceptor, temporal_worker.Interceptor):
    """Both a client and a worker interceptor: given to `Client.connect`, every worker built on
    that client uses it too. Activities bind the id in workers/log_context.py."""

    def intercept_client(self, next: temporal_client.OutboundInterceptor) -> temporal_client.OutboundInterceptor:
        return _ClientOutbound(next)

    def workflow_interceptor_class(
        self, input: temporal_worker.WorkflowInterceptorClassInput
    ) -> type[temporal_worker.WorkflowInboundInterceptor]:
        return _WorkflowInbound


def client_interceptors() -> list[temporal_client.Interceptor]:
    return [RequestIdInterceptor()]
