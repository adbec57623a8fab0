"""Conversations: who may start one with whom, and what a message may hold."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from chassis.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from chassis.media import SignedUrl

# A conversation's resource name: "conversations/{id}".
CONVERSATION_PREFIX = "conversations/"
MESSAGE_MAX_LENGTH = 4000
# Newlines and tabs are text; other control characters are not (they hide or reorder it).
ALLOWED_CONTROLS = frozenset("\n\t")


@dataclass(frozen=True)
class Attachment:
    """An uploaded object a message carries: its reference (the media store's key), what
    the store holds, and a URL to read it when handed to a participant."""

    reference: str
    content_type: str
    size: int
    download: SignedUrl | None = None


@dataclass(frozen=True)
class Message:
    id: str
    conversation_id: str
    sender_id: str
    text: str
    reply_to_id: str
    created_at: datetime
    sender_erased: bool = False
    edited_at: datetime | None = None
    # Deleted by its sender: the text is gone for its readers (staff keep what it said).
    deleted_at: datetime | None = None
    # Uploaded objects it carries, in the order sent; none once deleted.
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Revision:
    """What a message said before an edit ("edited") or its deletion ("deleted")."""

    text: str
    reason: str
    replaced_at: datetime


def not_your_message() -> PermissionDenied:
    return PermissionDenied("only its sender edits or deletes a message", reason="NOT_YOUR_MESSAGE")


def message_deleted() -> FailedPrecondition:
    return FailedPrecondition("the message was deleted", reason="MESSAGE_DELETED")


@dataclass(frozen=True)
class Conversation:
    """A conversation, direct or a group, as one participant sees it."""

    id: str
    participant_ids: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    unread: int = 0
    last_message: Message | None = None
    # Each participant's newest read message ("" before any): read receipts.
    read_up_to: Mapping[str, str] = field(default_factory=dict)
    is_group: bool = False
    title: str = ""
    admin_ids: tuple[str, ...] = ()
    # The viewer archived it: out of their list until someone writes in it again.
    archived: bool = False


@dataclass(frozen=True)
class Membership:
    """A conversation as a participant writing to it needs it: who is in it, and whether a
    block stands between the writer and the other person of a direct conversation (no
    messages either way then; a group goes on for its other members)."""

    conversation: Conversation
    blocked: bool


GROUP_TITLE_MAX_LENGTH = 100
# Everyone in a group, its maker included.
GROUP_MAX_PARTICIPANTS = 50


def group_title(title: str) -> str:
    """A group's title, or an error naming the field."""
    title = title.strip()
    if not title:
        raise InvalidArgument.field("title", "must name the group", "required")
    if len(title) > GROUP_TITLE_MAX_LENGTH:
        raise InvalidArgument.field(
            "title", f"must be at most {GROUP_TITLE_MAX_LENGTH} characters", "too_long"
        )
    if any(unicodedata.category(c) == "Cc" for c in title):
        raise InvalidArgument.field("title", "must not hold control characters", "invalid")
    return title


def group_full() -> FailedPrecondition:
    return FailedPrecondition(
        f"a group holds at most {GROUP_MAX_PARTICIPANTS} people", reason="GROUP_FULL"
    )


def not_a_group() -> FailedPrecondition:
    return FailedPrecondition(
        "a direct conversation keeps its two participants: start a group instead",
        reason="NOT_A_GROUP",
    )


def not_an_admin() -> PermissionDenied:
    return PermissionDenied(
        "only the group's admins add or remove others and rename it", reason="NOT_A_GROUP_ADMIN"
    )


def direct_key(one: str, other: str) -> str:
    """What makes a direct conversation one per pair, whoever started it."""
    return ":".join(sorted((one, other)))


@dataclass(frozen=True)
class Standing:
    """What messaging knows of a would-be pair when one asks to write to the other."""

    caller_is_staff: bool
    other_is_practitioner: bool
    other_is_callers_client: bool
    blocked: bool


def may_start(
    caller_id: str, other_id: str, standing: Standing, field: str = "participant_user_id"
) -> None:
    """A client may write to a practitioner, a practitioner to their clients (someone who
    booked them), staff to anyone; never to oneself, never across a block. The same rule
    says whom one may bring into a group."""
    if caller_id == other_id:
        raise InvalidArgument.field(field, "is you: a conversation needs someone else", "self")
    if standing.blocked:
        raise blocked()
    if not (
        standing.caller_is_staff
        or standing.other_is_practitioner
        or standing.other_is_callers_client
    ):
        raise PermissionDenied(
            "you may write to practitioners, and a practitioner to their clients",
            reason="NOT_A_PRACTITIONER_OR_CLIENT",
        )


def blocked() -> FailedPrecondition:
    return FailedPrecondition(
        "one of you has blocked the other: no messages either way", reason="BLOCKED"
    )


def message_text(text: str, *, attachments: bool = False) -> str:
    """The text of a message, or an error naming the field; empty only beside attachments."""
    if not text.strip():
        if attachments and not text:
            return text
        raise InvalidArgument.field("text", "must not be empty", "required")
    if len(text) > MESSAGE_MAX_LENGTH:
        raise InvalidArgument.field(
            "text", f"must be at most {MESSAGE_MAX_LENGTH} characters", "too_long"
        )
    if any(unicodedata.category(c) == "Cc" and c not in ALLOWED_CONTROLS for c in text):
        raise InvalidArgument.field(
            "text", "must not hold control characters (newlines and tabs are fine)", "invalid"
        )
    return text


REPORT_REASON_MAX_LENGTH = 500


@dataclass(frozen=True)
class MessageReport:
    """A message a participant reported to staff."""

    id: str
    message: Message
    reporter_id: str
    reason: str
    created_at: datetime


def report_reason(reason: str) -> str:
    """Why a message is reported, or an error naming the field."""
    reason = reason.strip()
    if not reason:
        raise InvalidArgument.field("reason", "must say why", "required")
    if len(reason) > REPORT_REASON_MAX_LENGTH:
        raise InvalidArgument.field(
            "reason", f"must be at most {REPORT_REASON_MAX_LENGTH} characters", "too_long"
        )
    return reason
