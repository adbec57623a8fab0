"""Tables the chassis keeps in every service's database, beside the service's own."""

from __future__ import annotations

import sqlalchemy as sa

from chassis.db import UtcDateTime

metadata = sa.MetaData()

# An event's id: a UUID of ours, or an outside party's id kept in the inbox (LiveKit's).
EVENT_ID_LENGTH = 36

# Events waiting to leave: written in the same transaction as the change that caused them.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("position", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("event_id", sa.String(EVENT_ID_LENGTH), nullable=False, unique=True),
    sa.Column("event_type", sa.String(100), nullable=False),
    # The CloudEvents subject, e.g. "users/<id>": lets an erasure find what names a person.
    sa.Column("subject", sa.String(200), nullable=False, server_default=""),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index(
        "ix_outbox_unpublished",
        "position",
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    ),
    sa.Index("ix_outbox_published_at", "published_at"),
    sa.Index("ix_outbox_subject", "subject"),
)

# Events already applied by a consumer: the row and the effect commit together, so a
# redelivered event finds its row and changes nothing.
inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("event_id", sa.String(EVENT_ID_LENGTH), primary_key=True),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False, index=True),
)

# Answers to calls that may be retried, keyed by the operation, the caller and the caller's
# key (Idempotency-Key at the edge), so a retry gets the first answer and the same key from
# another caller is another request.
idempotency_records = sa.Table(
    "idempotency_records",
    metadata,
    sa.Column("operation", sa.String(100), primary_key=True),
    sa.Column("caller", sa.String(100), primary_key=True),
    sa.Column("request_id", sa.String(100), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("resource_id", sa.String(100), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
)

# Each user's account status as identity last announced it (user.suspended, .reactivated,
# .deleted), the newest announcement winning: who may not act in this service.
account_statuses = sa.Table(
    "account_statuses",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("changed_at", UtcDateTime, nullable=False, index=True),
)

# Who runs each periodic job now: a lease, so one replica of several does the work.
job_leases = sa.Table(
    "job_leases",
    metadata,
    sa.Column("job", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(100), nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("last_run_at", UtcDateTime, nullable=True),
)
