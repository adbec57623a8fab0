"""Streams' tables (SQLAlchemy Core); the chassis adds its own beside them.

One stream per practitioner is the database's to enforce (unique owner), as is one tier
per level of a stream and one follow per reader of a stream; so are one like and one save
per reader of a post and one vote per voter in a poll (their primary keys); so are one live
per stream at a time and one session room per booking.
"""

from __future__ import annotations

import sqlalchemy as sa

from chassis.db import UtcDateTime

metadata = sa.MetaData()

streams = sa.Table(
    "streams",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("owner_user_id", sa.String(36), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.String(2000), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # When its creator's account was erased: a closed stream is gone for readers, its words
    # and media erased (NULL: open).
    sa.Column("closed_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("owner_user_id", name="uq_streams_owner"),
)

# Level 0 is the free tier every stream has; the others are priced monthly.
tiers = sa.Table(
    "tiers",
    metadata,
    sa.Column("stream_id", sa.String(36), primary_key=True),
    sa.Column("level", sa.Integer, primary_key=True),
    sa.Column("display_name", sa.String(60), nullable=False),
    sa.Column("price_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
)

# Posts; ids are UUIDv7, so id order is the order they were written in.
posts = sa.Table(
    "posts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("stream_id", sa.String(36), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=True),
    sa.Column("scheduled_for", UtcDateTime, nullable=True),
    # A one-off price for reading the post whole whatever the tier (NULL: not sold alone).
    sa.Column("unlock_price_minor", sa.BigInteger, nullable=True),
    sa.Column("unlock_currency", sa.String(3), nullable=True),
    # What it carries beside its text: none (text), one image, video or audio, or a gallery.
    sa.Column("kind", sa.String(20), nullable=False, server_default="text"),
    sa.Index("ix_posts_stream", "stream_id", "id"),
    sa.Index("ix_posts_published", "stream_id", "published_at", "id"),
    sa.Index("ix_posts_scheduled", "scheduled_for"),
)

# Who reads a stream, at which level (0 until payments raises it for a paid tier).
follows = sa.Table(
    "follows",
    metadata,
    sa.Column("stream_id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_follows_user", "user_id"),
)

# A reader's like of a post; the count of a post's rows is its like count.
post_likes = sa.Table(
    "post_likes",
    metadata,
    sa.Column("post_id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# A reader's saved posts, listed newest saved first.
post_saves = sa.Table(
    "post_saves",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("post_id", sa.String(36), primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_post_saves_user", "user_id", "created_at", "post_id"),
)

# A post's poll options in order (position 0 first); a post without rows has no poll.
poll_options = sa.Table(
    "poll_options",
    metadata,
    sa.Column("post_id", sa.String(36), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("text", sa.String(100), nullable=False),
)

# One vote per voter in a post's poll, for the option at `position`.
poll_votes = sa.Table(
    "poll_votes",
    metadata,
    sa.Column("post_id", sa.String(36), primary_key=True),
    sa.Column("voter_user_id", sa.String(36), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# Comments on posts; ids are UUIDv7 (id order is the order they were written in). A reply
# names the top-level comment it answers; a deleted one keeps its row without its text.
comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("stream_id", sa.String(36), nullable=False),
    sa.Column("post_id", sa.String(36), nullable=False),
    sa.Column("reply_to", sa.String(36), nullable=True),
    sa.Column("author_user_id", sa.String(36), nullable=False),
    sa.Column("text", sa.String(2000), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("edited_at", UtcDateTime, nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("hidden", sa.Boolean, nullable=False),
    sa.Index("ix_comments_post", "post_id", "id"),
    sa.Index("ix_comments_author", "author_user_id"),
)

# A stream's live in progress: one row per stream at most (its primary key), so of two lives
# started at once the second is refused; the row goes when the live ends.
lives = sa.Table(
    "lives",
    metadata,
    sa.Column("stream_id", sa.String(36), primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("host_user_id", sa.String(36), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
)

# A confirmed virtual booking's room, as booking's events describe the booking: one per
# booking (its primary key), however often or concurrently booking.confirmed arrives.
session_rooms = sa.Table(
    "session_rooms",
    metadata,
    sa.Column("booking_id", sa.String(36), primary_key=True),
    sa.Column("practitioner_user_id", sa.String(36), nullable=False),
    sa.Column("client_user_id", sa.String(36), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# The dated meetings a session room opens for (one for a session, one per course meeting).
session_meetings = sa.Table(
    "session_meetings",
    metadata,
    sa.Column("booking_id", sa.String(36), primary_key=True),
    sa.Column("start_at", UtcDateTime, primary_key=True),
    sa.Column("end_at", UtcDateTime, nullable=False),
)

# Who is in which room now, from LiveKit's webhooks: whom to remove when their access ends.
room_presence = sa.Table(
    "room_presence",
    metadata,
    sa.Column("room", sa.String(80), primary_key=True),
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("joined_at", UtcDateTime, nullable=False),
    sa.Index("ix_room_presence_user", "user_id"),
)

# Who joined and left a session room when, one row per LiveKit webhook.
session_attendance = sa.Table(
    "session_attendance",
    metadata,
    sa.Column("webhook_id", sa.String(64), primary_key=True),
    sa.Column("booking_id", sa.String(36), nullable=False),
    sa.Column("user_id", sa.String(36), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_session_attendance_booking", "booking_id", "at"),
)

# What readers paid through payments (stream_order.paid): tips to a stream or a post, and
# posts' unlocks. One row per payments' order (its primary key), however often the event is
# delivered. A buyer reads a post whole once its unlock is here, whatever their tier.
stream_sales = sa.Table(
    "stream_sales",
    metadata,
    sa.Column("order_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("stream_id", sa.String(36), nullable=False),
    sa.Column("post_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("buyer_user_id", sa.String(36), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("earning_minor", sa.BigInteger, nullable=False),
    sa.Column("paid_at", UtcDateTime, nullable=False),
    sa.Index("ix_stream_sales_stream", "stream_id", "paid_at"),
    sa.Index("ix_stream_sales_buyer", "buyer_user_id", "kind", "post_id"),
    sa.Index("ix_stream_sales_post", "post_id"),
)

# A stream owner's uploads: a slot for one object (pending while post_id is null), then a
# medium of the post that carries it, at its position. A discarded row's object is to be
# deleted from the media store; the row stays until it is.
post_media = sa.Table(
    "post_media",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("stream_id", sa.String(36), nullable=False),
    sa.Column("uploader_user_id", sa.String(36), nullable=False),
    sa.Column("object_key", sa.String(512), nullable=False, unique=True),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("max_bytes", sa.BigInteger, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=True),
    sa.Column("post_id", sa.String(36), nullable=True),
    sa.Column("position", sa.Integer, nullable=True),
    sa.Column("discarded", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_post_media_post", "post_id", "position"),
    sa.Index("ix_post_media_pending", "discarded", "created_at"),
)

# Every change of who follows a stream at which level (level null: stopped following), so
# its owner's analytics count followers per level on any past day. Ids are UUIDv7: in order.
follow_history = sa.Table(
    "follow_history",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("stream_id", sa.String(36), nullable=False),
    sa.Column("user_id", sa.String(36), nullable=False),
    sa.Column("level", sa.Integer, nullable=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_follow_history_stream", "stream_id", "at", "id"),
    sa.Index("ix_follow_history_user", "user_id"),
)

# Readers' subscriptions to paid tiers, as payments' stream_subscription.changed last left
# each (one row per subscription). A change is applied only over a lower sequence, so an
# older or repeated one, however concurrent, changes nothing.
stream_subscriptions = sa.Table(
    "stream_subscriptions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("stream_id", sa.String(36), nullable=False),
    sa.Column("user_id", sa.String(36), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("granted_level", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("current_period_end", UtcDateTime, nullable=True),
    sa.Column("cancel_at_period_end", sa.Boolean, nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_stream_subscriptions_reader", "stream_id", "user_id"),
)
