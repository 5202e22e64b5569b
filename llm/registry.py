"""Provider factories keyed by kind; new backends register here instead of growing an if/elif."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from llm.base import Provider, ProviderConfig
from llm.local import LocalProvider
from llm.openai_compatible import OpenAICompatibleProvider, OpenAIProvider

ProviderFactory = Callable[[ProviderConfig, httpx.AsyncClient], Provider]


class ProviderRegistry:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._http2: Any = None  # an httpx2.AsyncClient once an Anthropic provider is built
        self._factories: dict[str, ProviderFactory] = {}
        # Building an SDK client costs more than a loopback completion; reuse it per config.
        self._built: dict[tuple, Provider] = {}
        self.register("openai_compatible", OpenAICompatibleProvider)
        self.register("openai", OpenAIProvider)
        self.register("anthropic", self._anthropic)
        # In-process llama.cpp; the model loads on the first call of whichever process serves it
        # (the `llm` worker under `frontdesk dev`).
        self.register("local", LocalProvider)

    def register(self, kind: str, factory: ProviderFactory) -> None:
        self._factories[kind] = factory

    def kinds(self) -> list[str]:
        return sorted(self._factories)

    def build(self, config: ProviderConfig) -> Provider:
        key = (
            config.kind,
            config.name,
            config.base_url,
            config.model,
            config.api_key,
            config.timeout_seconds,
            config.connect_timeout_seconds,
        )
        provider = self._built.get(key)
        if provider is None:
            try:
                factory = self._factories[config.kind]
            except KeyError:
                raise LookupError(f"no LLM provider kind {config.kind!r}") from None
            if len(self._built) > 1000:
                self._built.clear()
            provider = self._built[key] = factory(config, self._http)
        return provider

    async def aclose(self) -> None:
        """Closes the client this registry opened itself (the shared httpx one is its owner's)."""
        if self._http2 is not None:
            await self._http2.aclose()
            self._http2 = None

    def _anthropic(self, config: ProviderConfig, http: httpx.AsyncClient) -> Provider:
        # Imported on first use: the SDK takes ~2 s to import, which every worker start (and
        # every restart after a crash) would otherwise pay, Anthropic tenants or not.
        import httpx2

        from llm.anthropic_provider import AnthropicProvider

        # The Anthropic SDK refuses httpx clients (it is built on httpx2), so its providers share
        # one httpx2 pool of the same size instead of each opening their own.
        if self._http2 is None:
            self._http2 = httpx2.AsyncClient(limits=httpx2.Limits(max_connections=200))
        return AnthropicProvider(config, self._http2)
