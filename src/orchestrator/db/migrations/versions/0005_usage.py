"""usage accounting (one row per model call) and per-user quotas

Revision ID: 0005_usage
Revises: 0005_connections
Create Date: 2026-11-29 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_usage"
down_revision: str | None = "0005_connections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_model_usage_run_id_runs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_model_usage_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_model_usage"),
    )
    op.create_index("ix_model_usage_run_id", "model_usage", ["run_id"])
    op.create_index("ix_model_usage_user_created", "model_usage", ["user_id", "created_at"])
    op.create_index("ix_model_usage_created", "model_usage", ["created_at"])
    op.create_table(
        "user_quotas",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("tokens_per_day", sa.Integer(), nullable=True),
        sa.Column("runs_per_day", sa.Integer(), nullable=True),
        sa.Column("concurrent_runs", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_quotas_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_quotas"),
    )


def downgrade() -> None:
    op.drop_table("user_quotas")
    op.drop_index("ix_model_usage_created", table_name="model_usage")
    op.drop_index("ix_model_usage_user_created", table_name="model_usage")
    op.drop_index("ix_model_usage_run_id", table_name="model_usage")
    op.drop_table("model_usage")
