"""scheduled posts: a draft's time to go out by itself

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chassis.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.add_column(
            sa.Column("scheduled_for", chassis.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch.create_index("ix_posts_scheduled", ["scheduled_for"])


def downgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.drop_index("ix_posts_scheduled")
        batch.drop_column("scheduled_for")
