"""Video rooms on both databases against a fake LiveKit over real HTTP (Twirp, signed
grants): who gets a token with which grants (the host publishes, a follower at the live's
level only watches, a session's practitioner and client within its window, nobody else),
rooms made and closed through RoomService as booking's events say, LiveKit's webhooks
verified and applied once (attendance on the bus), and whoever loses access removed from
the room at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import jwt
import pytest
from livekit.api import AccessToken, VideoGrants
from livekit.protocol.room import CreateRoomRequest, RoomParticipantIdentity

from chassis.accounts import USER_SUSPENDED
from chassis.clock import FrozenClock
from chassis.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.identity.v1 import events_pb2 as identity_pb
from estuary.streams.v1 import events_pb2
from services.streams.bootstrap import StreamsService
from services.streams.events import (
    BOOKING_CANCELLED,
    BOOKING_CONFIRMED,
    BOOKING_RESCHEDULED,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
)
from services.streams.rooms import MAX_WEBHOOK_ID, RoomPass
from services.streams.uow import StreamsUnitOfWork
from services.streams.video.config import RoomsMisconfigured
from services.streams.video.port import body_hash
from tests.builders import outbox_messages, person
from tests.fakes.livekit import API_KEY, API_SECRET, FakeLiveKit, signed_webhook
from tests.integration.streams.world import (
    START,
    TTL,
    built_streams,
    consume,
    follow_at,
    live_on,
    on_livekit,
    practitioner,
    snapshot,
)


def grants(granted: RoomPass) -> dict[str, Any]:
    """The token's claims, verified with the API secret as LiveKit verifies them."""
    claims = jwt.decode(granted.token, API_SECRET, algorithms=["HS256"], issuer=API_KEY)
    assert claims["sub"] == granted.admission.user_id
    assert claims["exp"] - claims["nbf"] == TTL
    return claims["video"]


def watching(room: str) -> dict[str, Any]:
    return {
        "roomJoin": True,
        "room": room,
        "canPublish": False,
        "canSubscribe": True,
        "canPublishData": False,
    }


def publishing(room: str) -> dict[str, Any]:
    return {
        "roomJoin": True,
        "room": room,
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
    }


async def test_the_host_publishes_and_only_followers_at_the_lives_level_watch(empty_database_url):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        rooms = service.rooms
        owner, stream, live = await live_on(service, level=1)
        name = f"streams/{stream.id}/live"
        # The room was made through RoomService, over Twirp, with a valid roomCreate grant.
        assert [r.name for r in fake.called("CreateRoom")] == [live.room]
        assert live.room in fake.rooms

        host = await rooms.live_token(owner, name)
        assert grants(host) == publishing(live.room)
        friend, free, stranger = person(), person(), person()
        await follow_at(service, stream.id, friend, 1)
        await follow_at(service, stream.id, free, 0)
        viewer = await rooms.live_token(friend, name)
        assert grants(viewer) == watching(live.room)
        assert (viewer.admission.role, viewer.admission.user_id) == ("viewer", friend.user_id)

        with pytest.raises(PermissionDenied) as low:
            await rooms.live_token(free, name)
        assert low.value.reason == "TIER_TOO_LOW"
        with pytest.raises(PermissionDenied) as outside:
            await rooms.live_token(stranger, name)
        assert outside.value.reason == "NOT_A_FOLLOWER"


async def test_only_the_owner_starts_and_ends_one_live_at_a_time(empty_database_url):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        rooms = service.rooms
        owner, stream, live = await live_on(service, level=0)
        parent, name = f"streams/{stream.id}", f"streams/{stream.id}/live"
        with pytest.raises(AlreadyExists) as twice:
            await rooms.start_live(owner, parent, 0)
        assert twice.value.reason == "LIVE_IN_PROGRESS"
        rival = practitioner()
        with pytest.raises(PermissionDenied):
            await rooms.start_live(rival, parent, 0)
        with pytest.raises(PermissionDenied):
            await rooms.end_live(rival, name)
        with pytest.raises(InvalidArgument) as level:
            await rooms.end_live(owner, parent)
        assert [v.field for v in level.value.violations] == ["name"]

        await rooms.end_live(owner, name)
        assert [r.room for r in fake.called("DeleteRoom")] == [live.room]
        assert live.room not in fake.rooms
        with pytest.raises(NotFound) as over:
            await rooms.live_token(owner, name)
        assert over.value.reason == "LIVE_NOT_FOUND"
        again = await rooms.start_live(owner, parent, 0)
        assert again.room != live.room


