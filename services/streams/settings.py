"""Streams' configuration: the chassis's settings, its own database and metrics port, and
its video rooms (LiveKit, or the embedded rooms when LiveKit is not configured)."""

from __future__ import annotations

from pydantic import Field

from chassis.settings import ServiceSettings


class StreamsSettings(ServiceSettings):
    """ESTUARY_* environment variables read by the streams service."""

    service_name: str = "streams"
    database_url: str = "sqlite+aiosqlite:///var/data/streams.db"
    metrics_port: int = 9469
    livekit_url: str = Field(
        "",
        description="LiveKit's address (wss://... or https://...): set with the API key and "
        "secret, rooms run on LiveKit; all three unset, on the embedded rooms.",
    )
    livekit_api_key: str = Field("", description="LiveKit's API key.")
    livekit_api_secret: str = Field(
        "",
        repr=False,
        description="LiveKit's API secret (32 characters or more): signs join tokens and "
        "verifies LiveKit's webhooks.",
    )
    room_token_ttl_seconds: int = Field(
        300,
        ge=30,
        le=3600,
        description="How long a room join token may be used to join (a participant in the "
        "room stays until they leave or are removed).",
    )
    session_room_lead_minutes: int = Field(
        10,
        ge=0,
        le=24 * 60,
        description="How long before a virtual session starts its room admits its "
        "practitioner and client.",
    )
    room_empty_timeout_seconds: int = Field(
        600,
        ge=10,
        le=24 * 3600,
        description="How long LiveKit keeps a room nobody is in before closing it.",
    )
    scheduled_post_check_seconds: float = Field(
        15.0,
        ge=1.0,
        le=3600.0,
        description="How often scheduled drafts whose time has come are published (a post "
        "goes out at most this long after its time).",
    )
