"""reviews: eligibility from booking.completed, reviews, and ratings on services

Reviews are new: no review existed before this revision, so every rating starts at zero
(practitioners' rating columns, never written until now, are reset to agree with their new
exact sum). Services gain the rating discovery now filters and sorts them by.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chassis.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("practitioners", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rating_total", sa.Integer(), server_default="0", nullable=False)
        )
    op.execute("UPDATE practitioners SET rating_average = 0, rating_count = 0")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rating_average", sa.Float(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("rating_total", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index(
            "ix_services_status_rating", ["status", "rating_average"], unique=False
        )
    op.create_table(
        "review_eligibility",
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("completed_at", chassis.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["practitioner_id"], ["practitioners.id"]),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"]),
        sa.PrimaryKeyConstraint("booking_id", "client_id"),
    )
    with op.batch_alter_table("review_eligibility", schema=None) as batch_op:
        batch_op.create_index("ix_review_eligibility_client", ["client_id"], unique=False)
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", chassis.db.UtcDateTime(), nullable=False),
        sa.Column("reply_text", sa.Text(), server_default="", nullable=False),
        sa.Column("replied_at", chassis.db.UtcDateTime(), nullable=True),
        sa.Column("hidden_at", chassis.db.UtcDateTime(), nullable=True),
        sa.Column("hidden_reason", sa.String(length=500), server_default="", nullable=False),
        sa.Column("author_erased_at", chassis.db.UtcDateTime(), nullable=True),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_reviews_rating"),
        sa.ForeignKeyConstraint(["practitioner_id"], ["practitioners.id"]),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("booking_id", "client_id", name="uq_reviews_booking_client"),
    )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.create_index("ix_reviews_client", ["client_id"], unique=False)
        batch_op.create_index("ix_reviews_practitioner", ["practitioner_id", "id"], unique=False)
        batch_op.create_index("ix_reviews_service", ["service_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_reviews_service")
        batch_op.drop_index("ix_reviews_practitioner")
        batch_op.drop_index("ix_reviews_client")
    op.drop_table("reviews")
    with op.batch_alter_table("review_eligibility", schema=None) as batch_op:
        batch_op.drop_index("ix_review_eligibility_client")
    op.drop_table("review_eligibility")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_index("ix_services_status_rating")
        batch_op.drop_column("rating_total")
        batch_op.drop_column("rating_count")
        batch_op.drop_column("rating_average")
    with op.batch_alter_table("practitioners", schema=None) as batch_op:
        batch_op.drop_column("rating_total")
