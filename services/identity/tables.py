"""Identity's tables (SQLAlchemy Core); the chassis adds its own beside them."""

from __future__ import annotations

import sqlalchemy as sa

from chassis.db import UtcDateTime

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("email", sa.String(254), nullable=False),
    # The email folded to lower case: the key that makes addresses unique case-insensitively.
    sa.Column("email_key", sa.String(254), nullable=False, unique=True),
    sa.Column("full_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("email_verified_at", UtcDateTime, nullable=True),
    sa.Column("phone", sa.String(32), nullable=False, server_default=""),
    sa.Column("timezone", sa.String(64), nullable=False, server_default=""),
    sa.Column("avatar_url", sa.String(2048), nullable=False, server_default=""),
    sa.Column("bio", sa.Text, nullable=False, server_default=""),
    sa.Column("preferences", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_users_status", "status"),
)

user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("role", sa.String(20), primary_key=True),
    sa.Index("ix_user_roles_role", "role"),
)

# A login session: the family every rotated refresh token of one login belongs to.
auth_sessions = sa.Table(
    "auth_sessions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("user_agent", sa.String(500), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_refreshed_at", UtcDateTime, nullable=True),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    sa.Column("revoke_reason", sa.String(100), nullable=True),
)

# Refresh tokens are stored only as SHA-256 hashes; used_at marks a rotated token, whose
# reappearance means theft.
refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "session_id", sa.String(36), sa.ForeignKey("auth_sessions.id"), nullable=False, index=True
    ),
    sa.Column("user_id", sa.String(36), nullable=False),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
    sa.Column("used_at", UtcDateTime, nullable=True),
)

# Single-use tokens sent by mail: email verification and password reset (hashed too).
one_time_tokens = sa.Table(
    "one_time_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("purpose", sa.String(30), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
    sa.Column("used_at", UtcDateTime, nullable=True),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("algorithm", sa.String(20), nullable=False),
    sa.Column("private_key_pem", sa.Text, nullable=False),
    sa.Column("public_jwk", sa.JSON, nullable=False),
    # active (signs and verifies), verifying (verifies only), retired (neither).
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("retired_at", UtcDateTime, nullable=True),
    # At most one key signs at a time, even if two replicas start together.
    sa.Index(
        "ux_signing_keys_one_active",
        "status",
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    ),
)

audit_entries = sa.Table(
    "audit_entries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("actor_id", sa.String(36), nullable=False, index=True),
    # The service the action was taken in; identity keeps every service's staff actions.
    sa.Column("service", sa.String(30), nullable=False, server_default="", index=True),
    sa.Column("action", sa.String(50), nullable=False),
    # The resource acted on ("users/<id>", "practitioners/<id>") and the person it concerns.
    sa.Column("target", sa.String(200), nullable=False, server_default="", index=True),
    sa.Column("target_user_id", sa.String(36), nullable=False, index=True),
    sa.Column("before", sa.JSON, nullable=False),
    sa.Column("after", sa.JSON, nullable=False),
    sa.Column("reason", sa.String(500), nullable=False, server_default=""),
    sa.Column("request_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
)
