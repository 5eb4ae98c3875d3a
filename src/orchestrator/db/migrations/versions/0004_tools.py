"""workspace changes recorded per run

Revision ID: 0004_tools
Revises: 0004_mcp
Create Date: 2026-11-28 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_tools"
down_revision: str | None = "0004_mcp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workspace_changes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("before_kind", sa.String(length=8), nullable=True),
        sa.Column("before_size", sa.Integer(), nullable=True),
        sa.Column("before_sha", sa.String(length=64), nullable=True),
        sa.Column("after_kind", sa.String(length=8), nullable=True),
        sa.Column("after_size", sa.Integer(), nullable=True),
        sa.Column("after_sha", sa.String(length=64), nullable=True),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_workspace_changes_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_workspace_changes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace_changes")),
    )
    with op.batch_alter_table("workspace_changes", schema=None) as batch_op:
        batch_op.create_index("ix_workspace_changes_run_path", ["run_id", "path"], unique=True)
        batch_op.create_index("ix_workspace_changes_user_path", ["user_id", "path"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workspace_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_workspace_changes_user_path")
        batch_op.drop_index("ix_workspace_changes_run_path")
    op.drop_table("workspace_changes")
