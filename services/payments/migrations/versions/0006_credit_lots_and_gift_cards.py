"""credit lots (expiring credit) and gift cards

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chassis.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("credit_purchases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), server_default="top_up", nullable=False)
        )
    op.create_table(
        "credit_lots",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("granted_minor", sa.BigInteger(), nullable=False),
        sa.Column("remaining_minor", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "remaining_minor >= 0 AND remaining_minor <= granted_minor",
            name="ck_credit_lots_remaining_within_granted",
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("credit_lots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_lots_client", ["client_id", "currency", "status"], unique=False
        )
        batch_op.create_index("ix_credit_lots_due", ["status", "expires_at"], unique=False)
    op.create_table(
        "gift_cards",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("redeem_by", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("redeemed_by", sa.String(length=36), nullable=True),
        sa.Column("redeemed_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["id"], ["credit_purchases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )


def downgrade() -> None:
    op.drop_table("gift_cards")
    with op.batch_alter_table("credit_lots", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_lots_due")
        batch_op.drop_index("ix_credit_lots_client")
    op.drop_table("credit_lots")
    with op.batch_alter_table("credit_purchases", schema=None) as batch_op:
        batch_op.drop_column("kind")
