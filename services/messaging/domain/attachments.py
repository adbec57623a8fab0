"""Attachments: a participant's upload slot in a conversation, and what a reference to it
must be before a message may carry it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from chassis.errors import InvalidArgument
from chassis.ids import is_uuid
from chassis.media import StoredObject
from chassis.media.port import check_stored

ATTACHMENTS_MAX = 10
# Every attachment's object key, and so its reference: messaging's own prefix, then the
# conversation it was uploaded to.
KEY_PREFIX = "messaging/conversations/"
ATTACHMENTS_SEGMENT = "/attachments/"


def attachment_key(conversation_id: str, attachment_id: str) -> str:
    """The media store's key of an upload to a conversation; also its reference."""
    return f"{KEY_PREFIX}{conversation_id}{ATTACHMENTS_SEGMENT}{attachment_id}"


@dataclass(frozen=True)
class PendingUpload:
    """An upload slot a participant asked for: not yet carried by a message."""

    id: str
    conversation_id: str
    uploader_id: str
    reference: str
    content_type: str
    max_bytes: int
    created_at: datetime


def attachment_references(conversation_id: str, references: Sequence[str]) -> tuple[str, ...]:
    """A message's attachments: at most ATTACHMENTS_MAX distinct references of uploads to
    this conversation, or an error naming the one at fault."""
    if len(references) > ATTACHMENTS_MAX:
        raise InvalidArgument.field(
            "attachments", f"must hold at most {ATTACHMENTS_MAX} references", "too_many"
        )
    ours = f"{KEY_PREFIX}{conversation_id}{ATTACHMENTS_SEGMENT}"
    for i, reference in enumerate(references):
        field = f"attachments[{i}]"
        if not (reference.startswith(ours) and is_uuid(reference.removeprefix(ours))):
            raise InvalidArgument.field(
                field,
                f"must be the reference of an upload to this conversation ({ours}{{id}})",
                "invalid",
            )
        if reference in references[:i]:
            raise InvalidArgument.field(field, "is listed twice", "duplicate")
    return tuple(references)


def not_your_upload(field: str) -> InvalidArgument:
    return InvalidArgument.field(
        field, "is not an upload of yours to this conversation waiting to be sent", "not_found"
    )


def stored_size(field: str, upload: PendingUpload, stored: StoredObject | None) -> int:
    """The size of what was uploaded for the slot, or an error naming the field: nothing
    there, another type than the slot's, empty or over its size."""
    return check_stored(field, stored, upload.content_type, upload.max_bytes)
