"""model_evals: a model's latest scores per evaluation suite version

Revision ID: 0005_evals
Revises: 0005_schedules
Create Date: 2026-11-29 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_evals"
down_revision: str | None = "0005_schedules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_evals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("suite_version", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("retrieval", sa.Boolean(), nullable=False),
        sa.Column("repair", sa.Boolean(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("valid_calls", sa.Float(), nullable=True),
        sa.Column("right_tool", sa.Float(), nullable=True),
        sa.Column("right_args", sa.Float(), nullable=True),
        sa.Column("task_success", sa.Float(), nullable=True),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_model_evals_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_evals")),
        sa.UniqueConstraint("model", "suite_version", name="uq_model_evals_model_suite"),
    )


def downgrade() -> None:
    op.drop_table("model_evals")
