"""model endpoint prices; runs by creation time (GET /usage)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("model_endpoints", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "prices", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
            )
        )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_created_at")
    with op.batch_alter_table("model_endpoints", schema=None) as batch_op:
        batch_op.drop_column("prices")
