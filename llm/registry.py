"""Provider factories keyed by kind; new backends register here instead of growing an if/elif."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from llm.base import Provider, ProviderConfig
from llm.openai_compatible import OpenAICompatibleProvider

ProviderFactory = Callable[[ProviderConfig, httpx.AsyncClient], Provider]


class ProviderRegistry:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._factories: dict[str, ProviderFactory] = {}
        # Building an SDK client costs more than a loopback completion; reuse it per config.
        self._built: dict[tuple, Provider] = {}
        self.register("openai_compatible", OpenAICompatibleProvider)
        self.register("openai", OpenAICompatibleProvider)

    def register(self, kind: str, factory: ProviderFactory) -> None:
        self._factories[kind] = factory

    def kinds(self) -> list[str]:
        return sorted(self._factories)

    def build(self, config: ProviderConfig) -> Provider:
        key = (config.kind, config.name, config.base_url, config.model, config.api_key, config.timeout_seconds)
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
