"""nlu: intents, training samples, intent model versions and live predictions

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TENANT_ROLE = "frontdesk_tenant"
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
TABLES = ("intent_predictions", "intent_model_versions", "training_samples", "intents")


def _common(table: str) -> list:
    return [
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _updated() -> sa.Column:
    return sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def _jsonb(name: str, default: str) -> sa.Column:
    return sa.Column(name, postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text(f"'{default}'::jsonb"), nullable=False)


def _conversation_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["conversation_id"], ["conversations.id"], name=op.f(f"fk_{table}_conversation_id_conversations"), ondelete="SET NULL"
    )


def upgrade() -> None:
    op.create_table(
        "intents",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        _jsonb("tool_hints", "[]"),
        sa.Column("handoff", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        _updated(),
        *_common("intents"),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_intents_tenant_id_name")),
        sa.CheckConstraint("name ~ '^[a-z0-9][a-z0-9_]{0,63}$'", name=op.f("ck_intents_name_slug")),
        sa.CheckConstraint("jsonb_typeof(tool_hints) = 'array'", name=op.f("ck_intents_tool_hints_array")),
    )
    op.create_table(
        "training_samples",
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_key", sa.Text(), nullable=False),
        sa.Column("intent_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("source", sa.String(16), server_default=sa.text("'manual'"), nullable=False),
        sa.Column("predicted_by", sa.String(16), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("conversation_id", sa.UUID(), nullable=True),
        sa.Column("reviewed_by", sa.String(200), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        _updated(),
        *_common("training_samples"),
        sa.ForeignKeyConstraint(["intent_id"], ["intents.id"], name=op.f("fk_training_samples_intent_id_intents"), ondelete="SET NULL"),
        _conversation_fk("training_samples"),
        sa.UniqueConstraint("tenant_id", "text_key", name=op.f("uq_training_samples_tenant_id_text_key")),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f("ck_training_samples_status_known")),
        sa.CheckConstraint("source IN ('manual', 'import', 'conversation')", name=op.f("ck_training_samples_source_known")),
        sa.CheckConstraint("status <> 'approved' OR intent_id IS NOT NULL", name=op.f("ck_training_samples_approved_has_intent")),
    )
    op.create_index("ix_training_samples_tenant_status", "training_samples", ["tenant_id", "status", "created_at"])
    op.create_table(
        "intent_model_versions",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'training'"), nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=True),
        sa.Column("forced", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("snapshot", sa.LargeBinary(), nullable=True),
        sa.Column("artifact", sa.LargeBinary(), nullable=True),
        _jsonb("intents", "[]"),
        sa.Column("train_samples", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("test_samples", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _jsonb("metrics", "{}"),
        _jsonb("baseline", "{}"),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        _updated(),
        *_common("intent_model_versions"),
        sa.UniqueConstraint("tenant_id", "version", name=op.f("uq_intent_model_versions_tenant_id_version")),
        sa.CheckConstraint(
            "status IN ('training', 'active', 'inactive', 'rejected', 'failed')", name=op.f("ck_intent_model_versions_status_known")
        ),
    )
    op.create_index(
        "uq_intent_model_versions_one_active", "intent_model_versions", ["tenant_id"], unique=True, postgresql_where=sa.text("status = 'active'")
    )
    op.create_table(
        "intent_predictions",
        sa.Column("turn_id", sa.String(200), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("intent", sa.String(64), nullable=True),
        sa.Column("model_intent", sa.String(64), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("low_confidence", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        *_common("intent_predictions"),
        _conversation_fk("intent_predictions"),
        sa.UniqueConstraint("tenant_id", "turn_id", name=op.f("uq_intent_predictions_tenant_id_turn_id")),
    )
    op.create_index("ix_intent_predictions_tenant_version", "intent_predictions", ["tenant_id", "model_version", "created_at"])
    for table in TABLES:
        op.create_index(op.f(f"ix_{table}_tenant_id"), table, ["tenant_id"], unique=False)
        # Tenant data like every other table: the same row-level policy as migration 0002's.
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} TO {TENANT_ROLE} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
