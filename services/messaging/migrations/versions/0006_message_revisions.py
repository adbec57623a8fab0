"""message edits and deletions: when a message was edited or deleted, and what it said
before (message_revisions, for staff)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
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
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("edited_at", chassis.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("deleted_at", chassis.db.UtcDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "message_revisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("replaced_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("message_revisions", schema=None) as batch_op:
        batch_op.create_index("ix_message_revisions_message", ["message_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message_revisions", schema=None) as batch_op:
        batch_op.drop_index("ix_message_revisions_message")
    op.drop_table("message_revisions")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("edited_at")
