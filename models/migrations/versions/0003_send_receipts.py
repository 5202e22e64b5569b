"""send attempts and receipts that echo our idempotency key

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("send_attempted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("message_status_events", sa.Column("client_reference", sa.String(512), nullable=True))
    op.create_index(
        "ix_message_status_events_client_reference",
        "message_status_events",
        ["channel_account_id", "client_reference"],
        postgresql_where=sa.text("client_reference IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_message_status_events_client_reference", table_name="message_status_events")
    op.drop_column("message_status_events", "client_reference")
    op.drop_column("messages", "send_attempted_at")
