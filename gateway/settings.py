"""The gateway's configuration, from ESTUARY_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Where the backends are, and the edge's own policies (body and rate limits, CORS)."""

    model_config = SettingsConfigDict(env_prefix="ESTUARY_", extra="ignore")

    http_host: str = Field("127.0.0.1", description="0.0.0.0 in a container.")
    http_port: int = Field(8000, ge=0, le=65535)
    identity_address: str = "127.0.0.1:50051"
    catalog_address: str = "127.0.0.1:50052"
    jwt_issuer: str = "https://estuary.local/identity"
    jwt_audience: str = "estuary"
    backend_deadline_seconds: float = Field(5.0, gt=0)
    redis_url: str | None = Field(
        None, description="redis://... shares rate-limit counters across replicas; else memory."
    )
    max_body_bytes: int = Field(
        1_048_576,
        ge=1,
        description="The largest request body, in bytes; a route may declare a larger one.",
    )
    rate_limit_enabled: bool = True
    rate_limit_anonymous_per_hour: int = Field(100, ge=1)
    rate_limit_client_per_hour: int = Field(1000, ge=1)
    rate_limit_practitioner_per_hour: int = Field(2000, ge=1)
    rate_limit_register_per_minute: int = Field(5, ge=1)
    rate_limit_login_per_minute: int = Field(10, ge=1)
    trust_forwarded_for: bool = Field(
        False,
        description="Take the client address from the last X-Forwarded-For entry, the one "
        "our proxy appended (behind exactly one proxy).",
    )
    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    log_format: str = Field("json", pattern="^(json|console)$")
    otel_exporter_otlp_endpoint: str | None = None
