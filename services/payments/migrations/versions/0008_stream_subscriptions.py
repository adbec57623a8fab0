"""stream subscriptions: readers' paid tiers (stream_subscriptions), their invoices as stream
orders (stream_orders.invoice_id), and stream tiers' names in tier_prices

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
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
    op.create_table(
        "stream_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("stream_id", sa.String(length=36), nullable=False),
        sa.Column("creator_user_id", sa.String(length=36), nullable=False),
        sa.Column("live_key", sa.String(length=80), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("next_level", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("payment_method", sa.String(length=100), nullable=False),
        sa.Column(
            "provider_subscription_id", sa.String(length=100), server_default="", nullable=False
        ),
        sa.Column("customer_id", sa.String(length=100), server_default="", nullable=False),
        sa.Column("current_period_end", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("failure_code", sa.String(length=100), server_default="", nullable=False),
        sa.Column("revision", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sequence", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("live_key"),
    )
    with op.batch_alter_table("stream_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_stream_subscriptions_user", ["user_id", "id"], unique=False)
    with op.batch_alter_table("stream_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invoice_id", sa.String(length=100), nullable=True))
        batch_op.create_unique_constraint("uq_stream_orders_invoice_id", ["invoice_id"])
    with op.batch_alter_table("tier_prices", schema=None) as batch_op:
        batch_op.alter_column(
            "tier", existing_type=sa.String(length=20), type_=sa.String(length=80)
        )


def downgrade() -> None:
    with op.batch_alter_table("tier_prices", schema=None) as batch_op:
        batch_op.alter_column(
            "tier", existing_type=sa.String(length=80), type_=sa.String(length=20)
        )
    with op.batch_alter_table("stream_orders", schema=None) as batch_op:
        batch_op.drop_constraint("uq_stream_orders_invoice_id", type_="unique")
        batch_op.drop_column("invoice_id")
    with op.batch_alter_table("stream_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_stream_subscriptions_user")
    op.drop_table("stream_subscriptions")