async def test_a_live_needs_a_level_the_stream_has(empty_database_url):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        owner = practitioner()
        stream = await service.desk.create_stream(owner, "Breath", "")
        with pytest.raises(InvalidArgument) as bad:
            await service.rooms.start_live(owner, f"streams/{stream.id}", 3)
        assert [v.field for v in bad.value.violations] == ["level"]
        assert fake.called("CreateRoom") == []


async def test_a_wrong_secret_is_refused_by_livekit_and_no_live_is_recorded(empty_database_url):
    wrong = "not-the-secret-livekit-knows-at-all-0123456789"
    async with on_livekit(empty_database_url, FrozenClock(START), secret=wrong) as (service, fake):
        owner = practitioner()
        stream = await service.desk.create_stream(owner, "Breath", "")
        with pytest.raises(Unavailable) as refused:
            await service.rooms.start_live(owner, f"streams/{stream.id}", 0)
        assert "unauthenticated" in refused.value.message
        assert fake.rooms == {}
        with pytest.raises(NotFound):
            await service.rooms.live_token(owner, f"streams/{stream.id}/live")


async def test_a_virtual_booking_room_admits_its_two_sides_within_its_window(empty_database_url):
    clock = FrozenClock(START)
    async with on_livekit(empty_database_url, clock) as (service, fake):
        rooms = service.rooms
        host, client, stranger = practitioner(), person(), person()
        booking_id = person().user_id
        start = START + timedelta(hours=2)
        confirmed = booking_pb.BookingConfirmed(
            booking=snapshot(booking_id, host.user_id, client.user_id, start)
        )
        for _ in range(2):  # booking.confirmed delivered twice (two event ids): one room
            delivery = await consume(service, "streams.session-rooms", BOOKING_CONFIRMED, confirmed)
            assert delivery.settled == ["ack"]
        room = f"session-{booking_id}"
        assert [r.name for r in fake.called("CreateRoom")] == [room]
        name = f"bookings/{booking_id}"

        clock.advance(start - timedelta(minutes=11) - clock.now())
        with pytest.raises(FailedPrecondition) as early:
            await rooms.session_token(client, name)
        assert early.value.reason == "ROOM_NOT_OPEN_YET"
        clock.advance(timedelta(minutes=1))
        assert grants(await rooms.session_token(client, name)) == publishing(room)
        assert grants(await rooms.session_token(host, name)) == publishing(room)
        with pytest.raises(PermissionDenied) as outside:
            await rooms.session_token(stranger, name)
        assert outside.value.reason == "NOT_A_PARTICIPANT"
        clock.advance(timedelta(hours=1, minutes=10, seconds=1))
        with pytest.raises(FailedPrecondition) as late:
            await rooms.session_token(client, name)
        assert late.value.reason == "SESSION_ENDED"

        later = start + timedelta(days=1)
        moved = booking_pb.BookingRescheduled(
            booking=snapshot(booking_id, host.user_id, client.user_id, later)
        )
        await consume(service, "streams.session-rooms", BOOKING_RESCHEDULED, moved)
        clock.advance(later - clock.now())
        assert (await rooms.session_token(client, name)).admission.room == room

        cancelled = booking_pb.BookingCancelled(booking=confirmed.booking)
        await consume(service, "streams.session-rooms", BOOKING_CANCELLED, cancelled)
        assert [r.room for r in fake.called("DeleteRoom")] == [room]
        with pytest.raises(NotFound) as gone:
            await rooms.session_token(client, name)
        assert gone.value.reason == "ROOM_NOT_FOUND"


async def test_an_in_person_booking_gets_no_room(empty_database_url):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        host, client = practitioner(), person()
        booking_id = person().user_id
        confirmed = booking_pb.BookingConfirmed(
            booking=snapshot(booking_id, host.user_id, client.user_id, START, virtual=False)
        )
        await consume(service, "streams.session-rooms", BOOKING_CONFIRMED, confirmed)
        assert fake.called("CreateRoom") == []
        with pytest.raises(NotFound):
            await service.rooms.session_token(client, f"bookings/{booking_id}")


async def session_room_of(service: StreamsService) -> tuple[str, str, str, str]:
    """A confirmed virtual booking with its room: (booking id, room, practitioner, client)."""
    host, client = practitioner(), person()
    booking_id = person().user_id
    confirmed = booking_pb.BookingConfirmed(
        booking=snapshot(booking_id, host.user_id, client.user_id, START)
    )
    await consume(service, "streams.session-rooms", BOOKING_CONFIRMED, confirmed)
    return booking_id, f"session-{booking_id}", host.user_id, client.user_id


