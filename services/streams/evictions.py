"""Sending people away from video rooms the moment their access ends (an unfollow, a paid
level lost, a suspension, a creator's erasure), through RemoveParticipant or DeleteRoom: a
token already handed out would otherwise let them stay until they leave."""

from __future__ import annotations

from collections.abc import Awaitable

from chassis.errors import Unavailable
from services.streams.uow import StreamsUnitOfWork
from services.streams.video.port import RoomService, RoomServiceError


async def reaching(call: Awaitable[None]) -> None:
    """A call to the video server; its failure is UNAVAILABLE (the caller may retry)."""
    try:
        await call
    except RoomServiceError as error:
        raise Unavailable(f"the video service did not answer: {error}") from error


async def send_away(
    uow: StreamsUnitOfWork, video: RoomService, user_id: str, rooms: list[str]
) -> None:
    """Removes a user from rooms they are in (RemoveParticipant) and forgets them there."""
    for room in rooms:
        await reaching(video.remove_participant(room, user_id))
        await uow.rooms.left(room, user_id)


async def leave_live(
    uow: StreamsUnitOfWork,
    video: RoomService,
    stream_id: str,
    user_id: str,
    level: int | None = None,
) -> None:
    """A user who may no longer watch a stream's live leaves it now: their follow ended
    (level None), or its level fell below the live's."""
    live = await uow.rooms.live_of(stream_id)
    if (
        live is not None
        and not live.admits(user_id, level)
        and await uow.rooms.is_in(live.room, user_id)
    ):
        await send_away(uow, video, user_id, [live.room])


async def leave_every_room(uow: StreamsUnitOfWork, video: RoomService, user_id: str) -> None:
    """A suspended or erased account leaves every room it is in, now, not at token expiry."""
    await send_away(uow, video, user_id, await uow.rooms.rooms_of(user_id))


async def end_lives_of(uow: StreamsUnitOfWork, video: RoomService, user_id: str) -> None:
    """An erased creator's lives end: their rooms close and everyone in them leaves."""
    for stream_id in await uow.streams.owned_by(user_id):
        live = await uow.rooms.end_live(stream_id)
        if live is not None:
            await uow.rooms.emptied(live.room)
            await reaching(video.delete_room(live.room))
