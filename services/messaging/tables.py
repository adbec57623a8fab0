"""Messaging's tables (SQLAlchemy Core); the chassis adds its own beside them.

Once per event and recipient is the database's to enforce: a notification and a queued
mail are each unique on (event, recipient, kind), a text message or push notification on
(event, recipient, kind, channel), beside the consumer's inbox row.
"""

from __future__ import annotations

import sqlalchemy as sa

from chassis.db import UtcDateTime

metadata = sa.MetaData()

# Each user as identity's events describe them: where to write, in which language and zone.
recipients = sa.Table(
    "recipients",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, server_default=""),
    sa.Column("full_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("locale", sa.String(35), nullable=False, server_default=""),
    sa.Column("time_zone", sa.String(64), nullable=False, server_default=""),
    # E.164, as the user gave it for text messages ("" : none).
    sa.Column("phone_number", sa.String(16), nullable=False, server_default=""),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# In-app notifications; ids are UUIDv7, so id order is the order they were made in.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("recipient_user_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("subject", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("read_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("event_id", "recipient_user_id", "kind", name="uq_notifications_event"),
    sa.Index("ix_notifications_recipient", "recipient_user_id", "id"),
)

# Whose post each stream.post_published told of: a creator's erasure takes the notices of
# their posts (titles are their words) from every follower's notifications, mail and pushes.
post_notices = sa.Table(
    "post_notices",
    metadata,
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("owner_user_id", sa.String(36), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_post_notices_owner", "owner_user_id"),
)

# The pairs a user switched (on or off); every other offered pair is on.
notification_preferences = sa.Table(
    "notification_preferences",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("channel", sa.String(20), primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# The outbox of mail: rendered in the transaction that decided it, sent by the mail job,
# retried with back-off until the server takes it.
mails = sa.Table(
    "mails",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("recipient_user_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("to_address", sa.String(254), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("text_body", sa.Text, nullable=False),
    sa.Column("html_body", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("claimed_until", UtcDateTime, nullable=True),
    sa.Column("sent_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=False, server_default=""),
    sa.UniqueConstraint("event_id", "recipient_user_id", "kind", name="uq_mails_event"),
    sa.Index("ix_mails_due", "sent_at", "next_attempt_at"),
    sa.Index("ix_mails_recipient", "recipient_user_id"),
)

# The devices each user registered for push; a token is one device, so it belongs to the
# user who registered it last (a phone handed on stops pushing to its former owner).
push_devices = sa.Table(
    "push_devices",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), nullable=False),
    sa.Column("platform", sa.String(10), nullable=False),
    sa.Column("token", sa.String(4096), nullable=False),
    # The token's SHA-256 (hex): unique, where a 4 KiB column cannot be indexed everywhere.
    sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_push_devices_user", "user_id", "id"),
)

# The outbox of text messages and push notifications, as mails is of mail: one row per
# (event, recipient, kind, channel), rendered when decided, sent by the channel job to the
# number or devices the user has then, retried with back-off, given up after a bound.
channel_deliveries = sa.Table(
    "channel_deliveries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("recipient_user_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("subject", sa.String(200), nullable=False, server_default=""),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("claimed_until", UtcDateTime, nullable=True),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=False, server_default=""),
    sa.UniqueConstraint(
        "event_id", "recipient_user_id", "kind", "channel", name="uq_channel_deliveries_event"
    ),
    sa.Index("ix_channel_deliveries_due", "state", "next_attempt_at"),
    sa.Index("ix_channel_deliveries_recipient", "recipient_user_id"),
)

# Conversations ---------------------------------------------------------------------------

# Users catalog approved as practitioners (practitioner.approved): anyone may write to them.
practitioner_users = sa.Table(
    "practitioner_users",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("practitioner_id", sa.String(36), nullable=False),
    sa.Column("approved_at", UtcDateTime, nullable=False),
)

# Who booked whom (booking.confirmed): a practitioner may write to their clients.
client_relations = sa.Table(
    "client_relations",
    metadata,
    sa.Column("practitioner_user_id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(36), primary_key=True),
    sa.Column("since", UtcDateTime, nullable=False),
)

# A conversation: direct, one per pair of users (direct_key is the sorted pair), or a group
# (no direct_key, a title, admins among its participants).
conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("direct_key", sa.String(80), nullable=True, unique=True),
    sa.Column("title", sa.String(100), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

conversation_participants = sa.Table(
    "conversation_participants",
    metadata,
    sa.Column("conversation_id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), primary_key=True),
    # The newest message the participant has read ("" before any); ids are UUIDv7, so every
    # message with a greater id is unread.
    sa.Column("last_read_message_id", sa.String(36), nullable=False, server_default=""),
    # The newest message a digest mail told the participant of ("" before any): a digest
    # tells only of unread messages after it.
    sa.Column("digested_message_id", sa.String(36), nullable=False, server_default=""),
    # A group's admins add and remove participants and rename it.
    sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()),
    # When the participant archived it (out of their list until a new message comes).
    sa.Column("archived_at", UtcDateTime, nullable=True),
    sa.Column("joined_at", UtcDateTime, nullable=False),
    sa.Index("ix_conversation_participants_user", "user_id"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("conversation_id", sa.String(36), nullable=False),
    sa.Column("sender_id", sa.String(36), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("reply_to_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("sender_erased", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("edited_at", UtcDateTime, nullable=True),
    sa.Column("deleted_at", UtcDateTime, nullable=True),
    # The unchecked "media/{id}" references of before uploads: no longer read (attachments
    # are message_attachments); kept while a rollout's older pods may use it, to be dropped.
    sa.Column("attachments", sa.JSON, nullable=False, server_default="[]"),
    sa.Index("ix_messages_conversation", "conversation_id", "id"),
    sa.Index("ix_messages_sender", "sender_id"),
)

# Uploads to conversations: a slot a participant asked for (pending while message_id is
# null), then an attachment of the message that carries it, at its position. A discarded
# row's object is deleted from the media store by the sweep job, then the row.
message_attachments = sa.Table(
    "message_attachments",
    metadata,
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
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_message_attachments_message", "message_id", "position"),
    sa.Index("ix_message_attachments_uploader", "uploader_id"),
    sa.Index("ix_message_attachments_pending", "discarded", "created_at"),
)

# A user's block of another: no new messages either way, no new conversation.
blocks = sa.Table(
    "blocks",
    metadata,
    sa.Column("blocker_id", sa.String(36), primary_key=True),
    sa.Column("blocked_id", sa.String(36), primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# Messages participants reported to staff: one report per message and reporter.
message_reports = sa.Table(
    "message_reports",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("message_id", sa.String(36), nullable=False),
    sa.Column("reporter_id", sa.String(36), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("message_id", "reporter_id", name="uq_message_reports_reporter"),
)

# What a message said before each edit or its deletion: for staff, never its readers.
message_revisions = sa.Table(
    "message_revisions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("message_id", sa.String(36), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("replaced_at", UtcDateTime, nullable=False),
    sa.Index("ix_message_revisions_message", "message_id", "id"),
)

# Partner webhooks ------------------------------------------------------------------------

# Partners' endpoints (staff-managed); the secret signs their deliveries, so it is kept as
# issued (symmetric) and only ever answered at creation and rotation.
partner_webhooks = sa.Table(
    "partner_webhooks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("description", sa.String(200), nullable=False, server_default=""),
    sa.Column("event_types", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.String(20), nullable=False, server_default=""),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# One event to one endpoint: made with the consumer's inbox row (unique per endpoint and
# event, so a redelivered event adds none), sent by the delivery job, retried with back-off.
# The body is fixed when made, so every attempt (and a replay) sends the same bytes.
partner_webhook_deliveries = sa.Table(
    "partner_webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("webhook_id", sa.String(36), nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime, nullable=True),
    sa.Column("claimed_until", UtcDateTime, nullable=True),
    sa.Column("last_attempt_at", UtcDateTime, nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_latency_ms", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(500), nullable=False, server_default=""),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("webhook_id", "event_id", name="uq_partner_webhook_deliveries_event"),
    sa.Index("ix_partner_webhook_deliveries_due", "state", "next_attempt_at"),
    sa.Index("ix_partner_webhook_deliveries_webhook", "webhook_id", "id"),
)

# Live log ---------------------------------------------------------------------------------

# Every live update kept in the database (a message sent, edited or deleted; a conversation
# read; an in-app notification), in commit order: a reconnecting stream replays what its user
# missed after a cursor's position. Rows are written under a lock held until COMMIT, so
# positions commit in order and a reader never sees a later one before an earlier one.
live_updates = sa.Table(
    "live_updates",
    metadata,
    sa.Column("position", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    # Whose it is: a conversation's participants (message, read) or one recipient.
    sa.Column("conversation_id", sa.String(36), nullable=True),
    sa.Column("recipient_user_id", sa.String(36), nullable=True),
    # The message, the reader or the notification the update is about.
    sa.Column("subject_id", sa.String(36), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_live_updates_conversation", "conversation_id", "position"),
    sa.Index("ix_live_updates_recipient", "recipient_user_id", "position"),
    sa.Index("ix_live_updates_created", "created_at"),
    # Never a position reused on SQLite, even once pruning has emptied the table.
    sqlite_autoincrement=True,
)

# The key that signs live cursors, made with the database (shared by every replica): a
# cursor from another database, or one rebuilt, fails its signature and is resynced.
live_cursor_keys = sa.Table(
    "live_cursor_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)
