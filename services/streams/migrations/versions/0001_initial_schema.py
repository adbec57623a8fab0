"""initial schema: streams (one per practitioner), their tiers by level, posts and follows

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
        "streams",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_user_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), server_default="", nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_user_id", name="uq_streams_owner"),
    )
    op.create_table(
        "tiers",
        sa.Column("stream_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=60), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "level"),
    )
    op.create_table(
        "posts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("stream_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("published_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_posts_stream", "posts", ["stream_id", "id"], unique=False)
    op.create_index(
        "ix_posts_published", "posts", ["stream_id", "published_at", "id"], unique=False
    )
    op.create_table(
        "follows",
        sa.Column("stream_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "user_id"),
    )
    op.create_index("ix_follows_user", "follows", ["user_id"], unique=False)
    create_chassis_tables_v1()
    create_chassis_tables_v2()


def downgrade() -> None:
    drop_chassis_tables_v2()
    drop_chassis_tables_v1()
    op.drop_index("ix_follows_user", table_name="follows")
    op.drop_table("follows")
    op.drop_index("ix_posts_published", table_name="posts")
    op.drop_index("ix_posts_stream", table_name="posts")
    op.drop_table("posts")
    op.drop_table("tiers")
    op.drop_table("streams")
