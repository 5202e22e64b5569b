"""identities, audit log, customer contact fields, row-level security

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The role tenant-credentialed requests run as (SET LOCAL ROLE inside their transaction). It has
# no login and no BYPASSRLS, so the policies below decide what it sees.
TENANT_ROLE = "frontdesk_tenant"

# Every table holding one tenant's data, and the column naming the tenant.
TENANT_TABLES = {
    "tenants": "id",
    "llm_providers": "tenant_id",
    "channel_accounts": "tenant_id",
    "customers": "tenant_id",
    "customer_identities": "tenant_id",
    "conversations": "tenant_id",
    "messages": "tenant_id",
    "message_status_events": "tenant_id",
    "api_keys": "tenant_id",
    "users": "tenant_id",
    "user_sessions": "tenant_id",
    "audit_log": "tenant_id",
}
# Unset or empty means "no tenant": the comparison is NULL and no row qualifies.
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _tenant_fk(table: str) -> sa.Column:
    return sa.Column(
        "tenant_id",
        sa.UUID(),
        sa.ForeignKey("tenants.id", ondelete="CASCADE", name=f"fk_{table}_tenant_id_tenants"),
        nullable=False,
    )


def upgrade() -> None:
    op.add_column("tenants", sa.Column("settings", postgresql.JSONB(), server_default="{}", nullable=False))
    op.add_column("customers", sa.Column("email", sa.String(320), nullable=True))
    op.add_column("customers", sa.Column("phone", sa.String(32), nullable=True))
    op.create_index("ix_customers_tenant_email", "customers", ["tenant_id", "email"])
    op.create_index("ix_customers_tenant_phone", "customers", ["tenant_id", "phone"])
    op.create_index("ix_conversations_tenant_created", "conversations", ["tenant_id", "created_at", "id"])

    op.create_table(
        "api_keys",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("replaced_by_id", sa.UUID()),
        _tenant_fk("api_keys"),
        *_timestamps(),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "users",
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
        _tenant_fk("users"),
        *_timestamps(),
        sa.UniqueConstraint("tenant_id", "email", name="uq_users_tenant_id_email"),
    )
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])
    op.create_table(
        "user_sessions",
        sa.Column("user_id", sa.UUID(), sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_user_sessions_user_id_users"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        _tenant_fk("user_sessions"),
        *_timestamps(),
    )
    op.create_index("ix_user_sessions_tenant_id", "user_sessions", ["tenant_id"])
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column("actor_type", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(200)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("ip", sa.String(64)),
        sa.Column("changes", postgresql.JSONB(), nullable=False),
        _tenant_fk("audit_log"),
        *_timestamps(),
    )
    op.create_index("ix_audit_log_tenant_created", "audit_log", ["tenant_id", "created_at", "id"])

    # Roles are cluster-wide: another database on the same server may have created it already.
    op.execute(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{TENANT_ROLE}') "
        f"THEN CREATE ROLE {TENANT_ROLE} NOLOGIN; END IF; END $$"
    )
    # The application's own login role must be allowed to SET ROLE to it.
    op.execute(f"GRANT {TENANT_ROLE} TO CURRENT_USER")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {TENANT_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {TENANT_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {TENANT_ROLE}")
    # Tables added by later migrations get the same grants (their RLS policy is still theirs to add).
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {TENANT_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {TENANT_ROLE}")
    # The audit log is append-only for tenants, and tenants cannot create or delete tenants.
    op.execute(f"REVOKE UPDATE, DELETE ON audit_log FROM {TENANT_ROLE}")
    op.execute(f"REVOKE INSERT, DELETE ON tenants FROM {TENANT_ROLE}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {TENANT_ROLE}")

    for table, column in TENANT_TABLES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} TO {TENANT_ROLE} "
            f"USING ({column} = {CURRENT_TENANT}) WITH CHECK ({column} = {CURRENT_TENANT})"
        )


def downgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {TENANT_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {TENANT_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {TENANT_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {TENANT_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {TENANT_ROLE}")
    for table in ("audit_log", "user_sessions", "users", "api_keys"):
        op.drop_table(table)
    op.drop_index("ix_conversations_tenant_created", table_name="conversations")
    op.drop_index("ix_customers_tenant_phone", table_name="customers")
    op.drop_index("ix_customers_tenant_email", table_name="customers")
    op.drop_column("customers", "phone")
    op.drop_column("customers", "email")
    op.drop_column("tenants", "settings")
