"""Who was in a virtual booking's session room, and for how long: read from streams' room
events (a participant joined, a participant left), which may arrive twice, late or out of
order; so the marks are kept as they came and the presence is worked out from all of them,
in the order they happened."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Presence(StrEnum):
    JOINED = "joined"
    LEFT = "left"


@dataclass(frozen=True)
class Mark:
    """One participant joining or leaving the room, at LiveKit's time."""

    user_id: str
    presence: Presence
    at: datetime


@dataclass(frozen=True)
class Attendee:
    """One participant's time in the room: their first join, last leave, the seconds between
    each join and the leave that follows it, and whether they are still in."""

    user_id: str
    first_joined_at: datetime | None
    last_left_at: datetime | None
    seconds_present: int
    present: bool


def attendee(user_id: str, marks: Iterable[Mark]) -> Attendee:
    """A participant's presence from their marks in any order: a join opens a stay (a second
    join while in changes nothing), the next leave closes it (a leave while out changes
    nothing); at one instant a join counts before a leave."""
    ordered = sorted(marks, key=lambda m: (m.at, m.presence is Presence.LEFT))
    joins = [m.at for m in ordered if m.presence is Presence.JOINED]
    leaves = [m.at for m in ordered if m.presence is Presence.LEFT]
    seconds = 0.0
    since: datetime | None = None
    for mark in ordered:
        if mark.presence is Presence.JOINED and since is None:
            since = mark.at
        elif mark.presence is Presence.LEFT and since is not None:
            seconds += (mark.at - since).total_seconds()
            since = None
    return Attendee(
        user_id,
        joins[0] if joins else None,
        leaves[-1] if leaves else None,
        int(seconds),
        since is not None,
    )


@dataclass(frozen=True)
class Attendance:
    """A booking's room as booking heard of it: its client's and its practitioner's marks."""

    client: Attendee | None = None
    practitioner: Attendee | None = None

    @classmethod
    def of(cls, client_id: str, practitioner_user_id: str, marks: Iterable[Mark]) -> Attendance:
        """The attendance of a booking's two people (anyone else's marks are not theirs)."""
        kept = list(marks)

        def of_user(user_id: str) -> Attendee | None:
            own = [m for m in kept if m.user_id == user_id]
            return attendee(user_id, own) if own else None

        return cls(of_user(client_id), of_user(practitioner_user_id))

    @property
    def client_came(self) -> bool:
        """The client was in the room at some point (a leave alone proves it too)."""
        return self.client is not None

    @property
    def practitioner_came(self) -> bool:
        return self.practitioner is not None


# What the rules see when attendance does not decide (an in-person booking, or an operator
# who turned the rules off): nobody's marks, so nothing is refused or turned into a no-show.
UNHEARD = Attendance()
