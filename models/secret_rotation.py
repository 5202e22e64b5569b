"""Re-wrapping every encrypted column under a new master key (`frontdesk rotate-master-key`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, column, select, table, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import SecretBox

# (table, column) of every value sealed with core.crypto, each bound to its row's `id` as
# context. A new encrypted column belongs here, or a rotation leaves it under the old key
# (tests/core/test_rotate_master_key.py checks every `*_encrypted` column is listed).
ENCRYPTED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("channel_accounts", "secrets_encrypted"),
    ("llm_providers", "api_key_encrypted"),
)


@dataclass
class RewrapCount:
    rewrapped: int = 0
    unchanged: int = 0  # already under the current key (a repeated rotation)


async def rewrap_all(session: AsyncSession, box: SecretBox) -> RewrapCount:
    """Re-wrap every encrypted value with `box`'s current key, inside the caller's transaction.

    Rows are locked FOR UPDATE, so a credential saved concurrently waits for the commit instead
    of being overwritten with its old value. A value no key in `box` opens raises, and the caller's
    rollback leaves everything as it was."""
    # Row-level security would silently hide other tenants' rows and leave them under the old
    # key; with it switched off, a role that is subject to RLS gets an error instead.
    await session.execute(text("SET LOCAL row_security = off"))
    count = RewrapCount()
    for table_name, column_name in ENCRYPTED_COLUMNS:
        t = table(table_name, column("id"), column(column_name))
        value = t.c[column_name]
        rows = (await session.execute(select(t.c.id, value).where(value.is_not(None)).with_for_update())).all()
        changed = []
        for row_id, token in rows:
            new_token = box.rewrap(token, context=str(row_id))
            if new_token == token:
                count.unchanged += 1
            else:
                changed.append({"row_id": row_id, "token": new_token})
        if changed:
            statement = update(t).where(t.c.id == bindparam("row_id")).values({column_name: bindparam("token")})
            await session.execute(statement, changed)
            count.rewrapped += len(changed)
    return count
