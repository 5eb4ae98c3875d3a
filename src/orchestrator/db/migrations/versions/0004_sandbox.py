"""taint: runs and approvals name the untrusted content a run has read

Revision ID: 0004_sandbox
Revises: 0004_tools
Create Date: 2026-11-28 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_sandbox"
down_revision: str | None = "0004_tools"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("tainted_by", sa.JSON(), nullable=True))
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("tainted_by", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("tainted_by")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("tainted_by")
