"""Booking's tables (SQLAlchemy Core); the chassis adds its own beside them.

No double booking is the database's to enforce: on PostgreSQL an exclusion constraint over
(practitioner, occupied range) of the active rows of `occupancy` (made in the migration,
with btree_gist); on SQLite, whose writers run one at a time, the overlap query in the same
write transaction as the insert.
"""

from __future__ import annotations

import sqlalchemy as sa

from chassis.db import UtcDateTime

metadata = sa.MetaData()

# The practitioners booking has heard of: who owns each, in which zone.
practitioners = sa.Table(
    "practitioners",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# Weekly windows and date overrides as local wall time ("HH:MM", "YYYY-MM-DD") in time_zone.
schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("practitioner_id", sa.String(36), primary_key=True),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("weekly", sa.JSON, nullable=False),
    sa.Column("overrides", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# The copy of each service's terms, from service.published/updated/archived.
service_terms = sa.Table(
    "service_terms",
    metadata,
    sa.Column("service_id", sa.String(36), primary_key=True),
    sa.Column("practitioner_id", sa.String(36), nullable=False, index=True),
    sa.Column("practitioner_user_id", sa.String(36), nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("price_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("duration_minutes", sa.Integer, nullable=False),
    sa.Column("max_participants", sa.Integer, nullable=False),
    sa.Column("buffer_before_minutes", sa.Integer, nullable=False),
    sa.Column("buffer_after_minutes", sa.Integer, nullable=False),
    sa.Column("min_notice_minutes", sa.Integer, nullable=False),
    sa.Column("booking_window_days", sa.Integer, nullable=False),
    sa.Column("cancellation_policy", sa.JSON, nullable=False),
    sa.Column("location_kind", sa.String(20), nullable=False),
    sa.Column("location_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("sessions", sa.JSON, nullable=False),
    sa.Column("package", sa.JSON, nullable=True),
    sa.Column("bundle_items", sa.JSON, nullable=False),
    sa.Column("on_sale", sa.Boolean, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

bookings = sa.Table(
    "bookings",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(36), nullable=False),
    sa.Column("service_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("practitioner_id", sa.String(36), nullable=False),
    sa.Column("practitioner_user_id", sa.String(36), nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("location_kind", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("seats", sa.Integer, nullable=False),
    sa.Column("price_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("notes", sa.Text, nullable=False, server_default=""),
    sa.Column("entitlement_id", sa.String(36), nullable=True),
    # First start and last end of its times (none for a purchase): what lists sort on.
    sa.Column("starts_at", UtcDateTime, nullable=True),
    sa.Column("ends_at", UtcDateTime, nullable=True),
    sa.Column("hold_expires_at", UtcDateTime, nullable=True),
    sa.Column("payment_id", sa.String(100), nullable=False, server_default=""),
    sa.Column("amount_paid_minor", sa.BigInteger, nullable=True),
    sa.Column("refund_percent", sa.Integer, nullable=True),
    sa.Column("cancelled_by", sa.String(20), nullable=True),
    sa.Column("cancel_reason", sa.String(500), nullable=False, server_default=""),
    sa.Column("cancellation_policy", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("confirmed_at", UtcDateTime, nullable=True),
    sa.Column("cancelled_at", UtcDateTime, nullable=True),
    sa.Column("completed_at", UtcDateTime, nullable=True),
    sa.Column("armed_at", UtcDateTime, nullable=True),
    sa.Index("ix_bookings_client", "client_id", "id"),
    sa.Index("ix_bookings_client_ends", "client_id", "ends_at"),
    sa.Index("ix_bookings_practitioner_starts", "practitioner_id", "starts_at"),
    sa.Index("ix_bookings_status_hold", "status", "hold_expires_at"),
    sa.Index("ix_bookings_status_ends", "status", "ends_at"),
    sa.Index("ix_bookings_status_starts", "status", "starts_at"),
)

# Each stretch of time a booking takes: one for a session or workshop seat, one per meeting
# of a course; a group seat names the dated session it sits in.
booking_times = sa.Table(
    "booking_times",
    metadata,
    sa.Column("booking_id", sa.String(36), sa.ForeignKey("bookings.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("starts_at", UtcDateTime, nullable=False),
    sa.Column("ends_at", UtcDateTime, nullable=False),
    sa.Column("group_session_id", sa.String(36), nullable=True, index=True),
)

# The dated sessions of workshops and courses that have been booked, with their seats:
# taken by bookings (held or confirmed) and held for waitlist offers.
group_sessions = sa.Table(
    "group_sessions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("service_id", sa.String(36), nullable=False),
    sa.Column("practitioner_id", sa.String(36), nullable=False),
    sa.Column("starts_at", UtcDateTime, nullable=False),
    sa.Column("ends_at", UtcDateTime, nullable=False),
    sa.Column("taken", sa.Integer, nullable=False, server_default="0"),
    sa.Column("offered", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("service_id", "starts_at"),
    sa.Index("ix_group_sessions_practitioner", "practitioner_id", "starts_at"),
)

# The practitioner's time a booking (a session) or a group session takes, buffers included;
# active while a booking holds it or a group session has a seat taken.
occupancy = sa.Table(
    "occupancy",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("practitioner_id", sa.String(36), nullable=False),
    sa.Column("blocked_from", UtcDateTime, nullable=False),
    sa.Column("blocked_until", UtcDateTime, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("booking_id", sa.String(36), nullable=True, unique=True),
    sa.Column("group_session_id", sa.String(36), nullable=True, unique=True),
    sa.Index("ix_occupancy_practitioner", "practitioner_id", "blocked_from"),
)

entitlements = sa.Table(
    "entitlements",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(36), nullable=False),
    sa.Column("purchase_booking_id", sa.String(36), nullable=False, index=True),
    sa.Column("service_id", sa.String(36), nullable=False),
    sa.Column("service_title", sa.String(200), nullable=False),
    sa.Column("practitioner_id", sa.String(36), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("used", sa.Integer, nullable=False),
    sa.Column("value_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("voided_at", UtcDateTime, nullable=True),
    sa.Index("ix_entitlements_client", "client_id", "id"),
)

waitlist_entries = sa.Table(
    "waitlist_entries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("service_id", sa.String(36), nullable=False),
    sa.Column("starts_at", UtcDateTime, nullable=False),
    sa.Column("client_id", sa.String(36), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # One place in line per client and session while waiting or offered; null afterwards.
    sa.Column("in_line", sa.Boolean, nullable=True),
    sa.Column("offer_expires_at", UtcDateTime, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("service_id", "starts_at", "client_id", "in_line"),
    sa.Index("ix_waitlist_line", "service_id", "starts_at", "status", "id"),
    sa.Index("ix_waitlist_client", "client_id", "id"),
    sa.Index("ix_waitlist_offers", "status", "offer_expires_at"),
)

# Reminders sent, one row per subject (a booking, or a group session for its practitioner),
# kind, recipient and meeting start: a reschedule's new start is a new row (re-armed).
reminders_sent = sa.Table(
    "reminders_sent",
    metadata,
    sa.Column("subject_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("recipient_id", sa.String(36), primary_key=True),
    sa.Column("starts_at", UtcDateTime, primary_key=True),
    sa.Column("sent_at", UtcDateTime, nullable=False, index=True),
)

# Calendar feeds: the SHA-256 of each user's secret (the secret itself is shown once).
calendar_feeds = sa.Table(
    "calendar_feeds",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# Each participant's joins and leaves of a virtual booking's session room, as streams told
# them: kept as marks (not a running total) so that late and out-of-order ones still count
# right; the same mark twice is one row.
attendance_marks = sa.Table(
    "attendance_marks",
    metadata,
    sa.Column("booking_id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("presence", sa.String(10), primary_key=True),
    sa.Column("at", UtcDateTime, primary_key=True),
)
