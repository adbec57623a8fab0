"""partner webhooks: partners' endpoints and the deliveries of events to them

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chassis.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_webhooks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=200), server_default="", nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=20), server_default="", nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "partner_webhook_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("webhook_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_latency_ms", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=500), server_default="", nullable=False),
        sa.Column("delivered_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id", "event_id", name="uq_partner_webhook_deliveries_event"),
    )
    op.create_index(
        "ix_partner_webhook_deliveries_due",
        "partner_webhook_deliveries",
        ["state", "next_attempt_at"],
    )
    op.create_index(
        "ix_partner_webhook_deliveries_webhook",
        "partner_webhook_deliveries",
        ["webhook_id", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_partner_webhook_deliveries_webhook", "partner_webhook_deliveries")
    op.drop_index("ix_partner_webhook_deliveries_due", "partner_webhook_deliveries")
    op.drop_table("partner_webhook_deliveries")
    op.drop_table("partner_webhooks")
