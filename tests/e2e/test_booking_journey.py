"""A client's way through booking, across identity, catalog and booking, through the gateway,
on both shapes: a practitioner approved, hours saved (catalog's onboarding follows), a free
and a paid session on sale, slots in the client's zone, a free booking confirmed at once, a
paid one held and confirmed by payments' payment.succeeded (put on the bus by the test),
completion by booking's job, booking.completed on the bus with what was paid.

Time moves through the job's handler, told the moment to act as of (see booking_steps.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

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
        assert await run_job(stack, "complete_ended", ended + timedelta(hours=3)) == 2
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
