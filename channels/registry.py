"""Channel adapters by name, built once per process with a shared HTTP client."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from channels.base import ChannelAdapter
from channels.generic_webhook import GenericWebhookAdapter
from channels.messenger import InstagramAdapter, MessengerAdapter
from channels.telegram import TelegramAdapter
from channels.twilio import TwilioAdapter
from channels.whatsapp import WhatsAppAdapter

# Every channel that reaches us by webhook; each gets its routes (api/routes/channel_webhooks.py).
ADAPTERS: dict[str, Callable[[httpx.AsyncClient], ChannelAdapter]] = {
    "whatsapp": WhatsAppAdapter,
    "messenger": MessengerAdapter,
    "instagram": InstagramAdapter,
    "twilio": TwilioAdapter,
    "webhook": GenericWebhookAdapter,
    "telegram": TelegramAdapter,
}

# Channels whose adapter has something to tell the channel once a message is in (after_receive).
ACKNOWLEDGING_CHANNELS = frozenset(name for name, adapter in ADAPTERS.items() if getattr(adapter, "acknowledges_inbound", False))


class ChannelRegistry:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._adapters: dict[str, ChannelAdapter] = {}
        for build in ADAPTERS.values():
            self.register(build(http))

    def register(self, adapter: ChannelAdapter) -> None:
        self._adapters[adapter.name] = adapter

    def get(self, name: str) -> ChannelAdapter:
        try:
            return self._adapters[name]
        except KeyError:
            raise LookupError(f"no channel adapter named {name!r}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._adapters
