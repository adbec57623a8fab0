"""stream orders (tips and post unlocks)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chassis.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stream_orders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("stream_id", sa.String(length=36), nullable=False),
        sa.Column("post_id", sa.String(length=36), server_default="", nullable=False),
        sa.Column("creator_user_id", sa.String(length=36), nullable=False),
        sa.Column("unlock_key", sa.String(length=80), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("credit_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=100), nullable=True),
        sa.Column("client_secret", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("payment_intent_id"),
        sa.UniqueConstraint("unlock_key"),
    )
    with op.batch_alter_table("stream_orders", schema=None) as batch_op:
        batch_op.create_index("ix_stream_orders_client", ["client_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stream_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_stream_orders_client")
    op.drop_table("stream_orders")
