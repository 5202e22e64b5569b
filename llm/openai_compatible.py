"""Any OpenAI-compatible chat endpoint: OpenAI, vLLM, Ollama, llama.cpp server, Together, Groq."""

from __future__ import annotations

from typing import Any

import httpx
import openai
from openai import AsyncOpenAI

from llm.base import ChatMessage, Completion, CompletionRequest, ProviderConfig, ProviderHTTPError, Usage


class OpenAICompatibleProvider:
    def __init__(self, config: ProviderConfig, http: httpx.AsyncClient) -> None:
        self._config = config
        # Temporal owns retries: the SDK must not retry behind its back.
        self._client = AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "not-needed",
            max_retries=0,
            timeout=config.timeout_seconds,
            http_client=http,
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        body = {
            "model": self._config.model,
            "messages": [_to_openai(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        try:
            # The SDK's low-level post keeps its auth, base URL and typed errors but skips the
            # typed-dict request transform and response models, which cost more CPU per turn
            # than everything else in the worker (measured with py-spy under bench/turns.py).
            response = await self._client.post("/chat/completions", body=body, cast_to=httpx.Response)
            data: dict[str, Any] = response.json()
        except openai.APIStatusError as exc:
            retry_after = exc.response.headers.get("retry-after")
            raise ProviderHTTPError(
                self._config.name,
                exc.status_code,
                str(exc.message)[:300],
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            ) from exc
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise ProviderHTTPError(self._config.name, None, repr(exc)[:300]) from exc
        except ValueError as exc:
            raise ProviderHTTPError(self._config.name, 502, f"response is not JSON: {exc}") from exc
        return _completion(data, self._config)


def _completion(data: dict[str, Any], config: ProviderConfig) -> Completion:
    try:
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ProviderHTTPError(config.name, 502, "response has no choices[0].message") from None
    usage = data.get("usage") or {}
    return Completion(
        text=text.strip(),
        model=str(data.get("model") or config.model),
        finish_reason=choice.get("finish_reason"),
        usage=Usage(input_tokens=int(usage.get("prompt_tokens") or 0), output_tokens=int(usage.get("completion_tokens") or 0)),
    )


def _to_openai(message: ChatMessage) -> dict[str, str]:
    return {"role": message.role, "content": message.content}