async def test_joining_and_leaving_a_session_room_is_attendance_on_the_bus(empty_database_url):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        booking_id, room, host, client = await session_room_of(service)
        assert (await fake.join(room, client))[1] is True
        await fake.join(room, host)
        await fake.leave(room, client)
        await fake.join(room, person().user_id)  # not the booking's: no attendance

        joined = await outbox_messages(service.runtime.database, PARTICIPANT_JOINED)
        assert [(m.booking_id, m.user_id, m.role, m.room) for m in joined] == [
            (booking_id, client, events_pb2.ROOM_ROLE_CLIENT, room),
            (booking_id, host, events_pb2.ROOM_ROLE_PRACTITIONER, room),
        ]
        left = await outbox_messages(service.runtime.database, PARTICIPANT_LEFT)
        assert [(m.user_id, m.role) for m in left] == [(client, events_pb2.ROOM_ROLE_CLIENT)]
        async with service.runtime.unit_of_work(StreamsUnitOfWork)(write=False) as uow:
            attendance = await uow.rooms.attendance(booking_id)
        assert [(user, kind) for user, _, kind, _ in attendance] == [
            (client, "joined"),
            (host, "joined"),
            (client, "left"),
        ]


async def test_a_webhook_delivered_twice_is_applied_once(empty_database_url):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        _, room, _, client = await session_room_of(service)
        body, token = signed_webhook(fake.webhook("participant_joined", room, client))
        first = await service.rooms.receive_webhook(body, token)
        again = await service.rooms.receive_webhook(body, token)
        assert (first[1], again) == (True, (first[0], False))
        assert len(await outbox_messages(service.runtime.database, PARTICIPANT_JOINED)) == 1


async def test_forged_tampered_and_stale_webhooks_are_refused_and_change_nothing(
    empty_database_url,
):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        _, room, _, client = await session_room_of(service)
        receive = service.rooms.receive_webhook
        event = fake.webhook("participant_joined", room, client)
        forged = signed_webhook(event, secret="someone-elses-secret-of-enough-length-000")
        body, token = signed_webhook(event)
        tampered = body.replace(client.encode(), person().user_id.encode())
        stale = (
            AccessToken(API_KEY, API_SECRET)
            .with_sha256(body_hash(body))
            .with_ttl(timedelta(minutes=-5))
            .to_jwt()
        )
        for sent, auth, reason in [
            (forged[0], forged[1], "WEBHOOK_BAD_SIGNATURE"),
            (tampered, token, "WEBHOOK_BAD_SIGNATURE"),
            (body, "", "WEBHOOK_UNSIGNED"),
            (body, stale, "WEBHOOK_EXPIRED"),
        ]:
            with pytest.raises(Unauthenticated) as refused:
                await receive(sent, auth)
            assert refused.value.reason == reason
        assert await outbox_messages(service.runtime.database, PARTICIPANT_JOINED) == []
        # The genuine one still applies: the refusals claimed nothing in the inbox.
        assert (await receive(body, token))[1] is True


async def test_a_suspended_user_is_removed_from_the_live_at_once(empty_database_url):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        _, stream, live = await live_on(service, level=0)
        viewer, other = person(), person()
        for reader in (viewer, other):
            await service.desk.follow(reader, f"streams/{stream.id}")
            await fake.join(live.room, reader.user_id)
        delivery = await consume(
            service,
            "streams.room-evictions",
            USER_SUSPENDED,
            identity_pb.UserSuspended(user_id=viewer.user_id),
        )
        assert delivery.settled == ["ack"]
        removed = fake.called("RemoveParticipant")
        assert [(r.room, r.identity) for r in removed] == [(live.room, viewer.user_id)]
        assert set(fake.participants[live.room]) == {other.user_id}


async def test_an_unfollower_leaves_the_live_and_a_late_joiner_without_access_is_sent_away(
    empty_database_url,
):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        _, stream, live = await live_on(service, level=0)
        parent = f"streams/{stream.id}"
        viewer, late = person(), person()
        await service.desk.follow(viewer, parent)
        await fake.join(live.room, viewer.user_id)
        await service.desk.unfollow(viewer, parent)
        assert [(r.room, r.identity) for r in fake.called("RemoveParticipant")] == [
            (live.room, viewer.user_id)
        ]
        # A token handed out before the follow ended: the join is answered by a removal.
        await fake.join(live.room, late.user_id)
        assert fake.called("RemoveParticipant")[-1].identity == late.user_id
        assert set(fake.participants[live.room]) == set()


