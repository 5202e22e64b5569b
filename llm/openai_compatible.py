"""Any OpenAI-compatible chat endpoint: OpenAI, vLLM, Ollama, llama.cpp server, Together, Groq."""

from __future__ import annotations

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
        try:
            response = await self._client.chat.completions.create(
                model=self._config.model,
                messages=[_to_openai(m) for m in request.messages],
                max_tokens=request.max_tokens,
                temperature=request.temperature,
            )
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
        if not response.choices:
            raise ProviderHTTPError(self._config.name, 502, "response had no choices")
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=(choice.message.content or "").strip(),
            model=response.model or self._config.model,
            finish_reason=choice.finish_reason,
            usage=Usage(
                input_tokens=usage.prompt_tokens if usage else 0,
                output_tokens=usage.completion_tokens if usage else 0,
            ),
        )


def _to_openai(message: ChatMessage) -> dict[str, str]:
    return {"role": message.role, "content": message.content}
