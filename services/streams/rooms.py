"""Video room handlers: a stream's owner goes live and ends it; the owner and entitled
followers get join tokens for the live, a virtual booking's practitioner and client for its
session room; LiveKit's webhooks say who is in which room, and whoever loses access (an
unfollow, a suspension, a cancelled booking) is removed from the room at once.

Streams checks every admission against its own state before a token is signed: LiveKit
makes a room on the first join, so a token for a room we do not hold must never exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from livekit.protocol.webhook import WebhookEvent

from chassis.auth.principal import Principal
from chassis.bus.consumer import claim_inbox
from chassis.clock import Clock
from chassis.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from chassis.ids import is_uuid, new_id
from chassis.tables import EVENT_ID_LENGTH
from services.streams.desk import stream_id_in, stream_of
from services.streams.domain.rooms import (
    LIVE_ROOM_PREFIX,
    SESSION_ROOM_PREFIX,
    Admission,
    Live,
    SessionAttended,
    SessionRoom,
)
from services.streams.domain.streams import STREAM_PREFIX, post_level
from services.streams.evictions import reaching
from services.streams.uow import StreamsUnitOfWork
from services.streams.video.port import RoomKeys, RoomService, WebhookRejected

# The inbox's consumer name for LiveKit's webhooks: each webhook id is applied once.
WEBHOOK_INBOX = "streams.livekit-webhooks"
JOINED = "participant_joined"
LEFT = "participant_left"
ROOM_FINISHED = "room_finished"
# LiveKit's ids are short (EV_ and twelve characters); a longer one would not fit the inbox's
# key, and PostgreSQL would refuse the row (a 500 instead of the 400 it is).
MAX_WEBHOOK_ID = EVENT_ID_LENGTH


@dataclass(frozen=True)
class RoomPass:
    """A signed join token and what it admits to."""

    admission: Admission
    token: str
    url: str
    expires_at: datetime


def live_name_in(field: str, name: str) -> str:
    """The stream id of "streams/{id}/live"."""
    stream_id = name.removeprefix(STREAM_PREFIX).removesuffix("/live")
    if not name.startswith(STREAM_PREFIX) or not name.endswith("/live") or not is_uuid(stream_id):
        raise InvalidArgument.field(field, "must be streams/{id}/live", "invalid")
    return stream_id


def booking_id_in(field: str, name: str) -> str:
    """The booking id of "bookings/{id}"."""
    booking_id = name.removeprefix("bookings/")
    if not name.startswith("bookings/") or not is_uuid(booking_id):
        raise InvalidArgument.field(field, "must be bookings/{id}", "invalid")
    return booking_id


async def open_session_room(uow: StreamsUnitOfWork, video: RoomService, room: SessionRoom) -> None:
    """A confirmed virtual booking gets its room, once however often it is confirmed."""
    if await uow.rooms.add_session(room, uow.clock.now()):
        await reaching(video.create_room(room.room))


async def move_session_room(uow: StreamsUnitOfWork, room: SessionRoom) -> None:
    """A rescheduled booking's room opens at its new times."""
    if await uow.rooms.session(room.booking_id) is not None:
        await uow.rooms.set_meetings(room.booking_id, room.meetings)


async def close_session_room(uow: StreamsUnitOfWork, video: RoomService, booking_id: str) -> None:
    """A cancelled booking's room goes, and whoever is in it with it."""
    if await uow.rooms.remove_session(booking_id):
        room = SESSION_ROOM_PREFIX + booking_id
        await uow.rooms.emptied(room)
        await reaching(video.delete_room(room))


def _instant(seconds: int, millis: int = 0) -> datetime | None:
    if millis:
        return datetime.fromtimestamp(millis / 1000, UTC)
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