async def test_a_half_configured_livekit_is_refused_naming_what_is_missing(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/streams.db"
    with pytest.raises(RoomsMisconfigured, match="ESTUARY_LIVEKIT_API_SECRET"):
        async with built_streams(
            url, FrozenClock(START), livekit_url="wss://video.example.com", livekit_api_key="k"
        ):
            pass
    with pytest.raises(RoomsMisconfigured, match="at least 32"):
        async with built_streams(
            url,
            FrozenClock(START),
            livekit_url="wss://video.example.com",
            livekit_api_key="k",
            livekit_api_secret="short",
        ):
            pass


async def test_names_that_are_not_ours_and_webhooks_that_are_not_livekits_name_the_field(
    empty_database_url,
):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        rooms, caller = service.rooms, person()
        for call, field in [
            (rooms.live_token(caller, "streams/not-an-id/live"), "name"),
            (rooms.end_live(caller, "lives/1"), "name"),
            (rooms.start_live(caller, "streams/x", 0), "parent"),
            (rooms.session_token(caller, "bookings/../admin"), "booking"),
        ]:
            with pytest.raises(InvalidArgument) as bad:
                await call
            assert [v.field for v in bad.value.violations] == [field]
        # Signed with the secret over its very body, but not a webhook: malformed, not applied.
        not_json = b"participant_joined"
        token = AccessToken(API_KEY, API_SECRET).with_sha256(body_hash(not_json)).to_jwt()
        with pytest.raises(InvalidArgument) as malformed:
            await rooms.receive_webhook(not_json, token)
        assert malformed.value.reason == "WEBHOOK_MALFORMED"
        assert fake.calls == []
        # An id longer than the inbox keeps (PostgreSQL refused its row with a 500): malformed.
        _, room, practitioner, _ = await session_room_of(service)
        for length in (MAX_WEBHOOK_ID + 1, 64):
            event = fake.webhook("participant_joined", room, practitioner)
            event.id = "EV_" + "x" * (length - 3)
            with pytest.raises(InvalidArgument) as too_long:
                await rooms.receive_webhook(*signed_webhook(event))
            assert too_long.value.reason == "WEBHOOK_MALFORMED"
        longest = fake.webhook("participant_joined", room, practitioner)
        longest.id = "EV_" + "x" * (MAX_WEBHOOK_ID - 3)
        assert (await rooms.receive_webhook(*signed_webhook(longest)))[1] is True


async def test_a_finished_room_forgets_who_was_in_it(empty_database_url):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        _, room, _, client = await session_room_of(service)
        await fake.join(room, client)
        body, token = signed_webhook(fake.webhook("room_finished", room, ""))
        assert (await service.rooms.receive_webhook(body, token))[1] is True
        async with service.runtime.unit_of_work(StreamsUnitOfWork)(write=False) as uow:
            assert await uow.rooms.rooms_of(client) == []
        # Nothing left to remove when the client is suspended afterwards.
        await consume(
            service,
            "streams.room-evictions",
            USER_SUSPENDED,
            identity_pb.UserSuspended(user_id=client),
        )
        assert fake.called("RemoveParticipant") == []


async def test_the_fake_livekit_refuses_calls_whose_token_lacks_the_grant():
    """The grants the fake checks are what makes "RoomService reached with valid auth" mean
    something: a join grant cannot make a room, another room's admin cannot remove here."""
    joiner = VideoGrants(room_join=True, room="live-x")
    other_admin = VideoGrants(room_admin=True, room="live-y")
    calls = [
        ("CreateRoom", joiner, CreateRoomRequest(name="live-x")),
        ("RemoveParticipant", other_admin, RoomParticipantIdentity(room="live-x", identity="a")),
    ]
    fake = FakeLiveKit()
    await fake.start()
    try:
        async with aiohttp.ClientSession() as session:
            for method, grants_given, request in calls:
                token = (
                    AccessToken(API_KEY, API_SECRET)
                    .with_identity("someone")
                    .with_grants(grants_given)
                    .to_jwt()
                )
                async with session.post(
                    f"{fake.url}/twirp/livekit.RoomService/{method}",
                    data=request.SerializeToString(),
                    headers={"Authorization": f"Bearer {token}"},
                ) as answer:
                    assert answer.status == 403, method
                    assert (await answer.json())["code"] == "permission_denied"
        assert fake.rooms == {}
    finally:
        await fake.stop()
