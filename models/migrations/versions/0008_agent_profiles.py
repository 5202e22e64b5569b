"""agent profiles and their prompt template versions

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TENANT_ROLE = "frontdesk_tenant"
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
TABLES = ("agent_profiles", "agent_prompt_versions")


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


def _text_list(name: str) -> sa.Column:
    return sa.Column(name, postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "agent_profiles",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("persona_name", sa.String(length=100), nullable=False),
        sa.Column("tone", sa.String(length=100), nullable=False),
        _text_list("traits"),
        sa.Column("prompt_template", sa.Text(), nullable=False),
        sa.Column("prompt_version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        _text_list("restrictions"),
        _text_list("disclaimers"),
        sa.Column("default_tier", sa.String(length=16), nullable=False),
        sa.Column("fallback_tier", sa.String(length=16), nullable=True),
        sa.Column("confidence_threshold", sa.Float(), nullable=False),
        sa.Column("proactive_suggestions", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("spelling_correction", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("rich_messages", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("voice_replies", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        *_tenant_columns(),
        sa.CheckConstraint(
            "confidence_threshold >= 0 AND confidence_threshold <= 1", name=op.f("ck_agent_profiles_confidence_threshold_range")
        ),
        *_tenant_constraints("agent_profiles"),
    )
    # At most one live default per tenant (the API moves the flag in one transaction), and
    # names unique among a tenant's live profiles.
    op.create_index(
        "uq_agent_profiles_tenant_default", "agent_profiles", ["tenant_id"], unique=True,
        postgresql_where=sa.text("is_default AND deleted_at IS NULL"),
    )  # fmt: skip
    op.create_index(
        "uq_agent_profiles_tenant_name", "agent_profiles", ["tenant_id", sa.text("lower(name)")], unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )  # fmt: skip
    op.create_table(
        "agent_prompt_versions",
        sa.Column("profile_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        *_tenant_columns(),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["agent_profiles.id"], name=op.f("fk_agent_prompt_versions_profile_id_agent_profiles"), ondelete="CASCADE"
        ),
        *_tenant_constraints("agent_prompt_versions"),
    )
    op.create_index("uq_agent_prompt_versions_profile_version", "agent_prompt_versions", ["profile_id", "version"], unique=True)
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
