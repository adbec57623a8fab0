"""Video rooms' rules on plain values: who may enter a stream's live or a booking's session
room, with which rights, and when. The host of a live publishes and its viewers only watch;
a session room admits its practitioner and its client, each publishing, from a lead time
before one of its meetings until that meeting's end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.errors import FailedPrecondition, PermissionDenied

LIVE_ROOM_PREFIX = "live-"
SESSION_ROOM_PREFIX = "session-"


def live_room(live_id: str) -> str:
    """The LiveKit room of a live: named from our id, never from anything a user typed."""
    return f"{LIVE_ROOM_PREFIX}{live_id}"


def session_room(booking_id: str) -> str:
    """The LiveKit room of a booking's session."""
    return f"{SESSION_ROOM_PREFIX}{booking_id}"


class RoomRole(StrEnum):
    HOST = "host"
    VIEWER = "viewer"
    PRACTITIONER = "practitioner"
    CLIENT = "client"


@dataclass(frozen=True)
class Admission:
    """Who enters which room, and whether they may publish there."""

    room: str
    user_id: str
    role: RoomRole

    @property
    def can_publish(self) -> bool:
        return self.role is not RoomRole.VIEWER


@dataclass(frozen=True)
class Live:
    """A stream's live in progress (one at a time per stream)."""

    id: str
    stream_id: str
    host_user_id: str
    level: int
    started_at: datetime

    @property
    def room(self) -> str:
        return live_room(self.id)

    def admit(self, user_id: str, follower_level: int | None) -> Admission:
        """The host publishes; a follower at or above the live's level watches."""
        if user_id == self.host_user_id:
            return Admission(self.room, user_id, RoomRole.HOST)
        if follower_level is None:
            raise PermissionDenied("follow the stream to watch its live", reason="NOT_A_FOLLOWER")
        if follower_level < self.level:
            raise PermissionDenied(
                f"the live is for tier level {self.level} and above; you follow at "
                f"level {follower_level}",
                reason="TIER_TOO_LOW",
            )
        return Admission(self.room, user_id, RoomRole.VIEWER)

    def admits(self, user_id: str, follower_level: int | None) -> bool:
        """Whether `admit` lets this user in at this level."""
        try:
            self.admit(user_id, follower_level)
        except PermissionDenied:
            return False
        return True


@dataclass(frozen=True)
class Meeting:
    """One dated stretch of a booking (a session, or one of a course's meetings)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class SessionRoom:
    """A virtual booking's room, as streams knows the booking from booking's events."""

    booking_id: str
    practitioner_user_id: str
    client_user_id: str
    meetings: tuple[Meeting, ...]

    @property
    def room(self) -> str:
        return session_room(self.booking_id)

    def role_of(self, user_id: str) -> RoomRole | None:
        if user_id == self.practitioner_user_id:
            return RoomRole.PRACTITIONER
        if user_id == self.client_user_id:
            return RoomRole.CLIENT
        return None

    def admit(self, user_id: str, now: datetime, lead: timedelta) -> Admission:
        """Its practitioner or client, from `lead` before a meeting's start to its end."""
        role = self.role_of(user_id)
        if role is None:
            raise PermissionDenied(
                "only the booking's practitioner and client enter its room",
                reason="NOT_A_PARTICIPANT",
            )
        if any(m.start - lead <= now <= m.end for m in self.meetings):
            return Admission(self.room, user_id, role)
        if any(now < m.start - lead for m in self.meetings):
            upcoming = min(m.start for m in self.meetings if now < m.start - lead)
            raise FailedPrecondition(
                f"the room opens {int(lead.total_seconds() // 60)} minutes before the "
                f"session starts ({upcoming.isoformat()})",
                reason="ROOM_NOT_OPEN_YET",
            )
        raise FailedPrecondition("the session is over", reason="SESSION_ENDED")


@dataclass(frozen=True)
class SessionAttended:
    """A booking's practitioner or client joined (or left) its session room."""

    booking_id: str
    user_id: str
    role: RoomRole
    room: str
    at: datetime
    joined: bool
