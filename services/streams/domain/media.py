"""Media posts: the kinds of post, what each carries, and a stream owner's uploads to their
stream (a slot for one object of an allowed type and size, uploaded by the client straight to
the media store, then carried by one post)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chassis.errors import InvalidArgument
from chassis.ids import is_uuid

# Every post medium's object key: streams' own prefix, then the stream it was uploaded to.
KEY_PREFIX = "streams/"
MEDIA_SEGMENT = "/media/"
GALLERY_MIN = 2
GALLERY_MAX = 20


class PostKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    GALLERY = "gallery"


# The kinds of content type (their part before the slash) each kind of post carries.
KIND_MEDIA: dict[PostKind, frozenset[str]] = {
    PostKind.TEXT: frozenset(),
    PostKind.IMAGE: frozenset({"image"}),
    PostKind.VIDEO: frozenset({"video"}),
    PostKind.AUDIO: frozenset({"audio"}),
    PostKind.GALLERY: frozenset({"image", "video"}),
}


def media_key(stream_id: str, media_id: str) -> str:
    """The media store's key of an upload to a stream."""
    return f"{KEY_PREFIX}{stream_id}{MEDIA_SEGMENT}{media_id}"


@dataclass(frozen=True)
class PostMedium:
    """One uploaded object a post carries, in its place."""

    id: str
    content_type: str
    size: int


@dataclass(frozen=True)
class MediaUpload:
    """A stream owner's upload slot: an object of this type and at most this size, carried
    by no post yet (or by the post it names)."""

    id: str
    stream_id: str
    uploader_user_id: str
    content_type: str
    max_bytes: int
    created_at: datetime
    post_id: str | None = None

    @property
    def key(self) -> str:
        return media_key(self.stream_id, self.id)


def media_count(kind: PostKind) -> tuple[int, int]:
    """How many media a post of this kind carries, at least and at most."""
    if kind is PostKind.TEXT:
        return 0, 0
    if kind is PostKind.GALLERY:
        return GALLERY_MIN, GALLERY_MAX
    return 1, 1


def post_media_ids(kind: PostKind, ids: Sequence[str], field: str = "post.media") -> list[str]:
    """The uploads a post of this kind carries, in order: as many as the kind takes, each an
    upload id once; else an error naming the field."""
    least, most = media_count(kind)
    if not least <= len(ids) <= most:
        wanted = str(least) if least == most else f"{least} to {most}"
        raise InvalidArgument.field(
            field, f"a {kind.value} post carries {wanted} media, not {len(ids)}", "wrong_count"
        )
    for i, media_id in enumerate(ids):
        if not is_uuid(media_id):
            raise InvalidArgument.field(f"{field}[{i}]", "must be an upload's id", "invalid")
        if media_id in ids[:i]:
            raise InvalidArgument.field(f"{field}[{i}]", "is listed twice", "duplicate")
    return list(ids)


def fits_kind(kind: PostKind, content_type: str, field: str) -> None:
    """Refuses, naming the field, an upload whose type a post of this kind does not carry."""
    if content_type.split("/")[0] not in KIND_MEDIA[kind]:
        raise InvalidArgument.field(
            field, f"is {content_type}, which a {kind.value} post does not carry", "wrong_type"
        )


def not_your_upload(field: str) -> InvalidArgument:
    return InvalidArgument.field(
        field, "is not an upload of yours to this stream that no other post carries", "not_found"
    )
