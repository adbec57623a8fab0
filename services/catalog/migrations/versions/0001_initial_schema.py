"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import chassis.db
from chassis.migrations import create_chassis_tables_v1, drop_chassis_tables_v1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["categories.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_categories_path"), ["path"], unique=False)

    op.create_table(
        "platform_tiers",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("effective_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "practitioners",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("bio", sa.Text(), nullable=False),
        sa.Column("specializations", sa.JSON(), nullable=False),
        sa.Column("certifications", sa.JSON(), nullable=False),
        sa.Column("years_experience", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("rejection_reason", sa.String(length=500), server_default="", nullable=False),
        sa.Column("featured", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("rating_average", sa.Float(), server_default="0", nullable=False),
        sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_service_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("availability_set", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("payouts_connected", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "search_vector", postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("approved_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
    )
    with op.batch_alter_table("practitioners", schema=None) as batch_op:
        batch_op.create_index("ix_practitioners_status", ["status"], unique=False)

    op.create_table(
        "locations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=100), server_default="", nullable=False),
        sa.Column("address", sa.String(length=300), server_default="", nullable=False),
        sa.Column("city", sa.String(length=100), server_default="", nullable=False),
        sa.Column("country_code", sa.String(length=2), server_default="", nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("removed_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_locations_practitioner_id"), ["practitioner_id"], unique=False
        )

    op.create_table(
        "practitioner_languages",
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
        ),
        sa.PrimaryKeyConstraint("practitioner_id", "language"),
    )
    with op.batch_alter_table("practitioner_languages", schema=None) as batch_op:
        batch_op.create_index("ix_practitioner_languages_language", ["language"], unique=False)

    op.create_table(
        "services",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category_id", sa.String(length=36), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("location_kind", sa.String(length=20), nullable=False),
        sa.Column("location_id", sa.String(length=36), nullable=True),
        sa.Column("max_participants", sa.Integer(), nullable=False),
        sa.Column("buffer_before_minutes", sa.Integer(), nullable=False),
        sa.Column("buffer_after_minutes", sa.Integer(), nullable=False),
        sa.Column("min_notice_minutes", sa.Integer(), nullable=False),
        sa.Column("booking_window_days", sa.Integer(), nullable=False),
        sa.Column("cancellation_policy", sa.JSON(), nullable=False),
        sa.Column("package_service_id", sa.String(length=36), nullable=True),
        sa.Column("package_session_count", sa.Integer(), nullable=True),
        sa.Column("package_validity_days", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "search_vector", postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("archived_at", chassis.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.create_index("ix_services_category", ["category_id"], unique=False)
        batch_op.create_index("ix_services_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_services_practitioner_status", ["practitioner_id", "status"], unique=False
        )
        batch_op.create_index("ix_services_status_price", ["status", "price_minor"], unique=False)

    op.create_table(
        "bundle_items",
        sa.Column("bundle_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bundle_id"],
            ["services.id"],
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
        ),
        sa.PrimaryKeyConstraint("bundle_id", "service_id"),
    )
    op.create_table(
        "service_sessions",
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("starts_at", chassis.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
        ),
        sa.PrimaryKeyConstraint("service_id", "position"),
    )
    create_chassis_tables_v1()
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.create_index("ix_services_search", "services", ["search_vector"], postgresql_using="gin")
        op.create_index(
            "ix_practitioners_search", "practitioners", ["search_vector"], postgresql_using="gin"
        )
    else:
        # SQLite's full-text index; kept in step by the repository, in the same transaction.
        op.execute(
            "CREATE VIRTUAL TABLE services_fts USING fts5("
            "service_id UNINDEXED, title, about, description, tokenize='porter unicode61')"
        )
        op.execute(
            "CREATE VIRTUAL TABLE practitioners_fts USING fts5("
            "practitioner_id UNINDEXED, name, about, bio, tokenize='porter unicode61')"
        )


def downgrade() -> None:
    drop_chassis_tables_v1()
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE practitioners_fts")
        op.execute("DROP TABLE services_fts")
    op.drop_table("service_sessions")
    op.drop_table("bundle_items")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_index("ix_services_status_price")
        batch_op.drop_index("ix_services_practitioner_status")
        batch_op.drop_index("ix_services_created_at")
        batch_op.drop_index("ix_services_category")

    op.drop_table("services")
    with op.batch_alter_table("practitioner_languages", schema=None) as batch_op:
        batch_op.drop_index("ix_practitioner_languages_language")

    op.drop_table("practitioner_languages")
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_locations_practitioner_id"))

    op.drop_table("locations")
    with op.batch_alter_table("practitioners", schema=None) as batch_op:
        batch_op.drop_index("ix_practitioners_status")

    op.drop_table("practitioners")
    op.drop_table("platform_tiers")
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_categories_path"))

    op.drop_table("categories")
