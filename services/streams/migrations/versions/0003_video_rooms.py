"""video rooms: lives, session rooms and their meetings, presence, attendance

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chassis.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lives",
        sa.Column("stream_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("host_user_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("started_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream_id"),
        sa.UniqueConstraint("id"),
    )
    op.create_table(
        "session_rooms",
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_user_id", sa.String(length=36), nullable=False),
        sa.Column("client_user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("booking_id"),
    )
    op.create_table(
        "session_meetings",
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("start_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("end_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("booking_id", "start_at"),
    )
    op.create_table(
        "room_presence",
        sa.Column("room", sa.String(length=80), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("joined_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("room", "user_id"),
    )
    op.create_index("ix_room_presence_user", "room_presence", ["user_id"], unique=False)
    op.create_table(
        "session_attendance",
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id"),
    )
    op.create_index(
        "ix_session_attendance_booking",
        "session_attendance",
        ["booking_id", "at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_session_attendance_booking", table_name="session_attendance")
    op.drop_table("session_attendance")
    op.drop_index("ix_room_presence_user", table_name="room_presence")
    op.drop_table("room_presence")
    op.drop_table("session_meetings")
    op.drop_table("session_rooms")
    op.drop_table("lives")
