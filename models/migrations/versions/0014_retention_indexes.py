"""retention: (tenant_id, created_at) indexes on the busiest tables the retention sweep reads

The sweep deletes a tenant's rows older than its period. With an index on tenant_id alone,
every hourly pass read all of a big tenant's messages to find the old ones; the composite index
finds them directly and serves every tenant_id-only lookup the old index served, so it replaces
it (one index per table to maintain on insert, as before). Built CONCURRENTLY: a deployment
keeps taking messages while it upgrades.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = ("messages", "message_status_events", "tool_calls")


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for table in TABLES:
            op.create_index(f"ix_{table}_tenant_created", table, ["tenant_id", "created_at"], postgresql_concurrently=True, if_not_exists=True)
            op.drop_index(f"ix_{table}_tenant_id", table_name=table, postgresql_concurrently=True, if_exists=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for table in TABLES:
            op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"], postgresql_concurrently=True, if_not_exists=True)
            op.drop_index(f"ix_{table}_tenant_created", table_name=table, postgresql_concurrently=True, if_exists=True)
