"""attachment uploads: a participant's upload slots in a conversation and the attachments
of messages, checked against the media store

Before the media store, a message accepted "media/{id}" references without checking them
(messages.attachments): no upload could have made an object behind one, so they name
nothing a reader could open, and this version no longer reads the column. It stays while
the previous version's pods may still run on this schema during a rollout (they read and
write it), and goes in a later release.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chassis.db import UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_attachments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("uploader_id", sa.String(36), nullable=False),
        sa.Column("object_key", sa.String(512), nullable=False, unique=True),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("max_bytes", sa.BigInteger, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column("position", sa.Integer, nullable=True),
        sa.Column("discarded", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_message_attachments_message", "message_attachments", ["message_id", "position"]
    )
    op.create_index("ix_message_attachments_uploader", "message_attachments", ["uploader_id"])
    op.create_index(
        "ix_message_attachments_pending", "message_attachments", ["discarded", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("message_attachments")
