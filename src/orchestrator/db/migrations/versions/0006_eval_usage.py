"""model calls outside runs (evaluations) are accounted too: model_usage.run_id and seq
may be null, and eval_id names the evaluation that made the call

Revision ID: 0006_eval_usage
Revises: 0005_i18n
Create Date: 2026-11-29 04:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_eval_usage"
down_revision: str | None = "0005_i18n"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("model_usage") as batch:
        batch.alter_column("run_id", existing_type=sa.String(length=36), nullable=True)
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("eval_id", sa.String(length=36), nullable=True))
        batch.create_foreign_key(
            "fk_model_usage_eval_id_model_evals",
            "model_evals",
            ["eval_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    op.execute("DELETE FROM model_usage WHERE run_id IS NULL")
    with op.batch_alter_table("model_usage") as batch:
        batch.drop_constraint("fk_model_usage_eval_id_model_evals", type_="foreignkey")
        batch.drop_column("eval_id")
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("run_id", existing_type=sa.String(length=36), nullable=False)
