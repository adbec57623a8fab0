"""Settings every service shares, read from ESTUARY_* environment variables (12-factor)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EXCHANGE = "estuary.events"
SQLITE_PREFIX = "sqlite+aiosqlite:///"


class ServiceSettings(BaseSettings):
    """The bones of a service's configuration; each service subclasses it for its own."""

    model_config = SettingsConfigDict(env_prefix="ESTUARY_", extra="ignore", frozen=False)

    service_name: str = Field(description="Which bounded context this process serves.")
    database_url: str = Field(
        description="SQLAlchemy URL: sqlite+aiosqlite:///path.db or postgresql+psycopg://..."
    )
    database_pool_size: int = Field(10, ge=1, le=200)
    bus_url: str = Field("memory://", description="memory:// (in-process) or amqp://...")
    bus_exchange: str = DEFAULT_EXCHANGE
    bus_queue_prefix: str = Field(
        "", description="Prepended to queue names, to keep several suites apart on one broker."
    )
    bus_delivery_limit: int = Field(
        5, ge=1, le=100, description="Deliveries of one message before it is dead-lettered."
    )
    bus_prefetch: int = Field(32, ge=1, le=1000)
    bus_retry_backoff_seconds: float = Field(0.2, ge=0)
    bus_retry_backoff_max_seconds: float = Field(5.0, ge=0)
    outbox_poll_interval_seconds: float = Field(
        1.0, gt=0, description="How often the relay sweeps for rows left unsent."
    )
    outbox_batch_size: int = Field(500, ge=1, le=10000)
    outbox_sweep_grace_seconds: float = Field(
        2.0, ge=0, description="How old an unsent row must be before the sweep takes it over."
    )
    outbox_retention_hours: int = Field(72, ge=1)
    inbox_retention_hours: int = Field(168, ge=1)
    grpc_host: str = Field("127.0.0.1", description="0.0.0.0 in a container.")
    grpc_port: int = Field(50051, ge=0, le=65535)
    grpc_reflection: bool = True
    grpc_shutdown_grace_seconds: float = Field(10.0, ge=0)
    identity_address: str = Field(
        "127.0.0.1:50051", description="Where the identity service's gRPC API (and JWKS) is."
    )
    jwt_issuer: str = "https://estuary.local/identity"
    jwt_audience: str = "estuary"
    service_client_secret: str = Field(
        "", description="This service's secret for obtaining service tokens from identity."
    )
    account_status_refresh_seconds: float = Field(
        1.0,
        gt=0,
        description="How often a replica re-reads suspended and deleted accounts "
        "(how long another replica's news takes to reach it).",
    )
    account_status_window_minutes: int = Field(
        120,
        ge=1,
        description="How far back account changes are kept at the door; must exceed the "
        "access token lifetime, after which a blocked user holds no valid token.",
    )
    log_level: str = "INFO"
    log_format: str = Field("json", pattern="^(json|console)$")
    otel_exporter_otlp_endpoint: str | None = None
    metrics_port: int = Field(
        9464,
        ge=0,
        le=65535,
        description="Where `estuary serve` answers Prometheus scrapes (on grpc_host); 0: off.",
    )

    def data_folder(self) -> Path:
        """Where a service keeps files of its own: beside its SQLite database (the embedded
        suite's data folder), else var/data."""
        if self.database_url.startswith(SQLITE_PREFIX):
            return Path(self.database_url.removeprefix(SQLITE_PREFIX)).parent
        return Path("var/data")

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            raise ValueError("use sqlite+aiosqlite:// or postgresql+psycopg://")
        return value

    @field_validator("bus_url")
    @classmethod
    def _supported_bus(cls, value: str) -> str:
        if not value.startswith(("memory://", "amqp://", "amqps://")):
            raise ValueError("use memory://, amqp:// or amqps://")
        return value
