"""The gateway's configuration, from ESTUARY_* environment variables."""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from chassis.media import MediaSettings

BACKEND_ADDRESS = re.compile(r"ESTUARY_([A-Z][A-Z0-9]*)_ADDRESS", re.IGNORECASE)


class BackendAddresses(PydanticBaseSettingsSource):
    """ESTUARY_<SERVICE>_ADDRESS for every service, declared or not: the gateway learns
    which services there are from their declarations, not from a field per service."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {
            f"{found[1].lower()}_address": value
            for name, value in os.environ.items()
            if (found := BACKEND_ADDRESS.fullmatch(name))
        }


class GatewaySettings(BaseSettings):
    """Where the backends are, and the edge's own policies (body and rate limits, CORS)."""

    # Extra values are the backends' addresses, `<service>_address`, from the environment
    # (ESTUARY_<SERVICE>_ADDRESS) or given as arguments.
    model_config = SettingsConfigDict(env_prefix="ESTUARY_", extra="allow")

    http_host: str = Field("127.0.0.1", description="0.0.0.0 in a container.")
    http_port: int = Field(8000, ge=0, le=65535)
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
    rate_limit_webhooks_per_minute: int = Field(
        600,
        ge=1,
        description="Deliveries a minute per address to the providers' webhook routes (signed "
        "by the provider, so not in the anonymous budget a busy day of events would exhaust).",
    )
    rate_limit_messages_per_minute: int = Field(
        30, ge=1, description="Messages one user may send a minute, in all conversations."
    )
    trust_forwarded_for: bool = Field(
        False,
        description="Take the client address from the last X-Forwarded-For entry, the one "
        "our proxy appended (behind exactly one proxy).",
    )
    cors_origins: list[str] = Field(default_factory=list)
    media: MediaSettings = Field(
        default_factory=MediaSettings,
        description="The media store's settings (ESTUARY_MEDIA_*): the folder store's files "
        "and signing secret, whose upload and download URLs the gateway serves.",
    )
    log_level: str = "INFO"
    log_format: str = Field("json", pattern="^(json|console)$")
    otel_exporter_otlp_endpoint: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            BackendAddresses(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    def backend_address(self, service: str, port: int) -> str:
        """Where a service is: ESTUARY_<SERVICE>_ADDRESS, else its declared port on loopback."""
        given = (self.model_extra or {}).get(f"{service}_address")
        return str(given) if given else f"127.0.0.1:{port}"
