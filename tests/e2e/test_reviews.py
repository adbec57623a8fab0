"""The journey's last steps, on both shapes: a session took place (booking.completed on the
bus, published here as booking sends it) -> its client reviews it through the gateway ->
the practitioner replies, once -> the rating shows in discovery, where min_rating and the
rating sort read it. Another client cannot review the booking, nobody else replies, staff
may hide an abusive review, and a deleted author's words leave with their account.

`publish_completed` and `review_and_see_the_rating` are the steps a booking journey ends
with: once booking emits booking.completed itself, such a journey calls the second alone.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from chassis.bus.envelope import EventType, encode_event
from chassis.ids import new_id
from estuary.booking.v1 import events_pb2 as booking_pb
from tests.e2e.accounts import Account, open_practice, sign_in_admin, sign_up
from tests.e2e.stacks import EventTap, Stack
from tests.e2e.test_catalog_journey import session_body
from tests.e2e.test_catalog_manage import category

BOOKING_COMPLETED = EventType.of(booking_pb.BookingCompleted)
# How long catalog may take to hear of booking.completed (the relay's fast path is
# milliseconds; its sweep, the fallback, a few seconds).
EVENT_SECONDS = 15.0


async def publish_completed(stack: Stack, service: dict[str, Any], client: Account) -> str:
    """booking.completed for a session of the service the client booked, as booking would
    publish it; the booking's id."""
    booking_id = new_id()
    message = booking_pb.BookingCompleted(
        booking=booking_pb.BookingSnapshot(
            booking_id=booking_id,
            service_id=service["id"],
            service_title=service["title"],
            practitioner_id=service["practitioner_id"],
            client_id=client.id,
        ),
        completed_by=booking_pb.ACTOR_SYSTEM,
    )
    message.complete_time.FromDatetime(datetime.now(UTC))
    await stack.publish(
        encode_event(
            BOOKING_COMPLETED,
            message,
            event_id=new_id(),
            source="/estuary/booking",
            subject=f"bookings/{booking_id}",
            time=datetime.now(UTC),
        )
    )
    return booking_id


async def write_review(
    client: httpx.AsyncClient, author: Account, booking_id: str, rating: int, text: str
) -> dict[str, Any]:
    """The author's review of a completed booking, once catalog has heard it completed
    (404 NOT_REVIEWABLE until then)."""
    deadline = asyncio.get_running_loop().time() + EVENT_SECONDS
    while True:
        answer = await client.post(
            f"/api/v1/bookings/{booking_id}/review",
            json={"rating": rating, "text": text},
            headers=author.headers,
        )
        if answer.status_code != 404:
            assert answer.status_code == 201, answer.text
            return answer.json()
        assert answer.json()["code"] == "NOT_REVIEWABLE", answer.text
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"booking {booking_id} not reviewable in {EVENT_SECONDS} s")
        await asyncio.sleep(0.1)


async def review_and_see_the_rating(
    client: httpx.AsyncClient,
    author: Account,
    booking_id: str,
    service: dict[str, Any],
    rating: int,
    text: str,
) -> dict[str, Any]:
    """A completed booking's review, and the service's rating in discovery afterwards (its
    practitioner's listing, best rated first); the review as the author sees it."""
    review = await write_review(client, author, booking_id, rating, text)
    assert (review["rating"], review["text"], review["booking_id"]) == (rating, text, booking_id)
    found = await client.get(
        "/api/v1/services",
        params={"practitioner_id": service["practitioner_id"], "sort": "rating"},
    )
    assert found.status_code == 200, found.text
    listed = {s["id"]: s for s in found.json()["results"]}
    assert listed[service["id"]]["rating_count"] >= 1
    return review


