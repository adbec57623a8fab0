"""Streams' configuration: the chassis's settings, its own database and metrics port, and
its video rooms (LiveKit, or the embedded rooms when LiveKit is not configured) and the media
store its posts' uploads go to."""

from __future__ import annotations

from pydantic import Field, model_validator

from chassis.media import MediaSettings
from chassis.media.settings import MiB, largest_of, sized_types
from chassis.settings import ServiceSettings

# What a media post may carry: images, video and audio of the kinds browsers and phones play.
POST_MEDIA_TYPES = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "video/mp4",
    "video/webm",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
]
POST_MEDIA_MAX_BYTES = {"image": 20 * MiB, "video": 1024 * MiB, "audio": 200 * MiB}


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

    media: MediaSettings = Field(
        default_factory=MediaSettings,
        description="The media store posts' images, video and audio are uploaded to "
        "(ESTUARY_MEDIA_*).",
    )
    post_media_types: list[str] = Field(
        default_factory=lambda: list(POST_MEDIA_TYPES),
        min_length=1,
        description="The content types a post's media may have, as JSON (each also one of "
        "ESTUARY_MEDIA_ALLOWED_TYPES).",
    )
    post_media_max_bytes: dict[str, int] = Field(
        default_factory=lambda: dict(POST_MEDIA_MAX_BYTES),
        description="The largest upload for a post per kind of content type (its part "
        "before the slash), in bytes, as JSON; the media store's ESTUARY_MEDIA_MAX_BYTES "
        "caps it.",
    )

    post_media_pending_hours: int = Field(
        24,
        ge=1,
        le=30 * 24,
        description="How long an upload for a post waits to be carried by one before it and "
        "its object are deleted.",
    )
    post_media_sweep_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="How often the objects of uploads no post took in time, and of media a "
        "draft let go, are deleted from the media store.",
    )

    @model_validator(mode="after")
    def _post_media_sized(self) -> StreamsSettings:
        self.post_media_types = sized_types(
            self.post_media_types, self.post_media_max_bytes, "ESTUARY_POST_MEDIA_MAX_BYTES"
        )
        # An upload swept while its form still works would let in a file nothing deletes.
        if self.post_media_pending_hours * 3600 <= self.media.upload_url_ttl_seconds:
            raise ValueError(
                "ESTUARY_POST_MEDIA_PENDING_HOURS must outlast an upload form "
                "(ESTUARY_MEDIA_UPLOAD_URL_TTL_SECONDS)"
            )
        return self

    def largest_post_medium(self, content_type: str) -> int:
        """The largest upload of a content type for a post: streams' limit within the store's."""
        return largest_of(self.post_media_max_bytes, self.media, content_type)
