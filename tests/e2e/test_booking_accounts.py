"""Account status in booking, on both shapes: a suspended user's still-valid token is refused
on every booking write route within seconds, a suspended practitioner takes no new bookings
and offers no slots, and reactivation undoes both.

BOOKING_WRITE_ROUTES (booking_steps.py) lists every write route booking serves;
test_account_status.py's guard holds that every write route of the gateway is in its table,
this one, or exempt. Each is
sent once while suspended (403 ACCOUNT_SUSPENDED, nothing changes) and once active again,
where it reaches booking: done, or for complete and no-show a 409 NOT_STARTED (no test can
wait for a session to start; reaching the booking's rule is what the door is measured by).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.accounts import Account, sign_up
from tests.e2e.booking_steps import (
    BOOKING_WRITE_ROUTES,
    HOURS,
    book,
    first_slot,
    new_client,
    open_for_business,
)
from tests.e2e.stacks import Stack
from tests.e2e.test_account_status import USERS, first_refusal, until
from tests.e2e.test_catalog_journey import session_body

NOBODYS = "00000000-0000-7000-8000-000000000000"


def workshop_body(start: datetime) -> dict[str, Any]:
    return session_body(
        "",
        "Breath workshop",
        kind="workshop",
        max_participants=2,
        price={"amount_minor": 0, "currency": "EUR"},
        sessions=[{"start_time": start.isoformat(), "duration_minutes": 90}],
    )


async def test_a_suspended_users_booking_writes_are_refused_and_their_practice_closed(
    stack: Stack,
):
    soon = (datetime.now(UTC) + timedelta(days=4)).replace(minute=0, second=0, microsecond=0)
    async with stack.client() as client:
        practice = await open_for_business(
            client,
            stack,
            session_body("", "Intro call", price={"amount_minor": 0, "currency": "EUR"}),
            workshop_body(soon.replace(hour=18)),
        )
        intro, workshop = practice.services
        pat, admin = practice.owner, practice.staff
        bea, filler = await new_client(client), await sign_up(client)
        later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        picks = await client.get(f"/api/v1/services/{intro['id']}/slots", params={"from": later})
        slots = [s["start_time"] for s in picks.json()["slots"]]
        held = {"practitioner_id": practice.practitioner_id, "service_id": workshop["id"]}
        beas = await book(client, bea, intro["id"], slots[0])
        assert beas.status_code == 201, beas.text
        held["booking_id"] = beas.json()["id"]
        seat = workshop["sessions"][0]["start_time"]
        full = await book(client, filler, workshop["id"], seat, seats=2)
        assert full.status_code == 201, full.text

        steps: list[tuple[str, str, Account, Callable[[], Awaitable[httpx.Response]], int]] = [
            (
                "PUT",
                "/api/v1/practitioners/{practitioner_id}/schedule",
                pat,
                lambda: client.put(
                    f"/api/v1/practitioners/{held['practitioner_id']}/schedule",
                    json=HOURS,
                    headers=pat.headers,
                ),
                200,
            ),
            (
                "POST",
                "/api/v1/bookings",
                bea,
                lambda: book(client, bea, intro["id"], slots[2]),
                201,
            ),
            (
                "POST",
                "/api/v1/bookings/{booking_id}/reschedule",
                bea,
                lambda: client.post(
                    f"/api/v1/bookings/{held['booking_id']}/reschedule",
                    json={"start_time": slots[4]},
                    headers=bea.headers,
                ),
                200,
            ),
            (
                "POST",
                "/api/v1/bookings/{booking_id}/cancel",
                bea,
                lambda: client.post(
                    f"/api/v1/bookings/{held['booking_id']}/cancel",
                    json={"reason": "back"},
                    headers=bea.headers,
                ),
                200,
            ),
            (
                "POST",
                "/api/v1/bookings/{booking_id}/complete",
                pat,
                lambda: client.post(
                    f"/api/v1/bookings/{held.get('made_id', held['booking_id'])}/complete",
                    headers=pat.headers,
                ),
                409,
            ),
            (
                "POST",
                "/api/v1/bookings/{booking_id}/no-show",
                pat,
                lambda: client.post(
                    f"/api/v1/bookings/{held.get('made_id', held['booking_id'])}/no-show",
                    headers=pat.headers,
                ),
                409,
            ),
            (
                "POST",
                "/api/v1/services/{service_id}/waitlist",
                bea,
                lambda: client.post(
                    f"/api/v1/services/{held['service_id']}/waitlist",
                    json={"start_time": seat},
                    headers=bea.headers,
                ),
                201,
            ),
            (
                "DELETE",
                "/api/v1/me/waitlist/{entry_id}",
                bea,
                lambda: client.delete(
                    f"/api/v1/me/waitlist/{held.get('entry_id', NOBODYS)}", headers=bea.headers
                ),
                204,
            ),
            (
                "POST",
                "/api/v1/me/calendar-feed",
                bea,
                lambda: client.post("/api/v1/me/calendar-feed", headers=bea.headers),
                201,
            ),
            (
                "DELETE",
                "/api/v1/me/calendar-feed",
                bea,
                lambda: client.delete("/api/v1/me/calendar-feed", headers=bea.headers),
                204,
            ),
        ]
        assert [(m, p) for m, p, *_ in steps] == BOOKING_WRITE_ROUTES

        for who in (bea, pat):
            suspended = await client.post(
                f"{USERS}/{who.id}/suspend", headers=admin.headers, json={"reason": "review"}
            )
            assert suspended.status_code == 200, suspended.text
        # Harmless writes probe when booking learns of it: the hours as they are; a feed
        # turned off that was never on (404 while the account is known active).
        took = await first_refusal(steps[0][3], "ACCOUNT_SUSPENDED")
        print(f"\n[{stack.name}] suspension -> first refused booking write: {took * 1000:.0f} ms")
        await first_refusal(steps[-1][3], "ACCOUNT_SUSPENDED", meanwhile=(404,))

        for method, path, _, send, _ in steps:
            refused = await send()
            assert refused.status_code == 403, (method, path, refused.text)
            assert refused.json()["code"] == "ACCOUNT_SUSPENDED", (method, path, refused.text)

        # A suspended practitioner takes no new booking and offers no slot.
        someone = await new_client(client)
        closed = await book(client, someone, intro["id"], slots[6])
        assert closed.status_code == 409, closed.text
        assert closed.json()["code"] == "PRACTITIONER_UNAVAILABLE"
        empty = await client.get(f"/api/v1/services/{intro['id']}/slots")
        assert empty.json()["slots"] == []
        unchanged = await client.get(f"/api/v1/bookings/{held['booking_id']}", headers=bea.headers)
        assert unchanged.status_code == 200  # reads still work for the suspended
        assert unchanged.json()["status"] == "confirmed"
        assert unchanged.json()["times"][0]["start_time"].startswith(slots[0][:16])

        for who in (bea, pat):
            back = await client.post(
                f"{USERS}/{who.id}/reactivate", headers=admin.headers, json={"reason": "cleared"}
            )
            assert back.status_code == 200, back.text

        async def accepted_again() -> bool:
            answer = await steps[0][3]()
            assert answer.status_code in (200, 403), answer.text
            return answer.status_code == 200

        await until(accepted_again, "the old token writes to booking again")
        await first_slot(client, intro["id"])  # slots are offered again

        for method, path, _, send, ok in steps:
            done = await send()
            assert done.status_code == ok, (method, path, done.text)
            if ok == 409:
                assert done.json()["code"] == "NOT_STARTED", done.text
            if path.endswith("/waitlist"):
                held["entry_id"] = done.json()["id"]
            if path == "/api/v1/bookings":
                held["made_id"] = done.json()["id"]  # confirmed, not started: completed next
