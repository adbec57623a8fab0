"""initial schema: schedules, service terms, bookings and the time they occupy (no two
active occupancies of one practitioner overlap: an exclusion constraint on PostgreSQL),
group seats, entitlements, waitlists, reminders sent, calendar feeds

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
        "bookings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_user_id", sa.String(length=36), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("location_kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("entitlement_id", sa.String(length=36), nullable=True),
        sa.Column("starts_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("hold_expires_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("payment_id", sa.String(length=100), server_default="", nullable=False),
        sa.Column("amount_paid_minor", sa.BigInteger(), nullable=True),
        sa.Column("refund_percent", sa.Integer(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=20), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), server_default="", nullable=False),
        sa.Column("cancellation_policy", sa.JSON(), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("armed_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index("ix_bookings_client", ["client_id", "id"], unique=False)
        batch_op.create_index("ix_bookings_client_ends", ["client_id", "ends_at"], unique=False)
        batch_op.create_index(
            "ix_bookings_practitioner_starts", ["practitioner_id", "starts_at"], unique=False
        )
        batch_op.create_index("ix_bookings_status_ends", ["status", "ends_at"], unique=False)
        batch_op.create_index(
            "ix_bookings_status_hold", ["status", "hold_expires_at"], unique=False
        )
        batch_op.create_index("ix_bookings_status_starts", ["status", "starts_at"], unique=False)

    op.create_table(
        "calendar_feeds",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "entitlements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("purchase_booking_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("service_title", sa.String(length=200), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expires_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("voided_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("entitlements", schema=None) as batch_op:
        batch_op.create_index("ix_entitlements_client", ["client_id", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_entitlements_purchase_booking_id"), ["purchase_booking_id"], unique=False
        )

    op.create_table(
        "group_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("starts_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("taken", sa.Integer(), server_default="0", nullable=False),
        sa.Column("offered", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_id", "starts_at"),
    )
    with op.batch_alter_table("group_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_group_sessions_practitioner", ["practitioner_id", "starts_at"], unique=False
        )

    op.create_table(
        "occupancy",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("blocked_from", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=True),
        sa.Column("group_session_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("booking_id"),
        sa.UniqueConstraint("group_session_id"),
    )
    with op.batch_alter_table("occupancy", schema=None) as batch_op:
        batch_op.create_index(
            "ix_occupancy_practitioner", ["practitioner_id", "blocked_from"], unique=False
        )

    op.create_table(
        "practitioners",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("practitioners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_practitioners_user_id"), ["user_id"], unique=False)

    op.create_table(
        "reminders_sent",
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("recipient_id", sa.String(length=36), nullable=False),
        sa.Column("starts_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", "kind", "recipient_id", "starts_at"),
    )
    with op.batch_alter_table("reminders_sent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminders_sent_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "schedules",
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("weekly", sa.JSON(), nullable=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("practitioner_id"),
    )
    op.create_table(
        "service_terms",
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_user_id", sa.String(length=36), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("max_participants", sa.Integer(), nullable=False),
        sa.Column("buffer_before_minutes", sa.Integer(), nullable=False),
        sa.Column("buffer_after_minutes", sa.Integer(), nullable=False),
        sa.Column("min_notice_minutes", sa.Integer(), nullable=False),
        sa.Column("booking_window_days", sa.Integer(), nullable=False),
        sa.Column("cancellation_policy", sa.JSON(), nullable=False),
        sa.Column("location_kind", sa.String(length=20), nullable=False),
        sa.Column("location_id", sa.String(length=36), server_default="", nullable=False),
        sa.Column("sessions", sa.JSON(), nullable=False),
        sa.Column("package", sa.JSON(), nullable=True),
        sa.Column("bundle_items", sa.JSON(), nullable=False),
        sa.Column("on_sale", sa.Boolean(), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("service_id"),
    )
    with op.batch_alter_table("service_terms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_terms_practitioner_id"), ["practitioner_id"], unique=False
        )

    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("starts_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("in_line", sa.Boolean(), nullable=True),
        sa.Column("offer_expires_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_id", "starts_at", "client_id", "in_line"),
    )
    with op.batch_alter_table("waitlist_entries", schema=None) as batch_op:
        batch_op.create_index("ix_waitlist_client", ["client_id", "id"], unique=False)
        batch_op.create_index(
            "ix_waitlist_line", ["service_id", "starts_at", "status", "id"], unique=False
        )
        batch_op.create_index("ix_waitlist_offers", ["status", "offer_expires_at"], unique=False)

    op.create_table(
        "booking_times",
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("starts_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("group_session_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
        ),
        sa.PrimaryKeyConstraint("booking_id", "position"),
    )
    with op.batch_alter_table("booking_times", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_booking_times_group_session_id"), ["group_session_id"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        # No two active occupancies of one practitioner overlap, whatever the concurrency:
        # PostgreSQL refuses the second insert (or move) at once, or when the first commits.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE occupancy ADD CONSTRAINT occupancy_no_overlap EXCLUDE USING gist "
            "(practitioner_id WITH =, tstzrange(blocked_from, blocked_until, '[)') WITH &&) "
            "WHERE (active)"
        )
    create_chassis_tables_v1()
    create_chassis_tables_v2()


def downgrade() -> None:
    drop_chassis_tables_v2()
    drop_chassis_tables_v1()
    with op.batch_alter_table("booking_times", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_booking_times_group_session_id"))

    op.drop_table("booking_times")
    with op.batch_alter_table("waitlist_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_waitlist_offers")
        batch_op.drop_index("ix_waitlist_line")
        batch_op.drop_index("ix_waitlist_client")

    op.drop_table("waitlist_entries")
    with op.batch_alter_table("service_terms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_terms_practitioner_id"))

    op.drop_table("service_terms")
    op.drop_table("schedules")
    with op.batch_alter_table("reminders_sent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminders_sent_sent_at"))

    op.drop_table("reminders_sent")
    with op.batch_alter_table("practitioners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_practitioners_user_id"))

    op.drop_table("practitioners")
    with op.batch_alter_table("occupancy", schema=None) as batch_op:
        batch_op.drop_index("ix_occupancy_practitioner")

    op.drop_table("occupancy")
    with op.batch_alter_table("group_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_group_sessions_practitioner")

    op.drop_table("group_sessions")
    with op.batch_alter_table("entitlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entitlements_purchase_booking_id"))
        batch_op.drop_index("ix_entitlements_client")

    op.drop_table("entitlements")
    op.drop_table("calendar_feeds")
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index("ix_bookings_status_starts")
        batch_op.drop_index("ix_bookings_status_hold")
        batch_op.drop_index("ix_bookings_status_ends")
        batch_op.drop_index("ix_bookings_practitioner_starts")
        batch_op.drop_index("ix_bookings_client_ends")
        batch_op.drop_index("ix_bookings_client")

    op.drop_table("bookings")
