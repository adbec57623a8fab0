"""stream subscriptions found by stream (a tier's price change) and by creator (their
erasure) without reading the whole table

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_stream_subscriptions_stream", "stream_subscriptions", ["stream_id", "level"]
    )
    op.create_index("ix_stream_subscriptions_creator", "stream_subscriptions", ["creator_user_id"])


def downgrade() -> None:
    op.drop_index("ix_stream_subscriptions_creator", table_name="stream_subscriptions")
    op.drop_index("ix_stream_subscriptions_stream", table_name="stream_subscriptions")
