"""Temporal client, task queues and search attributes shared by API, workers and CLI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.common import SearchAttributeKey
from temporalio.converter import DataConverter

from core.logging import get_logger
from core.payload_codec import payload_data_converter
from core.request_context import client_interceptors
from core.settings import Settings

log = get_logger()


class TaskQueue:
    FRONTDESK = "frontdesk"  # workflows + I/O activities
    LLM = "llm"
    INGEST = "ingest"
    STT = "stt"


TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
CONVERSATION_STATUS = SearchAttributeKey.for_keyword("ConversationStatus")
SEARCH_ATTRIBUTES = (TENANT_ID, CHANNEL, CUSTOMER_ID, CONVERSATION_STATUS)


async def connect(
    address: str,
    namespace: str = "default",
    wait_seconds: float = 60,
    *,
    data_converter: DataConverter | None = None,
    interceptors: Sequence[ClientInterceptor] = (),
    lazy: bool = False,
) -> Client:
    """Connect, waiting for a server that is still starting (dev server, compose start-up).
    `lazy`: return at once and connect on first use, so a process that can do useful work
    without Temporal (the API answering 503s and health checks) starts anyway and recovers
    by itself when Temporal comes up."""
    if lazy:
        return await Client.connect(
            address, namespace=namespace, data_converter=data_converter or DataConverter.default, interceptors=interceptors, lazy=True
        )
    started = time.monotonic()
    next_report = started + 2  # quiet while a local dev server is still booting
    while True:
        try:
            client = await Client.connect(
                address,
                namespace=namespace,
                data_converter=data_converter or DataConverter.default,
                interceptors=interceptors,
            )
            await client.service_client.check_health()
            return client
        except Exception as exc:
            now = time.monotonic()
            if now - started > wait_seconds:
                log.error("Temporal unreachable, giving up", address=address, error=repr(exc)[:300])
                raise
            if now >= next_report:
                log.warning("waiting for Temporal", address=address, waited_s=round(now - started), error=repr(exc)[:300])
                next_report = now + 10
            await asyncio.sleep(0.3)


async def connect_platform(settings: Settings, wait_seconds: float = 60, *, lazy: bool = False) -> Client:
    """The client for conversation workflows: payloads encrypted with the master key's codec
    (history holds customer messages) and request ids carried through. Every process that
    starts, signals or runs these workflows must use it, or it reads ciphertext."""
    return await connect(
        settings.temporal_address or "",
        settings.temporal_namespace,
        wait_seconds,
        data_converter=payload_data_converter(settings),
        interceptors=client_interceptors(),
        lazy=lazy,
    )


async def register_search_attributes(client: Client) -> list[str]:
    """Create the custom search attributes that are missing; returns the names it added."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)


async def ensure_search_attributes(address: str, namespace: str = "default", wait_seconds: float = 30) -> None:
    """Register the search attributes and wait until the server lists them all (a new one can
    take a moment to become usable). Safe to run on every start."""
    client = await connect(address, namespace)
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while await register_search_attributes(client):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("search attributes did not become visible")
        await asyncio.sleep(0.2)
