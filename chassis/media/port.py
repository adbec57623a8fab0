"""The media store's port: uploads straight from the client, with a form limited in size and
content type; private objects read through short-lived signed URLs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chassis.errors import InvalidArgument
from chassis.media.settings import MediaSettings

KEY_MAX_LENGTH = 512
# S3 allows longer ones; SeaweedFS and MinIO keep each segment as a file name, at most 255.
SEGMENT_MAX_LENGTH = 255
# Segments of letters, digits, '.', '_' and '-', none starting with a dot: no '..', no hidden
# files, nothing a file system or a URL reads otherwise than as written.
KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")


@dataclass(frozen=True)
class UploadForm:
    """What a client needs to upload one object: a multipart/form-data POST to `url` with
    `fields`, then the file as the last part, named `file` (S3's POST policy upload)."""

    url: str
    fields: dict[str, str]
    key: str
    content_type: str
    max_bytes: int
    expires_at: datetime


@dataclass(frozen=True)
class SignedUrl:
    """A URL that reads one private object until it expires."""

    url: str
    expires_at: datetime


@dataclass(frozen=True)
class StoredObject:
    """What the store holds under a key: a service checks it before accepting a reference."""

    key: str
    size: int
    content_type: str


@dataclass(frozen=True)
class UploadRequest:
    """An upload the settings allow: its key, content type, largest size and the seconds its
    form lives."""

    key: str
    content_type: str
    max_bytes: int
    expires_in: int


class MediaStore(Protocol):
    """Private media objects: presigned uploads and downloads, a look at what was stored."""

    settings: MediaSettings

    async def presign_upload(
        self,
        key: str,
        content_type: str,
        *,
        max_bytes: int | None = None,
        expires_in: int | None = None,
    ) -> UploadForm:
        """A form that uploads one object of this type and at most this size to the key,
        valid for expires_in seconds (at most, and by default, the setting's)."""
        ...

    async def stat(self, key: str) -> StoredObject | None:
        """What is stored under the key, or None."""
        ...

    async def download_url(self, key: str, *, expires_in: int | None = None) -> SignedUrl:
        """A URL that reads the object for expires_in seconds (at most, and by default, the
        setting's)."""
        ...

    async def delete(self, key: str) -> None:
        """Removes the object, if there is one."""
        ...

    async def close(self) -> None:
        """Releases the store's connections."""
        ...


def check_key(key: str) -> str:
    """The object key, or an error naming it: segments of [A-Za-z0-9._-] split by '/'."""
    if not key:
        raise InvalidArgument.field("key", "is required", "required")
    if len(key) > KEY_MAX_LENGTH:
        raise InvalidArgument.field(
            "key", f"must be at most {KEY_MAX_LENGTH} characters", "too_long"
        )
    if not KEY.fullmatch(key):
        raise InvalidArgument.field(
            "key",
            "must be segments of letters, digits, '.', '_' and '-' separated by '/', "
            "none empty or starting with '.'",
            "invalid_key",
        )
    if any(len(segment) > SEGMENT_MAX_LENGTH for segment in key.split("/")):
        raise InvalidArgument.field(
            "key",
            f"must have segments of at most {SEGMENT_MAX_LENGTH} characters between '/'",
            "too_long",
        )
    return key


def check_lifetime(expires_in: int | None, longest: int) -> int:
    """The seconds a form or URL lives: as asked, from 1 to the setting's; else the setting's."""
    if expires_in is None:
        return longest
    if not 1 <= expires_in <= longest:
        raise InvalidArgument.field(
            "expires_in", f"must be between 1 and {longest} seconds", "out_of_range"
        )
    return expires_in


def allowed_type(content_type: str, allowed: Sequence[str]) -> str:
    """A content type one of `allowed` names (case and spaces aside), or an error naming
    content_type: what a service lets its users upload, within the store's own list."""
    media_type = content_type.strip().lower()
    if media_type not in allowed:
        raise InvalidArgument.field(
            "content_type", f"must be one of {', '.join(allowed)}", "unsupported_type"
        )
    return media_type


def check_stored(field: str, stored: StoredObject | None, content_type: str, max_bytes: int) -> int:
    """The size of what was uploaded under a form of this type and size, or an error naming
    the field: nothing there, another type, empty or over the size."""
    if stored is None:
        raise InvalidArgument.field(field, "was not uploaded", "not_uploaded")
    if stored.content_type.strip().lower() != content_type:
        raise InvalidArgument.field(
            field, f"holds {stored.content_type}, not {content_type}", "wrong_type"
        )
    if not 1 <= stored.size <= max_bytes:
        raise InvalidArgument.field(field, f"must hold 1 to {max_bytes} bytes", "wrong_size")
    return stored.size


def check_upload(
    settings: MediaSettings,
    key: str,
    content_type: str,
    max_bytes: int | None,
    expires_in: int | None = None,
) -> UploadRequest:
    """The upload these settings allow, or an error naming the field at fault."""
    media_type = allowed_type(content_type, settings.allowed_types)
    largest = settings.largest_upload(media_type)
    if max_bytes is None:
        max_bytes = largest
    elif not 1 <= max_bytes <= largest:
        raise InvalidArgument.field(
            "max_bytes",
            f"must be between 1 and {largest} bytes for {media_type}",
            "out_of_range",
        )
    return UploadRequest(
        check_key(key),
        media_type,
        max_bytes,
        check_lifetime(expires_in, settings.upload_url_ttl_seconds),
    )
