"""The Anthropic stand-in and a provider registry for the provider tests (the OpenAI stand-in
is a session fixture of tests/conftest.py)."""

from __future__ import annotations

import httpx
import pytest

from llm.registry import ProviderRegistry
from tests.standins.anthropic_server import AnthropicStandIn
from tests.standins.serve import served


@pytest.fixture(scope="session")
async def anthropic_standin():
    async with served(AnthropicStandIn()) as standin:
        yield standin


@pytest.fixture(scope="session")
async def registry():
    async with httpx.AsyncClient() as http:
        providers = ProviderRegistry(http)
        yield providers
        await providers.aclose()


@pytest.fixture(autouse=True)
def _reset_llm_standins(request):
    yield
    for name in ("openai_standin", "anthropic_standin"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
