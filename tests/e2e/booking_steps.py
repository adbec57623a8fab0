"""Steps booking's end-to-end tests share: a practitioner open for business (approved, hours
saved, services on sale), a client's booking, payments' events put on the bus as payments
would, and booking's jobs driven to a chosen moment.

Time: the jobs that act on time (holds, completion, reminders) are driven through their
handlers, built on the running suite's own booking database (the SQLite file, or the
production shape's PostgreSQL database) and told the moment to act as of; the events they
emit go into that database's outbox, where the running booking service's relay finds and
publishes them, as it would its own. So both shapes move time the same way, and nothing in
the running services reads a test clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from chassis.bus.envelope import EventType, encode_event
from chassis.ids import new_id
from estuary.payments.v1 import events_pb2 as payments_pb
from tests.builders import built_booking
from tests.e2e.accounts import Account, holding_role, open_practice, sign_in_admin, sign_up
from tests.e2e.stacks import EmbeddedStack, ProductionStack, Stack
from tests.e2e.test_catalog_journey import eventually, session_body
from tests.e2e.test_catalog_manage import category

PAYMENT_SUCCEEDED = EventType.of(payments_pb.PaymentSucceeded)
PAYMENT_FAILED = EventType.of(payments_pb.PaymentFailed)

# Every write route booking serves, for the account-status tests (test_account_status.py's
# guard and test_booking_accounts.py's scenario).
BOOKING_WRITE_ROUTES = [
    ("PUT", "/api/v1/practitioners/{practitioner_id}/schedule"),
    ("POST", "/api/v1/bookings"),
    ("POST", "/api/v1/bookings/{booking_id}/reschedule"),
    ("POST", "/api/v1/bookings/{booking_id}/cancel"),
    ("POST", "/api/v1/bookings/{booking_id}/complete"),
    ("POST", "/api/v1/bookings/{booking_id}/no-show"),
    ("POST", "/api/v1/services/{service_id}/waitlist"),
    ("DELETE", "/api/v1/me/waitlist/{entry_id}"),
    ("POST", "/api/v1/me/calendar-feed"),
    ("DELETE", "/api/v1/me/calendar-feed"),
]

# Every day from 08:00 to 20:00 in the practitioner's zone (Lisbon).
HOURS = {
    "weekly": [
        {"weekday": day, "start": "08:00", "end": "20:00"}
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    ]
}


@dataclass
class Practice:
    """An approved practitioner with hours and services on sale, and the staff who approved."""

    staff: Account
    owner: Account
    profile: dict[str, Any]
    category_id: str
    services: list[dict[str, Any]]

    @property
    def practitioner_id(self) -> str:
        return str(self.profile["id"])


async def open_for_business(
    client: httpx.AsyncClient, stack: Stack, *services: dict[str, Any]
) -> Practice:
    """A practitioner approved by staff, their hours saved, and these services (catalog
    session bodies without the category) on sale."""
    staff = await sign_in_admin(stack, client)
    owner, profile = await open_practice(client, staff)
    # The role arrives at identity as an event: payments checks it in the token.
    owner = await holding_role(client, owner, "practitioner")
    saved = await client.put(
        f"/api/v1/practitioners/{profile['id']}/schedule", json=HOURS, headers=owner.headers
    )
    assert saved.status_code == 200, saved.text
    made_category = await category(client, staff)
    made = []
    for body in services or (session_body("", "Morning yoga"),):
        created = await client.post(
            "/api/v1/services",
            json={**body, "category_id": made_category["id"]},
            headers=owner.headers,
        )
        assert created.status_code == 201, created.text
        made.append(created.json())
    return Practice(staff, owner, profile, made_category["id"], made)


# Slots starting sooner are passed over: one could begin while its test runs (the services
# have no minimum notice), and what a booking allows turns on its start, whatever the hour
# the suite runs at.
SLOT_MARGIN = timedelta(minutes=30)


async def first_slot(
    client: httpx.AsyncClient, service_id: str, *, tz: str = "", skip: int = 0
) -> dict[str, Any]:
    """The service's first bookable slot at least SLOT_MARGIN away (or the skip-th after)."""
    answer = await client.get(
        f"/api/v1/services/{service_id}/slots", params={"tz": tz} if tz else {}
    )
    assert answer.status_code == 200, answer.text
    soonest = datetime.now(UTC) + SLOT_MARGIN
    slots = [
        slot
        for slot in answer.json()["slots"]
        if datetime.fromisoformat(slot["start_time"]) >= soonest
    ]
    assert len(slots) > skip, answer.text
    return slots[skip]


async def book(
    client: httpx.AsyncClient, who: Account, service_id: str, start: str, **body: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/bookings",
        json={"service_id": service_id, "start_time": start, **body},
        headers=who.headers,
    )


async def new_client(client: httpx.AsyncClient) -> Account:
    return await sign_up(client, full_name="Cleo Client")


async def pay(stack: Stack, booking: dict[str, Any], payment_id: str | None = None) -> str:
    """payment.succeeded for a booking, published as payments would; the payment's id."""
    payment_id = payment_id or f"pay_{new_id()}"
    message = payments_pb.PaymentSucceeded(
        payment_id=payment_id,
        order_id=new_id(),
        booking_id=booking["id"],
        user_id=booking["client_id"],
        amount=booking["price"],
    )
    message.succeed_time.FromDatetime(datetime.now(UTC))
    await stack.publish(
        encode_event(
            PAYMENT_SUCCEEDED,
            message,
            event_id=new_id(),
            source="/estuary/payments",
            subject=f"payments/{payment_id}",
            time=datetime.now(UTC),
        )
    )
    return payment_id


async def booking_becomes(
    client: httpx.AsyncClient, who: Account, booking_id: str, status: str
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        answer = await client.get(f"/api/v1/bookings/{booking_id}", headers=who.headers)
        assert answer.status_code == 200, answer.text
        found = answer.json()
        return found if found["status"] == status else None

    return await eventually(check, timeout=20.0)


def booking_database(stack: Stack) -> str:
    """The running suite's booking database."""
    if isinstance(stack, EmbeddedStack):
        return stack.suite.database_url("booking")
    assert isinstance(stack, ProductionStack)
    return stack.database_urls["booking"]


async def run_job(stack: Stack, job: str, at: datetime) -> int:
    """One of booking's jobs (`complete_ended`, `expire_holds`, `send_reminders`, ...) as of
    `at`, on the running suite's booking database; its events go out through the running
    booking service's relay."""
    async with built_booking(booking_database(stack)) as offline:
        done: int = await getattr(offline.desk, job)(now=at)
    # Let the running relay's sweep (rows older than its grace, 2 s) take them over.
    await asyncio.sleep(0)
    return done
