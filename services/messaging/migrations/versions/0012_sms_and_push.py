"""sms and push: a recipient's phone number, their push devices, and the outbox of text
messages and push notifications

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chassis.db import UtcDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(
            sa.Column("phone_number", sa.String(16), nullable=False, server_default="")
        )
    op.create_table(
        "push_devices",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("platform", sa.String(10), nullable=False),
        sa.Column("token", sa.String(4096), nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_push_devices_user", "push_devices", ["user_id", "id"])
    op.create_table(
        "channel_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("recipient_user_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("subject", sa.String(200), nullable=False, server_default=""),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=False, server_default=""),
        sa.UniqueConstraint(
            "event_id",
            "recipient_user_id",
            "kind",
            "channel",
            name="uq_channel_deliveries_event",
        ),
    )
    op.create_index("ix_channel_deliveries_due", "channel_deliveries", ["state", "next_attempt_at"])
    op.create_index("ix_channel_deliveries_recipient", "channel_deliveries", ["recipient_user_id"])


def downgrade() -> None:
    op.drop_table("channel_deliveries")
    op.drop_table("push_devices")
    with op.batch_alter_table("recipients") as batch:
        batch.drop_column("phone_number")
