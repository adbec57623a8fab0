"""Streams' tables (SQLAlchemy Core); the chassis adds its own beside them.

One stream per practitioner is the database's to enforce (unique owner), as is one tier
per level of a stream and one follow per reader of a stream.
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
    sa.Index("ix_posts_stream", "stream_id", "id"),
    sa.Index("ix_posts_published", "stream_id", "published_at", "id"),
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