async def test_a_completed_session_is_reviewed_replied_to_and_rated_in_discovery(
    stack: Stack, tap: EventTap
):
    async with stack.client() as client:
        staff = await sign_in_admin(stack, client)
        pat, profile = await open_practice(client, staff)
        yoga = await category(client, staff)
        made = []
        for title in ("Sunrise hatha", "Evening yin"):
            created = await client.post(
                "/api/v1/services", json=session_body(yoga["id"], title), headers=pat.headers
            )
            assert created.status_code == 201, created.text
            made.append(created.json())
        hatha, yin = made
        for fresh in (hatha, yin):
            assert (fresh["rating_average"], fresh["rating_count"]) == (0, 0)
        ana, ben, stranger = await sign_up(client), await sign_up(client), await sign_up(client)

        # Ana's session took place: booking says so on the bus, and she reviews it.
        booking = await publish_completed(stack, hatha, ana)
        review = await review_and_see_the_rating(client, ana, booking, hatha, 5, "Calm, clear.")
        assert review["client_id"] == ana.id and review["service_title"] == "Sunrise hatha"
        assert review["reply"] is None and not review["hidden"] and not review["author_erased"]
        created = await tap.next("review.created", review_id=review["id"])
        assert (created.message.rating, created.message.client_id) == (5, ana.id)
        assert created.message.practitioner_user_id == pat.id

        # Once per booking and client; nobody else reviews her booking.
        again = await client.post(
            f"/api/v1/bookings/{booking}/review",
            json={"rating": 1, "text": "Changed my mind."},
            headers=ana.headers,
        )
        assert again.status_code == 409 and again.json()["code"] == "ALREADY_REVIEWED"
        for intruder in (stranger, pat):
            refused = await client.post(
                f"/api/v1/bookings/{booking}/review",
                json={"rating": 1, "text": "Never went."},
                headers=intruder.headers,
            )
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == "NOT_YOUR_BOOKING"
        anonymous = await client.post(
            f"/api/v1/bookings/{booking}/review", json={"rating": 1, "text": "Hm."}
        )
        assert anonymous.status_code == 401
        bad = await client.post(
            f"/api/v1/bookings/{booking}/review",
            json={"rating": 6, "text": "Too good."},
            headers=ana.headers,
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "rating"
        unknown = await client.post(
            f"/api/v1/bookings/{new_id()}/review",
            json={"rating": 5, "text": "Which one?"},
            headers=ana.headers,
        )
        assert unknown.status_code == 404 and unknown.json()["code"] == "NOT_REVIEWABLE"

        # The practitioner replies, once; the author and strangers cannot.
        reply_url = f"/api/v1/reviews/{review['id']}/reply"
        for intruder in (ana, stranger):
            refused = await client.post(
                reply_url, json={"text": "Thanks to me!"}, headers=intruder.headers
            )
            assert refused.status_code == 403 and refused.json()["code"] == "NOT_YOUR_REVIEW"
        replied = await client.post(reply_url, json={"text": "Thank you!"}, headers=pat.headers)
        assert replied.status_code == 200, replied.text
        assert replied.json()["reply"]["text"] == "Thank you!"
        twice = await client.post(reply_url, json={"text": "Thanks again!"}, headers=pat.headers)
        assert twice.status_code == 409 and twice.json()["code"] == "ALREADY_REPLIED"
        await tap.next("review.replied", review_id=review["id"])

        # Anyone reads the reviews, without whose bookings they were.
        for path in (
            f"/api/v1/services/{hatha['id']}/reviews",
            f"/api/v1/practitioners/{profile['id']}/reviews",
        ):
            public = await client.get(path)
            assert public.status_code == 200, public.text
            [shown] = public.json()["results"]
            assert (shown["rating"], shown["text"], shown["reply"]["text"]) == (
                5,
                "Calm, clear.",
                "Thank you!",
            )
            assert shown["booking_id"] is None and shown["client_id"] is None

        # Ben's three stars bring the average to 4: discovery filters and sorts by it.
        bens = await publish_completed(stack, hatha, ben)
        rude = await write_review(client, ben, bens, 3, "Rushed, and you are an idiot.")
        mine = {"practitioner_id": profile["id"]}

        async def listed(**params: Any) -> list[tuple[str, float, int]]:
            found = await client.get("/api/v1/services", params=mine | params)
            assert found.status_code == 200, found.text
            return [
                (s["title"], s["rating_average"], s["rating_count"])
                for s in found.json()["results"]
            ]

        assert await listed(sort="rating") == [("Sunrise hatha", 4.0, 2), ("Evening yin", 0, 0)]
        assert await listed(min_rating=4.5) == []
        assert await listed(min_rating=4) == [("Sunrise hatha", 4.0, 2)]
        seen = (await client.get(f"/api/v1/practitioners/{profile['id']}")).json()
        assert (seen["rating_average"], seen["rating_count"]) == (4.0, 2)

        # Staff hide the abusive one: its stars leave the ratings, and the public list.
        hide_url = f"/api/v1/reviews/{rude['id']}/hide"
        by_client = await client.post(
            hide_url, json={"hidden": True, "reason": "Insults."}, headers=ana.headers
        )
        assert by_client.status_code == 403
        hidden = await client.post(
            hide_url, json={"hidden": True, "reason": "Insults."}, headers=staff.headers
        )
        assert hidden.status_code == 200 and hidden.json()["hidden"], hidden.text
        assert await listed(min_rating=4.5) == [("Sunrise hatha", 5.0, 1)]
        public = (await client.get(f"/api/v1/services/{hatha['id']}/reviews")).json()
        assert [r["id"] for r in public["results"]] == [review["id"]] and public["total"] == 1
        staff_view = (
            await client.get(f"/api/v1/services/{hatha['id']}/reviews", headers=staff.headers)
        ).json()
        assert [(r["id"], r["hidden"]) for r in staff_view["results"]] == [
            (rude["id"], True),
            (review["id"], False),
        ]

        # Ana deletes her account: her words go, her five stars stay.
        assert (await client.delete("/api/v1/users/me", headers=ana.headers)).status_code == 204

        async def erased() -> dict[str, Any] | None:
            found = (await client.get(f"/api/v1/services/{hatha['id']}/reviews")).json()
            [only] = found["results"]
            return only if only["author_erased"] else None

        deadline = asyncio.get_running_loop().time() + EVENT_SECONDS
        while (withdrawn := await erased()) is None:
            assert asyncio.get_running_loop().time() < deadline, "the author's words stayed"
            await asyncio.sleep(0.1)
        assert (withdrawn["rating"], withdrawn["text"], withdrawn["reply"]["text"]) == (5, "", "")
        assert await listed(min_rating=4.5) == [("Sunrise hatha", 5.0, 1)]
