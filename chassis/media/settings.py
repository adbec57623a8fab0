"""Where media objects live and what may be uploaded, from ESTUARY_MEDIA_* variables."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024
# SigV4 refuses a presigned request valid for longer than seven days.
LONGEST_URL_SECONDS = 7 * 24 * 3600
DEFAULT_TYPES = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "video/mp4",
    "video/webm",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "application/pdf",
]
DEFAULT_MAX_BYTES = {
    "image": 20 * MiB,
    "video": 1024 * MiB,
    "audio": 200 * MiB,
    "application": 25 * MiB,
}
S3_SETTINGS = {
    "bucket": "ESTUARY_MEDIA_BUCKET",
    "access_key": "ESTUARY_MEDIA_ACCESS_KEY",
    "secret_key": "ESTUARY_MEDIA_SECRET_KEY",
}


class MediaSettings(BaseSettings):
    """The media store's configuration, shared by the services that store media and by the
    gateway (which serves the folder store's signed URLs)."""

    model_config = SettingsConfigDict(env_prefix="ESTUARY_MEDIA_", extra="ignore")

    backend: Literal["folder", "s3"] = Field(
        "folder",
        description="folder: files under the data folder, uploaded and served through the "
        "gateway's signed routes (the embedded mode); s3: an S3-compatible object store.",
    )
    folder: str = Field("var/data/media", description="Where the folder backend keeps its files.")
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="The gateway's public address, which the folder backend's signed URLs "
        "point at.",
    )
    signing_secret: str = Field(
        "",
        repr=False,
        description="The key the folder backend's URLs are signed with (HMAC-SHA256); the "
        "services and the gateway must share it.",
    )
    endpoint: str = Field(
        "", description="The S3 endpoint URL; empty: AWS's own endpoint for the region."
    )
    region: str = Field("us-east-1", min_length=1, description="The S3 region signed for.")
    bucket: str = Field("", description="The S3 bucket media objects are kept in.")
    access_key: str = Field("", description="The S3 access key id.")
    secret_key: str = Field("", repr=False, description="The S3 secret access key.")
    path_style: bool = Field(
        True,
        description="Address the bucket in the path (endpoint/bucket/key) rather than as a "
        "host name; most S3-compatible servers want it.",
    )
    allowed_types: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TYPES),
        min_length=1,
        description="The content types an upload may have, as JSON.",
    )
    max_bytes: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_MAX_BYTES),
        description="The largest upload per kind of content type (its part before the "
        'slash), in bytes, as JSON: {"image": 20971520, "video": 1073741824}.',
    )
    upload_url_ttl_seconds: int = Field(
        900, ge=1, le=LONGEST_URL_SECONDS, description="How long an upload form is valid."
    )
    download_url_ttl_seconds: int = Field(
        300,
        ge=1,
        le=LONGEST_URL_SECONDS,
        description="How long a URL to view an object is valid.",
    )

    @field_validator("allowed_types")
    @classmethod
    def _media_types(cls, value: list[str]) -> list[str]:
        types = [t.strip().lower() for t in value]
        for media_type in types:
            kind, slash, subtype = media_type.partition("/")
            if not (kind and slash and subtype) or ";" in media_type or "*" in media_type:
                raise ValueError(f"{media_type!r} is not a content type such as image/png")
        return types

    @field_validator("max_bytes")
    @classmethod
    def _positive_sizes(cls, value: dict[str, int]) -> dict[str, int]:
        for kind, size in value.items():
            if size < 1:
                raise ValueError(f"the largest {kind} upload must be at least one byte")
        return value

    @field_validator("public_url", "endpoint")
    @classmethod
    def _http_address(cls, value: str) -> str:
        address = urlsplit(value)
        if value and (address.scheme not in ("http", "https") or not address.netloc):
            raise ValueError("must be an http(s) address such as https://media.example.com")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _complete(self) -> MediaSettings:
        unsized = sorted({t.split("/")[0] for t in self.allowed_types} - set(self.max_bytes))
        if unsized:
            raise ValueError(
                f"ESTUARY_MEDIA_MAX_BYTES names no largest size for {', '.join(unsized)}"
            )
        given = [name for field, name in S3_SETTINGS.items() if getattr(self, field)]
        if self.backend == "s3":
            missing = [name for field, name in S3_SETTINGS.items() if not getattr(self, field)]
            if missing:
                raise ValueError(
                    f"{', '.join(missing)} must be set when ESTUARY_MEDIA_BACKEND is s3"
                )
        elif given or self.endpoint:
            raise ValueError(
                f"{', '.join(given or ['ESTUARY_MEDIA_ENDPOINT'])} is set but "
                "ESTUARY_MEDIA_BACKEND is folder: set it to s3, or unset the S3 settings"
            )
        return self

    def largest_upload(self, content_type: str) -> int:
        """The largest upload of an allowed content type, in bytes."""
        return self.max_bytes[content_type.split("/")[0]]


def sized_types(types: list[str], max_bytes: dict[str, int], variable: str) -> list[str]:
    """A service's own allowed upload types, normalised, once its largest sizes (the
    `variable` setting) name each type's kind; else a ValueError naming the variable."""
    normalised = [t.strip().lower() for t in types]
    unsized = sorted({t.split("/")[0] for t in normalised} - set(max_bytes))
    if unsized:
        raise ValueError(f"{variable} names no largest size for {', '.join(unsized)}")
    return normalised


def largest_of(max_bytes: dict[str, int], store: MediaSettings, content_type: str) -> int:
    """The largest upload of a content type: a service's own limit within the store's."""
    return min(max_bytes[content_type.split("/")[0]], store.largest_upload(content_type))
