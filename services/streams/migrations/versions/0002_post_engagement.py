"""post engagement: likes, saves, polls and their votes, comments and replies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
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
        "post_likes",
        sa.Column("post_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("post_id", "user_id"),
    )
    op.create_table(
        "post_saves",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("post_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "post_id"),
    )
    op.create_index(
        "ix_post_saves_user", "post_saves", ["user_id", "created_at", "post_id"], unique=False
    )
    op.create_table(
        "poll_options",
        sa.Column("post_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("post_id", "position"),
    )
    op.create_table(
        "poll_votes",
        sa.Column("post_id", sa.String(length=36), nullable=False),
        sa.Column("voter_user_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("post_id", "voter_user_id"),
    )
    op.create_table(
        "comments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("stream_id", sa.String(length=36), nullable=False),
        sa.Column("post_id", sa.String(length=36), nullable=False),
        sa.Column("reply_to", sa.String(length=36), nullable=True),
        sa.Column("author_user_id", sa.String(length=36), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_comments_post", "comments", ["post_id", "id"], unique=False)
    op.create_index("ix_comments_author", "comments", ["author_user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_comments_author", table_name="comments")
    op.drop_index("ix_comments_post", table_name="comments")
    op.drop_table("comments")
    op.drop_table("poll_votes")
    op.drop_table("poll_options")
    op.drop_index("ix_post_saves_user", table_name="post_saves")
    op.drop_table("post_saves")
    op.drop_table("post_likes")
