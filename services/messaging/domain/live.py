"""The live log: each live update kept in the database, at its place in commit order, so a
reconnecting stream can be given what it missed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class UpdateKind(StrEnum):
    """What a logged update tells of."""

    # A message sent, edited or deleted (its subject: the message).
    MESSAGE = "message"
    # A participant read a conversation (its subject: the reader).
    READ = "read"
    # A new in-app notification (its subject: the notification).
    NOTIFICATION = "notification"


@dataclass
class LoggedUpdate:
    """One update of the live log: whose it is (a conversation's participants or one
    recipient) and what it is about; its position and time are given when it commits."""

    kind: UpdateKind
    subject_id: str
    conversation_id: str | None = None
    recipient_user_id: str | None = None
    position: int = 0
    created_at: datetime | None = None

    @property
    def about(self) -> tuple[UpdateKind, str | None, str]:
        """What it is about: a later update about the same thing supersedes it."""
        return self.kind, self.conversation_id, self.subject_id


def latest_of_each(updates: Iterable[LoggedUpdate]) -> list[LoggedUpdate]:
    """The updates in log order, each kept only where nothing later is about the same thing
    (a replay sends a thing's state as it is now, once, at its last change)."""
    latest: dict[tuple[UpdateKind, str | None, str], LoggedUpdate] = {}
    for update in updates:
        latest.pop(update.about, None)
        latest[update.about] = update
    return sorted(latest.values(), key=lambda u: u.position)
