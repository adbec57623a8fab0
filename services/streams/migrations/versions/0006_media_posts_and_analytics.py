"""media posts and follow history: a post's kind and the uploads it carries; every change of
who follows a stream at which level, for its owner's analytics

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chassis.db
from chassis.ids import new_id

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=20), nullable=False, server_default="text")
        )
    op.create_table(
        "post_media",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("stream_id", sa.String(length=36), nullable=False),
        sa.Column("uploader_user_id", sa.String(length=36), nullable=False),
        sa.Column("object_key", sa.String(length=512), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("max_bytes", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("post_id", sa.String(length=36), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("discarded", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("object_key"),
    )
    op.create_index("ix_post_media_post", "post_media", ["post_id", "position"], unique=False)
    op.create_index(
        "ix_post_media_pending", "post_media", ["discarded", "created_at"], unique=False
    )
    history = op.create_table(
        "follow_history",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("stream_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_follow_history_stream", "follow_history", ["stream_id", "at", "id"], unique=False
    )
    op.create_index("ix_follow_history_user", "follow_history", ["user_id"], unique=False)
    # The follows of before: each as it stands, from when it began (earlier level changes
    # were not kept).
    follows = sa.table(
        "follows",
        sa.column("stream_id", sa.String),
        sa.column("user_id", sa.String),
        sa.column("level", sa.Integer),
        sa.column("created_at", chassis.db.UtcDateTime(timezone=True)),
    )
    rows = op.get_bind().execute(sa.select(follows)).all()
    if rows:
        op.bulk_insert(
            history,
            [
                {
                    "id": new_id(),
                    "stream_id": r.stream_id,
                    "user_id": r.user_id,
                    "level": r.level,
                    "at": r.created_at,
                }
                for r in rows
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_follow_history_user", table_name="follow_history")
    op.drop_index("ix_follow_history_stream", table_name="follow_history")
    op.drop_table("follow_history")
    op.drop_index("ix_post_media_pending", table_name="post_media")
    op.drop_index("ix_post_media_post", table_name="post_media")
    op.drop_table("post_media")
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("kind")
