"""The retention sweep at scale: one tenant's purge of --messages messages spread evenly over
--span-days days (with their delivery receipts), beside --other-tenants tenants of the same size
share that keep everything, through the product's own purge activity.

Two JSON lines:
{"bench":"retention","messages":..,"retention_days":..,"deleted":..,"redacted":..,"receipts_deleted":..,"seconds":..,"rows_per_s":..}
    the first purge of a tenant that just set its period (the biggest one it will ever do);
{"bench":"retention_idle","messages":..,"seconds":..,"seconds_before_vacuum":..}
    the hourly pass afterwards, when an hour's worth is due: what every sweep costs (and what
    it costs right after the big purge, before autovacuum has cleared the index).

  .venv/bin/python -m bench.retention --messages 1000000

Measured here (2 cores; 1M messages of the purged tenant over 60 days, 1M more of 3 tenants
without a period): retention 30 days: 500k messages and 250k receipts deleted in 6.8 s (111k
rows/s), the hourly pass after it 23 ms (55 ms before vacuum). Retention 3 days: 867k deleted,
83k blanked (inside the 8-day redelivery guard), 475k receipts, 36 s; the next pass 56 ms.
Without ORDER BY created_at in the purge statements, PostgreSQL scanned the whole table for
each: 34 s for the 30-day purge and 0.37 s for every hourly pass.

Starts its own PostgreSQL in --data-dir unless DATABASE_URL points at a server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy import text
from temporalio.testing import ActivityEnvironment

from activities.deps import ActivityDeps
from activities.retention import PurgeInput, RetentionActivities
from bench.retrieval import database_server, fresh_database
from models.db import one_off_sessions
from voice.media_store import MediaStore

_SEED = """
WITH t AS (INSERT INTO tenants (id, slug, name, status, settings) VALUES (:tenant, :slug, 'bench', 'active', '{}') RETURNING id),
a AS (INSERT INTO channel_accounts (id, tenant_id, channel, name, status, config)
      VALUES (:account, :tenant, 'whatsapp', 'wa', 'active', '{}') RETURNING id),
c AS (INSERT INTO customers (id, tenant_id) VALUES (:customer, :tenant) RETURNING id)
INSERT INTO conversations (id, tenant_id, channel_account_id, customer_id, workflow_id, status, needs_human)
SELECT md5(CAST(:slug AS text) || k)::uuid, :tenant, :account, :customer, CAST(:slug AS text) || ':' || k, 'open', false
FROM generate_series(0, CAST(:conversations AS int) - 1) k
"""

_MESSAGES = """
INSERT INTO messages (id, tenant_id, created_at, conversation_id, channel_account_id, direction, external_id, text, content, status)
SELECT gen_random_uuid(), :tenant, now() - make_interval(secs => CAST(:span_s AS float8) * g / CAST(:count AS int)),
       md5(CAST(:slug AS text) || (g % CAST(:conversations AS int)))::uuid,
       :account, CASE WHEN g % 2 = 0 THEN 'inbound' ELSE 'outbound' END, 'wamid.' || CAST(:slug AS text) || '.' || g,
       'Hi, my order #' || g || ' has not arrived yet, can you check where it is?', '{}', CASE WHEN g % 2 = 0 THEN 'received' ELSE 'read' END
FROM generate_series(CAST(:first AS int), CAST(:last AS int)) g
"""

_RECEIPTS = """
INSERT INTO message_status_events (id, tenant_id, created_at, channel_account_id, provider_message_id, status, detail)
SELECT gen_random_uuid(), tenant_id, created_at, channel_account_id, external_id, 'read', '{"recipient_id": "15550001111"}'
FROM messages WHERE tenant_id = :tenant AND direction = 'outbound'
"""


async def seed(url: str, tenant: uuid.UUID, messages: int, span_days: float, conversations: int = 2_000) -> None:
    async with one_off_sessions(url) as sessions:
        slug = f"bench-{tenant.hex[:8]}"
        ids = {"tenant": tenant, "slug": slug, "account": uuid.uuid4(), "customer": uuid.uuid4(), "conversations": conversations}
        async with sessions.begin() as session:
            await session.execute(text(_SEED), ids)
        for first in range(0, messages, 200_000):  # bounded transactions
            async with sessions.begin() as session:
                await session.execute(
                    text(_MESSAGES),
                    {**ids, "first": first, "last": min(first + 200_000, messages) - 1, "count": messages, "span_s": span_days * 86400},
                )
        async with sessions.begin() as session:
            await session.execute(text(_RECEIPTS), {"tenant": tenant})
            await session.execute(text("ANALYZE messages"))
            await session.execute(text("ANALYZE message_status_events"))


async def purge(url: str, tenant: uuid.UUID, days: int, media_dir: Path) -> tuple[dict, float]:
    async with one_off_sessions(url) as sessions:
        deps = ActivityDeps(sessions, sessions, None, None, None, None, None, None, None)  # the purge reads only the database
        activities = RetentionActivities(deps, MediaStore(media_dir))
        started = time.perf_counter()
        counts = await ActivityEnvironment().run(activities.purge_expired, PurgeInput(str(tenant), days))
        return vars(counts), time.perf_counter() - started


async def run(url: str, args: argparse.Namespace) -> list[dict]:
    purged_tenant = uuid.uuid4()
    await seed(url, purged_tenant, args.messages, args.span_days)
    for _ in range(args.other_tenants):
        await seed(url, uuid.uuid4(), args.messages // max(args.other_tenants, 1), args.span_days)
    media = args.data_dir / "media"
    counts, seconds = await purge(url, purged_tenant, args.retention_days, media)
    rows = counts["messages_deleted"] + counts["messages_redacted"] + counts["receipts_deleted"]
    first = {
        "bench": "retention", "messages": args.messages, "span_days": args.span_days, "retention_days": args.retention_days,
        "deleted": counts["messages_deleted"], "redacted": counts["messages_redacted"], "receipts_deleted": counts["receipts_deleted"],
        "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
    }  # fmt: skip
    _, before_vacuum = await purge(url, purged_tenant, args.retention_days, media)
    # As autovacuum would soon: until then the index still holds the purged rows' entries.
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await connection.execute("VACUUM (ANALYZE) messages, message_status_events")
    finally:
        await connection.close()
    _, idle = await purge(url, purged_tenant, args.retention_days, media)
    return [first, {"bench": "retention_idle", "messages": args.messages, "seconds": round(idle, 3), "seconds_before_vacuum": round(before_vacuum, 3)}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--span-days", type=float, default=60)
    parser.add_argument("--retention-days", type=int, default=30)
    parser.add_argument("--other-tenants", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/frontdesk-retention"))
    args = parser.parse_args()
    with database_server(args.data_dir) as url:
        db_url = asyncio.run(fresh_database(url, "retention_bench"))
        for line in asyncio.run(run(db_url, args)):
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
