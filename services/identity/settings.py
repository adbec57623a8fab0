"""Identity's configuration: the chassis's settings plus token lifetimes and credentials."""

from __future__ import annotations

from pydantic import Field

from chassis.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    """ESTUARY_* environment variables read by the identity service."""

    service_name: str = "identity"
    database_url: str = "sqlite+aiosqlite:///var/data/identity.db"
    access_token_ttl_minutes: int = Field(60, ge=1, le=24 * 60)
    refresh_token_ttl_days: int = Field(7, ge=1, le=90)
    service_token_ttl_minutes: int = Field(15, ge=1, le=24 * 60)
    email_verification_ttl_hours: int = Field(48, ge=1)
    password_reset_ttl_minutes: int = Field(60, ge=5)
    # OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane. Raise them and stored hashes
    # are upgraded at each user's next login.
    argon2_time_cost: int = Field(2, ge=1)
    argon2_memory_kib: int = Field(19_456, ge=8)
    argon2_parallelism: int = Field(1, ge=1)
    key_publish_lead_seconds: int = Field(
        600,
        ge=0,
        description="How long a rotated-in key sits in the JWKS before it signs; longer than "
        "verifiers cache the key set (300 s), so none meets a kid it has not seen.",
    )
    service_credentials: dict[str, str] = Field(
        default_factory=dict,
        description='Service name to secret, as JSON: {"catalog": "..."}; issues service tokens.',
    )
    bootstrap_admin_email: str | None = Field(
        None, description="Creates this admin at start if no such user exists."
    )
    bootstrap_admin_password: str | None = None
