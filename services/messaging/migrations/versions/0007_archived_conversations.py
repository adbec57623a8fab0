"""archived conversations: when each participant archived a conversation

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
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
    with op.batch_alter_table("conversation_participants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("archived_at", chassis.db.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation_participants", schema=None) as batch_op:
        batch_op.drop_column("archived_at")
