"""Channel adapters by name, built once per process with a shared HTTP client."""

from __future__ import annotations

import httpx

from channels.base import ChannelAdapter
from channels.whatsapp import WhatsAppAdapter


class ChannelRegistry:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._adapters: dict[str, ChannelAdapter] = {}
        self.register(WhatsAppAdapter(http))

    def register(self, adapter: ChannelAdapter) -> None:
        self._adapters[adapter.name] = adapter

    def get(self, name: str) -> ChannelAdapter:
        try:
            return self._adapters[name]
        except KeyError:
            raise LookupError(f"no channel adapter named {name!r}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._adapters
