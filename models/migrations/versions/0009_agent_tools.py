"""the agent's tools: call audit, tickets, order actions, payment intents, follow-ups

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TENANT_ROLE = "frontdesk_tenant"
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
TABLES = ("tool_calls", "tickets", "order_actions", "payment_intents", "followups")


def _tenant_columns() -> list[sa.Column]:
    return [
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _tenant_constraints(table: str) -> list[sa.Constraint]:
    return [
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete)


def _one_of(table: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=op.f(f"ck_{table}_{column}"))


def upgrade() -> None:
    op.create_table(
        "tool_calls",
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=400), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("arguments", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        *_tenant_columns(),
        _fk("tool_calls", "conversation_id", "conversations", "CASCADE"),
        _one_of("tool_calls", "status", ("running", "ok", "refused", "invalid", "error")),
        *_tenant_constraints("tool_calls"),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name=op.f("uq_tool_calls_tenant_id_idempotency_key")),
    )
    op.create_index("ix_tool_calls_conversation_created", "tool_calls", ["conversation_id", "created_at", "id"], unique=False)
    op.create_table(
        "tickets",
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        *_tenant_columns(),
        _fk("tickets", "customer_id", "customers", "CASCADE"),
        _fk("tickets", "conversation_id", "conversations", "SET NULL"),
        _one_of("tickets", "priority", ("low", "normal", "high", "urgent")),
        _one_of("tickets", "status", ("open", "pending", "solved")),
        *_tenant_constraints("tickets"),
    )
    op.create_index("ix_tickets_tenant_customer_status", "tickets", ["tenant_id", "customer_id", "status"], unique=False)
    op.create_table(
        "order_actions",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=400), nullable=False),
        *_tenant_columns(),
        _fk("order_actions", "order_id", "orders", "CASCADE"),
        _one_of("order_actions", "kind", ("cancel", "refund")),
        _one_of("order_actions", "status", ("requested", "done")),
        sa.CheckConstraint("amount IS NULL OR amount >= 0", name=op.f("ck_order_actions_amount_not_negative")),
        *_tenant_constraints("order_actions"),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name=op.f("uq_order_actions_tenant_id_idempotency_key")),
    )
    op.create_index(op.f("ix_order_actions_order_id"), "order_actions", ["order_id"], unique=False)
    op.create_table(
        "payment_intents",
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=True),
        sa.Column("order_id", sa.UUID(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        *_tenant_columns(),
        _fk("payment_intents", "customer_id", "customers", "CASCADE"),
        _fk("payment_intents", "conversation_id", "conversations", "SET NULL"),
        _fk("payment_intents", "order_id", "orders", "SET NULL"),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_intents_amount_positive")),
        *_tenant_constraints("payment_intents"),
    )
    op.create_index(op.f("ix_payment_intents_customer_id"), "payment_intents", ["customer_id"], unique=False)
    op.create_table(
        "followups",
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        *_tenant_columns(),
        _fk("followups", "conversation_id", "conversations", "CASCADE"),
        _one_of("followups", "status", ("scheduled", "sent", "cancelled")),
        *_tenant_constraints("followups"),
    )
    op.create_index("ix_followups_conversation_status", "followups", ["conversation_id", "status"], unique=False)
    for table in TABLES:
        op.create_index(op.f(f"ix_{table}_tenant_id"), table, ["tenant_id"], unique=False)
        # Tenant data like every other table: the same row-level policy as migration 0002's.
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} TO {TENANT_ROLE} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
