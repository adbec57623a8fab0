"""A client's way through booking, across identity, catalog and booking, through the gateway,
on both shapes: a practitioner approved, hours saved (catalog's onboarding follows), a free
and a paid session on sale, slots in the client's zone, a free booking confirmed at once, a
paid one held and confirmed by payments' payment.succeeded (put on the bus by the test),
completion by booking's job, booking.completed on the bus with what was paid, and the
client's review of it, whose rating discovery then filters and sorts by.

Time moves through the job's handler, told the moment to act as of (see booking_steps.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from icalendar import Calendar

from tests.e2e.booking_steps import (
    book,
    booking_becomes,
    first_slot,
    new_client,
    open_for_business,
    pay,
    run_job,
)
from tests.e2e.stacks import EventTap, Stack
from tests.e2e.test_catalog_journey import eventually, session_body
from tests.e2e.test_reviews import review_and_see_the_rating

EVENT_SECONDS = 20.0


async def test_from_hours_to_a_completed_paid_booking(stack: Stack, tap: EventTap):
    async with stack.client() as client:
        practice = await open_for_business(
            client,
            stack,
            session_body("", "Intro call", price={"amount_minor": 0, "currency": "EUR"}),
            session_body("", "Deep tissue massage", buffer_after_minutes=15),
        )
        free, paid = practice.services
        await tap.next("schedule.saved", EVENT_SECONDS, practitioner_id=practice.practitioner_id)

        # Catalog hears the hours were saved: onboarding's availability step is done.
        async def onboarded():
            me = await client.get("/api/v1/practitioners/me", headers=practice.owner.headers)
            return me.json()["onboarding"]["availability_set"]

        await eventually(onboarded, timeout=EVENT_SECONDS)

        cleo = await new_client(client)
        slot = await first_slot(client, free["id"], tz="Asia/Kolkata")
        assert slot["local_start"].endswith("+05:30")
        made = await book(client, cleo, free["id"], slot["start_time"], notes="First time")
        assert made.status_code == 201, made.text
        intro = made.json()
        assert intro["status"] == "confirmed"
        assert intro["price"] == {"amount_minor": 0, "currency": "EUR"}
        assert intro["notes"] == "First time"
        await tap.next(
            "booking.confirmed", EVENT_SECONDS, where=lambda m: m.booking.booking_id == intro["id"]
        )

        # The intro's time is gone from the practitioner's other service too.
        massage_slot = await first_slot(client, paid["id"])
        assert massage_slot["start_time"] != slot["start_time"]
        taken = await book(client, await new_client(client), paid["id"], slot["start_time"])
        assert taken.status_code == 409, taken.text
        assert taken.json()["code"] == "SLOT_TAKEN"

        held = await book(client, cleo, paid["id"], massage_slot["start_time"])
        assert held.status_code == 201, held.text
        booking = held.json()
        assert booking["status"] == "pending_payment"
        assert booking["price"] == {"amount_minor": 4500, "currency": "EUR"}
        assert booking["hold_expires_at"] is not None
        payment_id = await pay(stack, booking)
        confirmed = await booking_becomes(client, cleo, booking["id"], "confirmed")
        assert confirmed["payment_id"] == payment_id
        assert confirmed["amount_paid"] == {"amount_minor": 4500, "currency": "EUR"}

        # The practitioner sees both in their calendar.
        calendar = await client.get(
            f"/api/v1/practitioners/{practice.practitioner_id}/bookings",
            params={"from": slot["start_time"], "to": confirmed["times"][0]["end_time"]},
            headers=practice.owner.headers,
        )
        assert calendar.status_code == 200, calendar.text
        assert {b["id"] for b in calendar.json()["results"]} == {intro["id"], booking["id"]}

        # Time passes: the completion job, as of three hours after the later session ended.
        ended = max(datetime.fromisoformat(b["times"][0]["end_time"]) for b in (intro, confirmed))
        # (The production stack is shared by the session's tests: others' ended bookings
        # complete too.)
        assert await run_job(stack, "complete_ended", ended + timedelta(hours=3)) >= 2
        completed = await tap.next(
            "booking.completed",
            EVENT_SECONDS,
            where=lambda m: m.booking.booking_id == booking["id"],
        )
        assert completed.message.amount_paid.amount_minor == 4500
        assert completed.message.booking.client_id == cleo.id
        await tap.next(
            "booking.completed", EVENT_SECONDS, where=lambda m: m.booking.booking_id == intro["id"]
        )
        done = await booking_becomes(client, cleo, booking["id"], "completed")
        assert done["completed_at"] is not None

        # The session took place: its client reviews it, and discovery rates the service.
        await review_and_see_the_rating(
            client, cleo, booking["id"], paid, 5, "Kind hands, and right on time."
        )
        rated = await client.get(
            "/api/v1/services",
            params={"practitioner_id": practice.practitioner_id, "min_rating": 5},
        )
        assert rated.status_code == 200, rated.text
        assert [
            (s["id"], s["rating_average"], s["rating_count"]) for s in rated.json()["results"]
        ] == [(paid["id"], 5.0, 1)]


async def test_twenty_clients_asking_for_overlapping_times_get_one_booking_and_409s(
    stack: Stack,
):
    """Through the gateway, across two services of one practitioner: one booking, every
    other answer 409 SLOT_TAKEN, never a 5xx."""
    async with stack.client() as client:
        practice = await open_for_business(
            client,
            stack,
            session_body("", "Yoga", price={"amount_minor": 0, "currency": "EUR"}),
            session_body("", "Short massage", duration_minutes=30),
        )
        hour, half = practice.services
        start = (await first_slot(client, hour["id"], skip=4))["start_time"]
        clients = [await new_client(client) for _ in range(4)]
        asked = [
            book(client, clients[n % 4], (hour if n % 2 else half)["id"], start) for n in range(20)
        ]
        answers = await asyncio.gather(*asked)
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] + [409] * 19, [a.text for a in answers if a.status_code >= 500]
        assert {a.json()["code"] for a in answers if a.status_code == 409} == {"SLOT_TAKEN"}


async def test_a_calendar_feed_shows_confirmed_bookings_at_a_secret_address_that_rotates(
    stack: Stack,
):
    async with stack.client() as client:
        practice = await open_for_business(
            client,
            stack,
            session_body("", "Intro call", price={"amount_minor": 0, "currency": "EUR"}),
        )
        [service] = practice.services
        cleo = await new_client(client)
        slot = await first_slot(client, service["id"])
        made = await book(client, cleo, service["id"], slot["start_time"])
        assert made.status_code == 201, made.text
        feed = await client.post("/api/v1/me/calendar-feed", headers=cleo.headers)
        assert feed.status_code == 201, feed.text
        url = feed.json()["url"]
        assert url.startswith(stack.base_url) and feed.json()["token"] in url
        ics = await client.get(url)  # no bearer: the secret is the key
        assert ics.status_code == 200, ics.text
        assert ics.headers["content-type"].startswith("text/calendar")
        events = Calendar.from_ical(ics.text).walk("VEVENT")
        assert [str(e["UID"]) for e in events] == [f"{made.json()['id']}-0@estuary"]
        rotated = await client.post("/api/v1/me/calendar-feed", headers=cleo.headers)
        assert (await client.get(url)).status_code == 404
        assert (await client.get(rotated.json()["url"])).status_code == 200
