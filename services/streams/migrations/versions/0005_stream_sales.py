"""stream sales (tips and post unlocks paid through payments) and posts' unlock prices

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chassis.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("unlock_price_minor", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("unlock_currency", sa.String(length=3), nullable=True))
    op.create_table(
        "stream_sales",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("stream_id", sa.String(length=36), nullable=False),
        sa.Column("post_id", sa.String(length=36), server_default="", nullable=False),
        sa.Column("buyer_user_id", sa.String(length=36), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("earning_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    with op.batch_alter_table("stream_sales") as batch:
        batch.create_index("ix_stream_sales_stream", ["stream_id", "paid_at"])
        batch.create_index("ix_stream_sales_buyer", ["buyer_user_id", "kind", "post_id"])
        batch.create_index("ix_stream_sales_post", ["post_id"])


def downgrade() -> None:
    with op.batch_alter_table("stream_sales") as batch:
        batch.drop_index("ix_stream_sales_post")
        batch.drop_index("ix_stream_sales_buyer")
        batch.drop_index("ix_stream_sales_stream")
    op.drop_table("stream_sales")
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("unlock_currency")
        batch.drop_column("unlock_price_minor")
