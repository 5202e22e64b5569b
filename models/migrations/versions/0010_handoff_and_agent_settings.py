"""hand-over to people: conversation assignment, and the agent profile's hand-over and tool settings

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# open: the AI answers; handoff: waiting for a person; assigned: a person took it; closed: resolved.
CONVERSATION_STATUSES = ("open", "handoff", "assigned", "closed")


def upgrade() -> None:
    op.add_column("conversations", sa.Column("assigned_agent_id", sa.String(length=200), nullable=True))
    op.add_column("conversations", sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True))
    # Rows from before this revision hold only "open" or "handoff"; anything else is a bug to surface.
    op.create_check_constraint(
        op.f("ck_conversations_status"), "conversations", f"status IN ({', '.join(repr(s) for s in CONVERSATION_STATUSES)})"
    )
    # The dashboard's queue: a tenant's conversations waiting for (or with) people, oldest first.
    op.create_index(
        "ix_conversations_tenant_waiting", "conversations", ["tenant_id", "handed_over_at"],
        postgresql_where=sa.text("status IN ('handoff', 'assigned')"),
    )  # fmt: skip

    op.add_column("agent_profiles", sa.Column("handoff_keywords", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False))
    op.add_column(
        "agent_profiles",
        sa.Column("human_only_topics", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    )
    op.add_column("agent_profiles", sa.Column("low_confidence_turns", sa.Integer(), server_default=sa.text("3"), nullable=False))
    op.add_column("agent_profiles", sa.Column("tool_failure_streak", sa.Integer(), server_default=sa.text("3"), nullable=False))
    # NULL: every tool the registry has; an empty array: none.
    op.add_column("agent_profiles", sa.Column("allowed_tools", postgresql.ARRAY(sa.Text()), nullable=True))
    op.add_column("agent_profiles", sa.Column("max_tool_rounds", sa.Integer(), server_default=sa.text("5"), nullable=False))
    op.create_check_constraint(
        op.f("ck_agent_profiles_low_confidence_turns_range"), "agent_profiles", "low_confidence_turns BETWEEN 1 AND 20"
    )
    op.create_check_constraint(op.f("ck_agent_profiles_tool_failure_streak_range"), "agent_profiles", "tool_failure_streak BETWEEN 1 AND 20")
    op.create_check_constraint(op.f("ck_agent_profiles_max_tool_rounds_range"), "agent_profiles", "max_tool_rounds BETWEEN 1 AND 10")
    op.create_check_constraint(
        op.f("ck_agent_profiles_human_only_topics_array"), "agent_profiles", "jsonb_typeof(human_only_topics) = 'array'"
    )


def downgrade() -> None:
    for name in ("human_only_topics_array", "max_tool_rounds_range", "tool_failure_streak_range", "low_confidence_turns_range"):
        op.drop_constraint(op.f(f"ck_agent_profiles_{name}"), "agent_profiles", type_="check")
    for column in ("max_tool_rounds", "allowed_tools", "tool_failure_streak", "low_confidence_turns", "human_only_topics", "handoff_keywords"):
        op.drop_column("agent_profiles", column)
    op.drop_index("ix_conversations_tenant_waiting", table_name="conversations")
    op.drop_constraint(op.f("ck_conversations_status"), "conversations", type_="check")
    op.drop_column("conversations", "handed_over_at")
    op.drop_column("conversations", "assigned_agent_id")
