"""A virtual booking's session room on LiveKit, end to end on both shapes (LiveKit played by
the fake of tests/fakes/livekit.py, which speaks its Twirp API, and whose webhooks the test
signs as LiveKit signs them): two clients book and pay a practitioner's virtual session,
each confirmation makes its room at LiveKit, only the booking's practitioner and client may
ask to enter (and not yet: the session is a day away), LiveKit's webhooks of who joined reach
booking through the gateway and streams (a stranger's join, a replayed webhook and a forged
one change nothing), and once the sessions ended booking's job completes the one both came
to and marks the other, where the practitioner waited alone, a no-show, which its client is
told. Both earn their practitioner: what a client who did not come paid is kept."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from livekit.protocol.models import ParticipantInfo, Room
from livekit.protocol.webhook import WebhookEvent

from estuary.streams.v1 import events_pb2 as streams_pb
from tests.e2e.accounts import Account, sign_up
from tests.e2e.booking_steps import book, booking_becomes, first_slot, new_client, run_job
from tests.e2e.stacks import EventTap, Stack, start_embedded
from tests.e2e.test_catalog_journey import eventually
from tests.e2e.test_payments_journey import (
    EVENT_SECONDS,
    booked_practice,
    card_step,
    checkout,
    ledger_check,
)
from tests.fakes.livekit import FakeLiveKit, signed_webhook

WEBHOOKS = "/api/v1/webhooks/livekit"
EUR_70 = {"amount_minor": 7000, "currency": "EUR"}


@pytest.fixture(params=["embedded", "production"])
async def video_stack(request, tmp_path) -> AsyncIterator[tuple[Stack, FakeLiveKit]]:
    """Each shape with its rooms on LiveKit: the production stack's own, and an embedded
    suite told LiveKit's address, key and secret (its default, unconfigured, keeps rooms in
    process and signs with a secret nobody else has)."""
    if request.param == "production":
        production = request.getfixturevalue("production_stack")
        yield production, production.video.fake
        return
    livekit = FakeLiveKit()
    await livekit.start()
    embedded = await start_embedded(
        tmp_path / "data", service_overrides={"streams": livekit.settings()}
    )
    try:
        yield embedded, livekit
    finally:
        await embedded.suite.stop()
        await livekit.stop()


def joined(booking_id: str, user_id: str, at: datetime) -> WebhookEvent:
    """LiveKit's participant_joined of a booking's session room, as it would send it."""
    seconds = int(at.timestamp())
    return WebhookEvent(
        event="participant_joined",
        id=f"EV_{secrets.token_hex(6)}",  # as LiveKit's: EV_ and twelve characters
        created_at=seconds,
        room=Room(name=f"session-{booking_id}", sid=f"RM_{booking_id}"),
        participant=ParticipantInfo(
            sid=f"PA_{user_id}", identity=user_id, joined_at=seconds, joined_at_ms=seconds * 1000
        ),
    )


async def send(client: httpx.AsyncClient, body: bytes, authorization: str) -> httpx.Response:
    return await client.post(
        WEBHOOKS,
        content=body,
        headers={"Authorization": authorization, "Content-Type": "application/webhook+json"},
    )


async def paid(client: httpx.AsyncClient, who: Account, booking_id: str) -> dict[str, Any]:
    """The booking checked out and paid by card; as it reads once confirmed."""
    order = (await checkout(client, who, booking_id)).json()
    answer = await card_step(client, who, order["payment_intent_id"], "pm_card_visa")
    assert answer.json()["status"] == "succeeded", answer.text
    return await booking_becomes(client, who, booking_id, "confirmed")


async def test_a_virtual_session_gets_a_room_attendance_decides_how_it_ends_and_both_earn(
    video_stack: tuple[Stack, FakeLiveKit],
):
    stack, livekit = video_stack
    tap: EventTap = await stack.tap()
    try:
        async with stack.client() as client:
            await journey(client, stack, livekit, tap)
    finally:
        await tap.close()


async def journey(
    client: httpx.AsyncClient, stack: Stack, livekit: FakeLiveKit, tap: EventTap
) -> None:
    # A day's notice: the room opens 10 minutes before its session, so a session in the
    # next slot would already be open when the test runs in the practitioner's hours.
    practice, cleo, first = await booked_practice(
        client, stack, price=EUR_70, min_notice_minutes=24 * 60
    )
    pia = practice.owner
    [session] = practice.services
    dan = await new_client(client)
    later = await first_slot(client, session["id"], skip=2)
    second = await book(client, dan, session["id"], later["start_time"])
    assert second.status_code == 201, second.text
    attended = await paid(client, cleo, first["id"])
    missed = await paid(client, dan, second.json()["id"])
    assert attended["location_kind"] == "virtual"

    # Each confirmation makes its room at LiveKit.
    rooms = {f"session-{attended['id']}", f"session-{missed['id']}"}

    async def made() -> bool:
        return rooms <= set(livekit.rooms)

    assert await eventually(made, timeout=EVENT_SECONDS)
    # Only the booking's practitioner and client may enter, from shortly before the start.
    stranger = await sign_up(client)
    token_route = f"/api/v1/bookings/{attended['id']}/room/token"
    outsider = await client.post(token_route, headers=stranger.headers)
    assert (outsider.status_code, outsider.json()["code"]) == (403, "NOT_A_PARTICIPANT")
    for who in (pia, cleo):
        early = await client.post(token_route, headers=who.headers)
        assert (early.status_code, early.json()["code"]) == (409, "ROOM_NOT_OPEN_YET"), early.text

    # LiveKit says who joined: both to the first session, only the practitioner to the second.
    start = datetime.fromisoformat(attended["times"][0]["start_time"])
    both = [joined(attended["id"], who.id, start + timedelta(minutes=2)) for who in (pia, cleo)]
    alone = joined(missed["id"], pia.id, datetime.fromisoformat(missed["times"][0]["start_time"]))
    for event in (*both, alone):
        answer = await send(client, *signed_webhook(event, livekit.api_secret))
        assert answer.status_code == 200 and answer.json()["applied"], answer.text
    replayed = await send(client, *signed_webhook(both[1], livekit.api_secret))
    assert (replayed.status_code, replayed.json()["applied"]) == (200, False), replayed.text
    intruder = joined(attended["id"], stranger.id, start)
    ignored = await send(client, *signed_webhook(intruder, livekit.api_secret))
    assert ignored.status_code == 200, ignored.text
    body, _ = signed_webhook(joined(missed["id"], dan.id, start), livekit.api_secret)
    forged = await send(client, body, signed_webhook(alone, livekit.api_secret)[1])
    assert (forged.status_code, forged.json()["code"]) == (401, "WEBHOOK_BAD_SIGNATURE")

    heard = [
        await tap.next("room.participant_joined", EVENT_SECONDS, booking_id=b, user_id=u)
        for b, u in ((attended["id"], pia.id), (attended["id"], cleo.id), (missed["id"], pia.id))
    ]
    assert [h.message.role for h in heard] == [
        streams_pb.ROOM_ROLE_PRACTITIONER,
        streams_pb.ROOM_ROLE_CLIENT,
        streams_pb.ROOM_ROLE_PRACTITIONER,
    ]

    # Booking hears of it, for each booking's client and practitioner to read.
    async def came(who: Account, booking_id: str) -> dict[str, Any] | None:
        found = await client.get(f"/api/v1/bookings/{booking_id}", headers=who.headers)
        attendance = found.json()["attendance"]
        return attendance if attendance and attendance["practitioner"] else None

    assert (await eventually(lambda: came(cleo, attended["id"]), EVENT_SECONDS))["client"]
    assert (await eventually(lambda: came(dan, missed["id"]), EVENT_SECONDS))["client"] is None

    # Both sessions ended: booking's job settles each by who came.
    ended = datetime.fromisoformat(missed["times"][0]["end_time"])
    assert await run_job(stack, "complete_ended", ended + timedelta(hours=3)) >= 2
    await booking_becomes(client, cleo, attended["id"], "completed")
    await booking_becomes(client, dan, missed["id"], "no_show")
    no_show = await tap.next("booking.no_show", EVENT_SECONDS, where=_of(missed["id"]))
    assert no_show.message.amount_paid.amount_minor == 7000

    # The client who missed it hears so, and that it is not refunded.
    async def told() -> dict[str, Any] | None:
        found = await client.get("/api/v1/me/notifications", headers=dan.headers)
        kinds = {n["kind"]: n for n in found.json()["results"]}
        return kinds.get("booking_no_show")

    notice = await eventually(told, timeout=EVENT_SECONDS)
    assert notice["subject"] == f"bookings/{missed['id']}", notice
    for booking in (attended, missed):
        recorded = await tap.next("earning.recorded", EVENT_SECONDS, booking_id=booking["id"])
        assert (
            recorded.message.practitioner_user_id,
            recorded.message.earning.amount_minor,
            recorded.message.commission.amount_minor,
        ) == (pia.id, 5600, 1400)
    assert "every invariant holds" in ledger_check(stack)


def _of(booking_id: str) -> Any:
    return lambda message: message.booking.booking_id == booking_id
