"""Catalog's tables (SQLAlchemy Core); the chassis adds its own beside them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR

from chassis.db import UtcDateTime

metadata = sa.MetaData()

# Full-text search: a weighted tsvector column on PostgreSQL; on SQLite the column stays
# empty and FTS5 tables (made in the migration) index the same text.
SearchVector = TSVECTOR().with_variant(sa.Text(), "sqlite")

practitioners = sa.Table(
    "practitioners",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), nullable=False, unique=True),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("bio", sa.Text, nullable=False),
    sa.Column("specializations", sa.JSON, nullable=False),
    sa.Column("certifications", sa.JSON, nullable=False),
    sa.Column("years_experience", sa.Integer, nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # The owner's account as identity announced it (active, suspended, deleted): a
    # practitioner is listed only while approved and active.
    sa.Column("account_status", sa.String(20), nullable=False, server_default="active"),
    sa.Column("rejection_reason", sa.String(500), nullable=False, server_default=""),
    sa.Column("featured", sa.Boolean, nullable=False, server_default=sa.false()),
    # The stars of the visible reviews of all their services: the exact sum and count, and
    # the average derived from them (domain/reviews.py's Rating), kept in the review's
    # transaction by an atomic increment.
    sa.Column("rating_average", sa.Float, nullable=False, server_default="0"),
    sa.Column("rating_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rating_total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_service_at", UtcDateTime, nullable=True),
    sa.Column("availability_set", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("payouts_connected", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("search_vector", SearchVector, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("approved_at", UtcDateTime, nullable=True),
    sa.Index("ix_practitioners_status", "status"),
)

practitioner_languages = sa.Table(
    "practitioner_languages",
    metadata,
    sa.Column(
        "practitioner_id", sa.String(36), sa.ForeignKey("practitioners.id"), primary_key=True
    ),
    sa.Column("language", sa.String(2), primary_key=True),
    sa.Index("ix_practitioner_languages_language", "language"),
)

# The platform tier by identity user id: payments may announce a tier before (or without)
# a practitioner profile, and the newest announcement wins.
platform_tiers = sa.Table(
    "platform_tiers",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("tier", sa.String(20), nullable=False),
    sa.Column("effective_at", UtcDateTime, nullable=False),
)

locations = sa.Table(
    "locations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "practitioner_id",
        sa.String(36),
        sa.ForeignKey("practitioners.id"),
        nullable=False,
        index=True,
    ),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("label", sa.String(100), nullable=False, server_default=""),
    sa.Column("address", sa.String(300), nullable=False, server_default=""),
    sa.Column("city", sa.String(100), nullable=False, server_default=""),
    sa.Column("country_code", sa.String(2), nullable=False, server_default=""),
    sa.Column("latitude", sa.Float, nullable=True),
    sa.Column("longitude", sa.Float, nullable=True),
    # Removed locations stay for the archived services that still point at them.
    sa.Column("removed_at", UtcDateTime, nullable=True),
)

categories = sa.Table(
    "categories",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("slug", sa.String(80), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.String(1000), nullable=False, server_default=""),
    sa.Column("parent_id", sa.String(36), sa.ForeignKey("categories.id"), nullable=True),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    # "/<root id>/.../<own id>/": a subtree is every path with this prefix.
    sa.Column("path", sa.String(1000), nullable=False, index=True),
)

services = sa.Table(
    "services",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("practitioner_id", sa.String(36), sa.ForeignKey("practitioners.id"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("category_id", sa.String(36), sa.ForeignKey("categories.id"), nullable=False),
    sa.Column("price_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("duration_minutes", sa.Integer, nullable=False),
    sa.Column("location_kind", sa.String(20), nullable=False),
    sa.Column("location_id", sa.String(36), sa.ForeignKey("locations.id"), nullable=True),
    sa.Column("max_participants", sa.Integer, nullable=False),
    sa.Column("buffer_before_minutes", sa.Integer, nullable=False),
    sa.Column("buffer_after_minutes", sa.Integer, nullable=False),
    sa.Column("min_notice_minutes", sa.Integer, nullable=False),
    sa.Column("booking_window_days", sa.Integer, nullable=False),
    sa.Column("cancellation_policy", sa.JSON, nullable=False),
    sa.Column("package_service_id", sa.String(36), nullable=True),
    sa.Column("package_session_count", sa.Integer, nullable=True),
    sa.Column("package_validity_days", sa.Integer, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("search_vector", SearchVector, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("archived_at", UtcDateTime, nullable=True),
    # Copies for discovery, which filters and sorts every match: joining each one to its
    # practitioner and its place cost more than the rest of a search. The repository writes
    # them with their sources (practitioner status and account status, location coordinates,
    # service location). Listed: the practitioner is approved and their account active.
    sa.Column("practitioner_listed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("latitude", sa.Float, nullable=True),
    sa.Column("longitude", sa.Float, nullable=True),
    # The stars of its visible reviews, as on practitioners: discovery filters and sorts
    # services by their own rating.
    sa.Column("rating_average", sa.Float, nullable=False, server_default="0"),
    sa.Column("rating_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rating_total", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_services_practitioner_status", "practitioner_id", "status"),
    sa.Index("ix_services_status_price", "status", "price_minor"),
    sa.Index("ix_services_status_rating", "status", "rating_average"),
    sa.Index("ix_services_category", "category_id"),
    sa.Index("ix_services_created_at", "created_at"),
)

service_sessions = sa.Table(
    "service_sessions",
    metadata,
    sa.Column("service_id", sa.String(36), sa.ForeignKey("services.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("starts_at", UtcDateTime, nullable=False),
    sa.Column("duration_minutes", sa.Integer, nullable=False),
)

bundle_items = sa.Table(
    "bundle_items",
    metadata,
    sa.Column("bundle_id", sa.String(36), sa.ForeignKey("services.id"), primary_key=True),
    sa.Column("service_id", sa.String(36), sa.ForeignKey("services.id"), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
)

# A completed booking its client may review, as booking.completed announced it. The rows of
# a deleted client are removed (they can no longer review).
review_eligibility = sa.Table(
    "review_eligibility",
    metadata,
    sa.Column("booking_id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(36), primary_key=True),
    sa.Column("service_id", sa.String(36), sa.ForeignKey("services.id"), nullable=False),
    sa.Column("practitioner_id", sa.String(36), sa.ForeignKey("practitioners.id"), nullable=False),
    sa.Column("completed_at", UtcDateTime, nullable=False),
    sa.Index("ix_review_eligibility_client", "client_id"),
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("booking_id", sa.String(36), nullable=False),
    sa.Column("client_id", sa.String(36), nullable=False),
    sa.Column("service_id", sa.String(36), sa.ForeignKey("services.id"), nullable=False),
    sa.Column("practitioner_id", sa.String(36), sa.ForeignKey("practitioners.id"), nullable=False),
    sa.Column("rating", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("reply_text", sa.Text, nullable=False, server_default=""),
    sa.Column("replied_at", UtcDateTime, nullable=True),
    sa.Column("hidden_at", UtcDateTime, nullable=True),
    sa.Column("hidden_reason", sa.String(500), nullable=False, server_default=""),
    sa.Column("author_erased_at", UtcDateTime, nullable=True),
    # One review per booking and client, whatever races.
    sa.UniqueConstraint("booking_id", "client_id", name="uq_reviews_booking_client"),
    sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_reviews_rating"),
    sa.Index("ix_reviews_service", "service_id", "id"),
    sa.Index("ix_reviews_practitioner", "practitioner_id", "id"),
    sa.Index("ix_reviews_client", "client_id"),
)
