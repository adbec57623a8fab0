"""platform subscriptions: practitioners' paid tiers (platform_subscriptions) and the
provider's price of each tier (tier_prices)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
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
    op.create_table(
        "platform_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("live_user_id", sa.String(length=36), nullable=True),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("next_tier", sa.String(length=20), server_default="", nullable=False),
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
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("live_user_id"),
    )
    with op.batch_alter_table("platform_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_platform_subscriptions_user_id"), ["user_id"], unique=False
        )
    op.create_table(
        "tier_prices",
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("price_id", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("tier", "currency", "amount_minor"),
        sa.UniqueConstraint("price_id"),
    )


def downgrade() -> None:
    op.drop_table("tier_prices")
    with op.batch_alter_table("platform_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_platform_subscriptions_user_id"))
    op.drop_table("platform_subscriptions")