@dataclass
class RoomDesk:
    """What hosts, viewers and session participants do with video rooms."""

    unit_of_work: Callable[..., StreamsUnitOfWork]
    clock: Clock
    video: RoomService
    keys: RoomKeys
    url: str
    token_ttl: timedelta
    lead: timedelta

    async def start_live(self, caller: Principal, parent: str, level: int) -> Live:
        """The owner goes live on their stream for followers at `level` and above."""
        stream_id = stream_id_in("parent", parent)
        async with self.unit_of_work() as uow:
            stream = await stream_of(uow, stream_id)
            if not stream.owned_by(caller.user_id):
                raise PermissionDenied(
                    "only the stream's owner goes live on it", reason="NOT_STREAM_OWNER"
                )
            live = Live(
                new_id(),
                stream_id,
                caller.user_id,
                post_level(stream, level, "level"),
                self.clock.now(),
            )
            # The stream's primary key in lives lets one of two lives started at once in.
            await uow.rooms.start_live(live)
            await reaching(self.video.create_room(live.room))
            await uow.commit()
        return live

    async def end_live(self, caller: Principal, name: str) -> None:
        """The owner ends their live: its room closes and everyone in it leaves."""
        stream_id = live_name_in("name", name)
        async with self.unit_of_work() as uow:
            stream = await stream_of(uow, stream_id)
            if not stream.owned_by(caller.user_id):
                raise PermissionDenied(
                    "only the stream's owner ends its live", reason="NOT_STREAM_OWNER"
                )
            live = await uow.rooms.end_live(stream_id)
            if live is None:
                raise NotFound(f"{STREAM_PREFIX}{stream_id} is not live", reason="LIVE_NOT_FOUND")
            await uow.rooms.emptied(live.room)
            await reaching(self.video.delete_room(live.room))
            await uow.commit()

    async def live_token(self, caller: Principal, name: str) -> RoomPass:
        """A token for the stream's live: the owner hosts, a follower at its level watches."""
        stream_id = live_name_in("name", name)
        async with self.unit_of_work(write=False) as uow:
            await stream_of(uow, stream_id)
            live = await uow.rooms.live_of(stream_id)
            if live is None:
                raise NotFound(f"{STREAM_PREFIX}{stream_id} is not live", reason="LIVE_NOT_FOUND")
            follow = await uow.follows.get(stream_id, caller.user_id)
        return self._pass(live.admit(caller.user_id, None if follow is None else follow.level))

    async def session_token(self, caller: Principal, booking: str) -> RoomPass:
        """A token for a virtual booking's room: its practitioner or client, in its window."""
        booking_id = booking_id_in("booking", booking)
        async with self.unit_of_work(write=False) as uow:
            room = await uow.rooms.session(booking_id)
        if room is None:
            raise NotFound(
                "the booking has no room: it is not a confirmed virtual booking (or its "
                "confirmation has not reached streams yet: retry)",
                reason="ROOM_NOT_FOUND",
            )
        return self._pass(room.admit(caller.user_id, self.clock.now(), self.lead))

    def _pass(self, admission: Admission) -> RoomPass:
        token, expires_at = self.keys.token(admission, self.token_ttl)
        return RoomPass(admission, token, self.url, expires_at)

    async def receive_webhook(self, body: bytes, authorization: str) -> tuple[str, bool]:
        """A LiveKit webhook verified, then applied once; its id and whether this delivery
        applied it."""
        try:
            event = self.keys.webhook(body, authorization)
        except WebhookRejected as refused:
            reason = f"WEBHOOK_{refused.reason.upper()}"
            if refused.reason == "malformed":
                raise InvalidArgument(f"webhook refused: {refused}", reason=reason) from None
            raise Unauthenticated(f"webhook refused: {refused}", reason=reason) from None
        if not event.id or len(event.id) > MAX_WEBHOOK_ID:
            raise InvalidArgument("webhook refused: it has no id", reason="WEBHOOK_MALFORMED")
        async with self.unit_of_work() as uow:
            if not await claim_inbox(uow, WEBHOOK_INBOX, event.id, event.event or "unknown"):
                return event.id, False
            await self._apply(uow, event)
            await uow.commit()
        return event.id, True

    async def _apply(self, uow: StreamsUnitOfWork, event: WebhookEvent) -> None:
        room, user_id = event.room.name, event.participant.identity
        now = self.clock.now()
        if event.event == ROOM_FINISHED and room:
            await uow.rooms.emptied(room)
            return
        if event.event not in (JOINED, LEFT) or not room or not user_id:
            return  # nothing of ours: tracks, egress, a room starting
        joined = event.event == JOINED
        at = (
            _instant(event.participant.joined_at, event.participant.joined_at_ms)
            if joined
            else None
        ) or (_instant(event.created_at) or now)
        if room.startswith(LIVE_ROOM_PREFIX):
            await self._live_presence(uow, room, user_id, at, joined)
        elif room.startswith(SESSION_ROOM_PREFIX):
            await self._session_presence(uow, event.id, room, user_id, at, joined)

    async def _live_presence(
        self, uow: StreamsUnitOfWork, room: str, user_id: str, at: datetime, joined: bool
    ) -> None:
        if not joined:
            await uow.rooms.left(room, user_id)
            return
        live = await uow.rooms.live_by_id(room.removeprefix(LIVE_ROOM_PREFIX))
        if live is None or not await self._may_watch(uow, live, user_id):
            # Their access ended between the token and the join (or the live is over).
            await reaching(self.video.remove_participant(room, user_id))
            return
        await uow.rooms.joined(room, user_id, at)

    async def _may_watch(self, uow: StreamsUnitOfWork, live: Live, user_id: str) -> bool:
        if not await uow.rooms.active(user_id):
            return False
        follow = await uow.follows.get(live.stream_id, user_id)
        return live.admits(user_id, None if follow is None else follow.level)

    async def _session_presence(
        self,
        uow: StreamsUnitOfWork,
        webhook_id: str,
        room: str,
        user_id: str,
        at: datetime,
        joined: bool,
    ) -> None:
        session = await uow.rooms.session(room.removeprefix(SESSION_ROOM_PREFIX))
        role = None if session is None else session.role_of(user_id)
        if session is None or role is None:
            return  # a room we closed, or someone who is not the booking's
        if joined:
            await uow.rooms.joined(room, user_id, at)
        else:
            await uow.rooms.left(room, user_id)
        kind = "joined" if joined else "left"
        await uow.rooms.attended(webhook_id, session.booking_id, user_id, role, kind, at)
        uow.record(SessionAttended(session.booking_id, user_id, role, room, at, joined))
