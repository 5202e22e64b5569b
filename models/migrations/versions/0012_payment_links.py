"""payment links: the provider's reference and the link sent for a payment intent

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payment_intents", sa.Column("provider", sa.String(16), nullable=True))
    op.add_column("payment_intents", sa.Column("provider_ref", sa.String(255), nullable=True))
    op.add_column("payment_intents", sa.Column("payment_url", sa.Text(), nullable=True))
    op.add_column("payment_intents", sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for column in ("paid_at", "payment_url", "provider_ref", "provider"):
        op.drop_column("payment_intents", column)
