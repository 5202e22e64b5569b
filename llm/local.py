"""The offline LLM (provider kind `local`): Qwen2.5-Coder-1.5B-Instruct run in-process by llama.cpp.

One model per process, loaded on first use. llama.cpp is blocking and a context is not
thread-safe, so every call into it (load included) runs on one dedicated thread, one generation
at a time; the event loop only waits on that thread and relays streamed text.

Tool calls use constrained decoding instead of the model's own tool-call syntax: the output must
match a JSON schema that is one of `{"tool": <name>, "arguments": <its parameters>}` per tool, or
`{"reply": <text>}` (left out when tool_choice is "required"), so a 1.5B model cannot produce an
unknown tool or malformed arguments.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx

from llm.base import (
    Completion,
    CompletionRequest,
    FinishReason,
    ProviderConfig,
    ProviderHTTPError,
    TextSink,
    ToolCall,
    Usage,
)
from llm.local_model import MODEL_FILENAME, LocalModelUnavailable, ensure_local_model
from llm.local_prompt import chat_messages, output_schema

CONTEXT_TOKENS = 4096
_INSTALL_RUNTIME = "llama-cpp-python is not installed; run: pip install -e '.[local]' in the frontdesk checkout"

# The one thread that touches llama.cpp: generations queue here instead of competing for 2 cores.
_LLAMA_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
_LOAD_LOCK = threading.Lock()


@dataclass
class LoadedModel:
    path: Path
    llama: Any  # llama_cpp.Llama (imported lazily: images without the `local` extra still import this module)
    formatter: Any  # llama_cpp.llama_chat_format.Jinja2ChatFormatter built from the GGUF's own template
    stop: str


_loaded: LoadedModel | None = None


def load_local_model(path: Path) -> LoadedModel:
    """Load the GGUF at `path` once per process (blocking). Raises LocalModelUnavailable."""
    global _loaded
    path = Path(path).resolve()
    with _LOAD_LOCK:
        if not path.is_file():
            raise LocalModelUnavailable(f"no model file at {path}; leave the provider's model empty to use the bundled one")
        if _loaded is not None:
            if _loaded.path != path:
                raise LocalModelUnavailable(f"this process already serves {_loaded.path}; run another worker for {path}")
            return _loaded
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise LocalModelUnavailable(_INSTALL_RUNTIME) from exc
        threads = len(os.sched_getaffinity(0))
        try:
            # No mmap: llama.cpp repacks most weights for AVX2 into its own memory, and with mmap the
            # file's pages it read stayed resident too (1.86 GB RSS instead of 1.27 GB, measured).
            llama = Llama(
                model_path=str(path),
                n_ctx=CONTEXT_TOKENS,
                n_threads=threads,
                n_threads_batch=threads,
                use_mmap=False,
                verbose=False,
            )
        except ValueError as exc:  # llama-cpp-python's "Failed to load model from file"
            raise LocalModelUnavailable(f"llama.cpp could not load {path}: {exc}") from exc
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise LocalModelUnavailable(f"{path} has no chat template in its metadata")
        eos = llama.detokenize([llama.token_eos()], special=True).decode()
        bos = llama.detokenize([llama.token_bos()], special=True).decode() if llama.token_bos() >= 0 else ""
        _loaded = LoadedModel(path, llama, Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos), eos)
        return _loaded


@dataclass
class _Generated:
    raw: str  # what the model wrote (JSON in tool mode)
    llama_finish: str
    prompt_tokens: int
    cached_tokens: int
    output_tokens: int


class LocalProvider:
    def __init__(self, config: ProviderConfig, http: httpx.AsyncClient | None = None, models_dir: Path | None = None) -> None:
        # `http` is unused (nothing leaves the process); the registry passes one to every factory.
        self._config = config
        self._models_dir = models_dir
        self._path: Path | None = None  # resolved on the llama thread at the first request

    def model_path(self, progress: Callable[[str], None] | None = None) -> Path:
        """The GGUF to serve (blocking: may assemble it from the part packages on first use)."""
        if self._config.model.endswith(".gguf"):
            return Path(self._config.model).expanduser()
        models_dir = self._models_dir
        if models_dir is None:
            from core.settings import get_settings

            models_dir = get_settings().local_models_dir()
        return ensure_local_model(models_dir, progress)

    async def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        tools = request.tools if request.tool_choice != "none" else []
        schema_json = json.dumps(output_schema(tools, request.tool_choice)) if tools else None
        messages = chat_messages(request.messages, tools, request.tool_choice)
        cancelled = threading.Event()
        extractor = _ReplyExtractor() if tools else None
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def emit(raw_delta: str) -> None:
            delta = extractor.feed(raw_delta) if extractor else raw_delta
            if delta and on_text is not None:
                loop.call_soon_threadsafe(queue.put_nowait, delta)

        def job() -> _Generated:
            if self._path is None:
                self._path = self.model_path()
            model = load_local_model(self._path)
            grammar = _grammar(self._config.name, schema_json) if schema_json else None
            return _generate(model, messages, grammar, request, self._config.name, emit, cancelled)

        future = loop.run_in_executor(_LLAMA_THREAD, job)
        # Runs on the loop after every delta the job queued (both go through call_soon): the end marker.
        future.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            if on_text is not None:
                await _relay(queue, on_text)
            try:
                generated = await future
            except ProviderHTTPError:
                raise
            except LocalModelUnavailable as exc:
                raise ProviderHTTPError(self._config.name, 503, str(exc)[:600]) from exc
            except Exception as exc:  # whatever the native library raised mid-generation: worth a retry
                raise ProviderHTTPError(self._config.name, 500, repr(exc)[:300]) from exc
        finally:
            cancelled.set()  # a cancelled or failed caller stops the generation instead of holding the thread
        return self._completion(generated, extractor)

    def _completion(self, generated: _Generated, extractor: _ReplyExtractor | None) -> Completion:
        usage = Usage(generated.prompt_tokens, generated.output_tokens, generated.cached_tokens)
        model = Path(self._config.model or MODEL_FILENAME).name.removesuffix(".gguf")
        finish: FinishReason = "length" if generated.llama_finish == "length" else "stop"
        if extractor is None:
            return Completion(text=generated.raw, model=model, finish_reason=finish, usage=usage)
        try:
            answer = json.loads(generated.raw, strict=False)  # the grammar lets raw newlines into strings
        except ValueError:
            # Cut off by max_tokens: keep the part of a reply written so far, like a vendor would.
            return Completion(text=extractor.text, model=model, finish_reason="length", usage=usage)
        if "tool" in answer:
            call = ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=answer["tool"], arguments=answer.get("arguments") or {})
            return Completion(text="", model=model, finish_reason="tool_calls", usage=usage, tool_calls=[call])
        return Completion(text=answer["reply"], model=model, finish_reason=finish, usage=usage)


async def _relay(queue: asyncio.Queue[str | None], on_text: TextSink) -> None:
    finished = False
    while not finished and (delta := await queue.get()) is not None:
        # Deltas that arrived while on_text was busy go out together: fewer, larger publishes.
        while not queue.empty():
            more = queue.get_nowait()
            if more is None:
                finished = True
                break
            delta += more
        await on_text(delta)


def _generate(
    model: LoadedModel,
    messages: list[dict[str, str]],
    grammar: Any,
    request: CompletionRequest,
    provider: str,
    emit: Callable[[str], None],
    cancelled: threading.Event,
) -> _Generated:
    llama = model.llama
    prompt = model.formatter(messages=messages).prompt
    # We render and tokenize the prompt ourselves (the GGUF's template, as create_chat_completion
    # would) to know its exact token count while streaming and to refuse an over-long one up front.
    prompt_tokens = llama.tokenize(prompt.encode(), add_bos=False, special=True)
    if len(prompt_tokens) >= CONTEXT_TOKENS - 16:
        raise ProviderHTTPError(
            provider, 400, f"prompt is {len(prompt_tokens)} tokens; the local model's context is {CONTEXT_TOKENS}"
        )
    cached = min(llama.longest_token_prefix(llama.eval_tokens, prompt_tokens), len(prompt_tokens) - 1)
    stream = llama.create_completion(
        prompt=prompt_tokens,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        stop=[model.stop],
        grammar=grammar,
        stream=True,
    )
    pieces: list[str] = []
    finish = "stop"
    try:
        for chunk in stream:
            choice = chunk["choices"][0]
            if choice["text"]:
                pieces.append(choice["text"])
                emit(choice["text"])
            finish = choice["finish_reason"] or finish
            if cancelled.is_set():
                break
    finally:
        stream.close()
    raw = "".join(pieces)
    # The stream does not report usage; re-tokenizing the output gives the generated count
    # (identical for the text this model writes, which it tokenized the same way).
    output_tokens = len(llama.tokenize(raw.encode(), add_bos=False, special=True)) if raw else 0
    return _Generated(raw, finish, len(prompt_tokens), max(cached, 0), output_tokens)


@lru_cache(maxsize=64)
def _grammar(provider: str, schema_json: str) -> Any:
    from llama_cpp import LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(schema_json, verbose=False)
    except (AssertionError, ValueError, KeyError, TypeError, NotImplementedError) as exc:  # a schema llama.cpp can't express
        raise ProviderHTTPError(provider, 400, f"a tool's parameters schema is not supported: {exc!r}"[:300]) from exc


_REPLY_OPENING = re.compile(r'\s*\{\s*"reply"\s*:\s*"')


class _ReplyExtractor:
    """Decodes the `reply` string out of the constrained JSON while it is being written, so a
    plain answer streams in tool mode too (a tool call streams nothing)."""

    def __init__(self) -> None:
        self._raw = ""
        self._start: int | None = None  # where the reply string's characters begin in _raw
        self._decoded_to = 0  # _raw index up to which the string is decoded
        self._closed = False
        self.text = ""

    def feed(self, raw_delta: str) -> str:
        self._raw += raw_delta
        if self._closed:
            return ""
        if self._start is None:
            opening = _REPLY_OPENING.match(self._raw)
            if opening is None:
                return ""
            self._start = self._decoded_to = opening.end()
        end = self._decodable_end()
        if end == self._decoded_to:
            return ""
        delta = json.loads('"' + self._raw[self._decoded_to : end] + '"', strict=False)
        self._decoded_to = end
        self.text += delta
        return delta

    def _decodable_end(self) -> int:
        """Index just past the last complete character or escape before the closing quote."""
        raw, i = self._raw, self._decoded_to
        while i < len(raw):
            char = raw[i]
            if char == '"':
                self._closed = True
                return i
            if char != "\\":
                i += 1
                continue
            if i + 1 >= len(raw):
                break
            if raw[i + 1] != "u":
                i += 2
                continue
            if i + 6 > len(raw):
                break
            high_surrogate = 0xD800 <= int(raw[i + 2 : i + 6], 16) < 0xDC00
            step = 12 if high_surrogate else 6  # a surrogate pair decodes as one character
            if i + step > len(raw):
                break
            i += step
        return i
