"""attendance marks: who joined and left each virtual booking's session room, and when

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chassis.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attendance_marks",
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("presence", sa.String(length=10), nullable=False),
        sa.Column("at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("booking_id", "user_id", "presence", "at"),
    )


def downgrade() -> None:
    op.drop_table("attendance_marks")
