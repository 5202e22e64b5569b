"""An OpenAI chat-completions endpoint that fails a share of calls the ways real ones do.

Raw HTTP/1.1 over asyncio instead of an ASGI app, because one of the failures is a dropped
connection (no response at all), which an ASGI server would turn into a tidy 500. Successful
calls answer `"[<model>] <last user message>"`, like tests/standins/openai_server.py.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter

# How the failing share splits: overload and rate limits are common, stalls rarer.
FAILURES = (("500", 0.35), ("429", 0.35), ("drop", 0.2), ("timeout", 0.1))


class ChaosLLM:
    def __init__(self, failure_rate: float, stall_seconds: float = 35.0, seed: int | None = None) -> None:
        self.failure_rate = failure_rate
        self.stall_seconds = stall_seconds  # longer than the provider client's 30 s timeout
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._server:
            self._server.close()

    def _outcome(self) -> str:
        if self._rng.random() >= self.failure_rate:
            return "ok"
        kinds, weights = zip(*FAILURES, strict=True)
        return self._rng.choices(kinds, weights)[0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                body = await _read_request(reader)
                if body is None:
                    return
                outcome = self._outcome()
                self.counts[outcome] += 1
                if outcome == "drop":
                    writer.transport.abort()  # the connection dies mid-request
                    return
                if outcome == "timeout":
                    await asyncio.sleep(self.stall_seconds)
                    writer.close()
                    return
                if outcome == "500":
                    _respond(writer, 500, {"error": {"message": "The server had an error", "type": "server_error", "code": None}})
                elif outcome == "429":
                    error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
                    _respond(writer, 429, error, extra_headers={"retry-after": "1"})
                else:
                    _respond(writer, 200, _completion(body))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        except asyncio.CancelledError:
            return  # the run is over and the server is shutting down
        finally:
            if not writer.is_closing():
                writer.close()


async def _read_request(reader: asyncio.StreamReader) -> dict | None:
    head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
    if not head:
        return None
    length = 0
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return json.loads(await reader.readexactly(length)) if length else {}


def _respond(writer: asyncio.StreamWriter, status: int, payload: dict, extra_headers: dict[str, str] | None = None) -> None:
    data = json.dumps(payload).encode()
    reason = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error"}[status]
    headers = {"content-type": "application/json", "content-length": str(len(data)), **(extra_headers or {})}
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode() + data)


def _completion(body: dict) -> dict:
    last_user = next((m.get("content", "") for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": f"[{body.get('model')}] {last_user}"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }
