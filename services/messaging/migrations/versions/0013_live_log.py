"""live log: the live updates kept in the database, in commit order, and the key that signs
the cursors a reconnecting stream resumes from

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from chassis.db import UtcDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_updates",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=True),
        sa.Column("recipient_user_id", sa.String(length=36), nullable=True),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("position"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_live_updates_conversation", "live_updates", ["conversation_id", "position"])
    op.create_index("ix_live_updates_recipient", "live_updates", ["recipient_user_id", "position"])
    op.create_index("ix_live_updates_created", "live_updates", ["created_at"])
    keys = op.create_table(
        "live_cursor_keys",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # One key per database, random: nothing to configure, and shared by every replica.
    op.bulk_insert(
        keys, [{"id": 1, "secret": secrets.token_hex(32), "created_at": datetime.now(UTC)}]
    )


def downgrade() -> None:
    op.drop_table("live_cursor_keys")
    op.drop_table("live_updates")
