"""post notices: whose post each stream.post_published told of, so that a creator's erasure
takes the notices of their posts

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chassis.db import UtcDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "post_notices",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("owner_user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_post_notices_owner", "post_notices", ["owner_user_id"])


def downgrade() -> None:
    op.drop_index("ix_post_notices_owner", table_name="post_notices")
    op.drop_table("post_notices")
