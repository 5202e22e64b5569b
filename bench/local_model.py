"""The offline LLM in this process: load time, time to first token, decode speed and memory.

Loads Qwen2.5-Coder-1.5B Q4_K_M through the `local` provider (assembling the GGUF from its part
packages first if needed; that time is not counted in load_s), then answers a fixed customer
question --runs times, each from a cold prompt (no prefix reuse). One JSON line per run:
{"bench":"local_model","run":..,"decode_tokens_per_s":..,"ttft_ms":..,"prompt_tokens":..,"output_tokens":..,"load_s":..,"rss_mb":..}
rss_mb is this process holding the model. Targets: decode >= 15 tokens/s, rss <= 2.5 GB.

  .venv/bin/python -m bench.local_model --runs 3 --max-tokens 128
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import psutil

from llm.base import ChatMessage, CompletionRequest, ProviderConfig
from llm.local import LocalProvider, load_local_model
from llm.local_model import print_progress

SYSTEM = (
    "You are the customer-service assistant of Acme Home, an online shop for kitchenware. "
    "Orders ship within 2 working days; returns are free within 30 days of delivery; "
    "refunds reach the original payment method 5 to 7 working days after the return arrives. "
    "Answer politely and concretely."
)
QUESTION = "I bought a kettle two weeks ago and it leaks. Can I send it back, and when do I get my money?"


async def _answer(provider: LocalProvider, max_tokens: int) -> dict:
    request = CompletionRequest(
        messages=[ChatMessage("system", SYSTEM), ChatMessage("user", QUESTION)], max_tokens=max_tokens, temperature=0
    )
    first: list[float] = []

    async def on_text(delta: str) -> None:
        if not first:
            first.append(time.perf_counter())

    started = time.perf_counter()
    completion = await provider.complete(request, on_text)
    ended = time.perf_counter()
    decoded = completion.usage.output_tokens - 1  # the first token's time is ttft, not decode
    return {
        "decode_tokens_per_s": round(decoded / (ended - first[0]), 1),
        "ttft_ms": round((first[0] - started) * 1000),
        "prompt_tokens": completion.usage.input_tokens,
        "output_tokens": completion.usage.output_tokens,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    provider = LocalProvider(ProviderConfig(name="local", kind="local", base_url="", model=""))
    path = provider.model_path(print_progress)
    started = time.perf_counter()
    model = load_local_model(path)
    load_s = round(time.perf_counter() - started, 2)
    process = psutil.Process()
    for run in range(1, args.runs + 1):
        model.llama.reset()  # forget the previous run's prompt: every run pays full prompt processing
        result = asyncio.run(_answer(provider, args.max_tokens))
        rss_mb = round(process.memory_info().rss / 2**20)
        print(json.dumps({"bench": "local_model", "run": run, **result, "load_s": load_s, "rss_mb": rss_mb}), flush=True)


if __name__ == "__main__":
    main()
