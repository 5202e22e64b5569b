"""The knowledge-base tool: passages from the tenant's own documents and entries, with citations.

The search itself is the turn's knowledge search (activities/knowledge.py over rag/search.py),
reached through `ctx.services["knowledge"]`: the tool activity binds it to the conversation's
tenant, so this tool never names a tenant, and a model cannot ask for another's knowledge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from agent.tools.registry import Tool, ToolContext, ToolRefused

KNOWLEDGE_SERVICE = "knowledge"
MAX_TOP_K = 10


class FoundPassage(Protocol):
    text: str
    score: float
    title: str
    section_title: str | None
    page: int | None
    document_id: str | None
    entry_id: str | None


class KnowledgeSearcher(Protocol):
    """Searches one tenant's knowledge base (bound by whoever builds the ToolContext)."""

    async def search(self, query: str, top_k: int | None) -> Sequence[FoundPassage]: ...


def citation(n: int, p: FoundPassage) -> str:
    where = [p.title]
    if p.section_title and p.section_title != p.title:  # an entry's one section carries its title again
        where.append(p.section_title)
    if p.page is not None:
        where.append(f"page {p.page}")
    return f"[{n}] " + ", ".join(where)


async def search_knowledge(session: AsyncSession, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    searcher: KnowledgeSearcher | None = ctx.services.get(KNOWLEDGE_SERVICE)
    if searcher is None:
        raise ToolRefused("the knowledge base cannot be searched from here; answer without it or hand off to a person")
    query = " ".join(args["query"].split())
    if not query:
        raise ToolRefused("the search query is blank")
    found = await searcher.search(query, args.get("top_k"))
    passages = [
        {
            "citation": citation(n, p),
            "title": p.title,
            "section": p.section_title,
            "page": p.page,
            "text": p.text,
            "score": round(p.score, 4),
            "document_id": p.document_id,
            "entry_id": p.entry_id,
        }  # fmt: skip
        for n, p in enumerate(found, start=1)
    ]
    result: dict[str, Any] = {"passages": passages, "answered": bool(passages)}
    if not passages:
        result["note"] = "Nothing in the knowledge base answers this: do not guess; say so or hand off to a person."
    return result


SEARCH_KNOWLEDGE = Tool(
    name="search_knowledge",
    description=(
        "Search the shop's own knowledge base (policies, FAQs, product documents) and get passages with "
        "citations. Use it before answering questions about policies, shipping, returns or products; answer "
        "only from the passages and cite them like [1]."
    ),
    parameters={
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 500, "description": "What to look up, in a few words."},
            "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "description": "How many passages (optional)."},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    handler=search_knowledge,
)
