"""initial schema: the double-entry ledger (accounts, transactions unique by kind and cause,
postings; accounts that must not go negative held by a CHECK), earnings and their states,
practitioners' tiers over time

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chassis.db
from chassis.migrations import (
    create_chassis_tables_v1,
    create_chassis_tables_v2,
    drop_chassis_tables_v1,
    drop_chassis_tables_v2,
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("non_negative", sa.Boolean(), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=True),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "NOT non_negative OR balance_minor >= 0", name="ck_ledger_accounts_not_overdrawn"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "kind", "currency"),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("cause", sa.String(length=200), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=True),
        sa.Column("description", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "cause"),
    )
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_transactions_booking_id"), ["booking_id"], unique=False
        )

    op.create_table(
        "ledger_postings",
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["ledger_accounts.id"]),
        sa.ForeignKeyConstraint(["transaction_id"], ["ledger_transactions.id"]),
        sa.PrimaryKeyConstraint("transaction_id", "account_id"),
    )
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_postings_account", ["account_id", "transaction_id"], unique=False
        )

    op.create_table(
        "earnings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_user_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("commission_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("commission_bps", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("completed_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("available_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column(
            "release_transaction_id", sa.String(length=36), server_default="", nullable=False
        ),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("booking_id"),
    )
    with op.batch_alter_table("earnings", schema=None) as batch_op:
        batch_op.create_index("ix_earnings_due", ["status", "available_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_earnings_practitioner_user_id"), ["practitioner_user_id"], unique=False
        )

    op.create_table(
        "practitioner_tiers",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("effective_from", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "effective_from"),
    )
    create_chassis_tables_v1()
    create_chassis_tables_v2()


def downgrade() -> None:
    drop_chassis_tables_v2()
    drop_chassis_tables_v1()
    op.drop_table("practitioner_tiers")
    with op.batch_alter_table("earnings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_earnings_practitioner_user_id"))
        batch_op.drop_index("ix_earnings_due")

    op.drop_table("earnings")
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_postings_account")

    op.drop_table("ledger_postings")
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_booking_id"))

    op.drop_table("ledger_transactions")
    op.drop_table("ledger_accounts")
