"""closed streams: when an erased creator's stream closed (NULL: open)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chassis.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "streams",
        sa.Column("closed_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("streams") as batch:
        batch.drop_column("closed_at")
