"""Who may see and change what in booking, over gRPC and through the gateway, and bad input on
every booking route, on both shapes.

The access matrix: every gRPC method declares its access and refuses callers outside it;
every id route answers its client, its practitioner and staff, and anyone else 404 (a
booking, a place in line) or 403 (a practitioner's hours and calendar, whose existence is
public). Bad input: each route's body, path and query broken the ways a client plausibly
would, answered 4xx problem+json naming the field, never a 5xx.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import symbol_database

from chassis.grpc_client import call_metadata
from estuary.api.v1 import annotations_pb2
from estuary.booking.v1 import booking_pb2 as pb
from estuary.identity.v1 import identity_pb2, identity_pb2_grpc
from tests.e2e.accounts import sign_up
from tests.e2e.booking_steps import HOURS, book, first_slot, new_client, open_for_business
from tests.e2e.stacks import Stack
from tests.e2e.test_bad_input import assert_answer_is_a_problem
from tests.e2e.test_catalog_journey import session_body

BOOKING = pb.DESCRIPTOR.services_by_name["BookingService"]
NOBODYS = "00000000-0000-7000-8000-000000000000"


def booking_address(stack: Stack) -> str:
    if stack.name == "embedded":
        return f"127.0.0.1:{stack.suite.ports['booking']}"  # type: ignore[attr-defined]
    return f"127.0.0.1:{stack.grpc_ports['booking']}"  # type: ignore[attr-defined]


def methods(access: int) -> list[Any]:
    return [
        m for m in BOOKING.methods if m.GetOptions().Extensions[annotations_pb2.access] == access
    ]


async def call(channel: grpc.aio.Channel, method: Any, token: str | None) -> grpc.StatusCode:
    """Calls a method with an empty request; answers the status code (OK on success)."""
    request = symbol_database.Default().GetSymbol(method.input_type.full_name)()
    response = symbol_database.Default().GetSymbol(method.output_type.full_name)
    invoke = channel.unary_unary(
        f"/{BOOKING.full_name}/{method.name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response.FromString,
    )
    try:
        await invoke(request, metadata=call_metadata(token), timeout=5)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_every_grpc_method_declares_its_access_and_refuses_callers_outside_it(stack: Stack):
    assert not methods(annotations_pb2.ACCESS_UNSPECIFIED)
    async with stack.client() as client, stack.identity_channel() as identity:
        ana = await sign_up(client)
        issued = await identity_pb2_grpc.AuthServiceStub(identity).IssueServiceToken(
            identity_pb2.IssueServiceTokenRequest(
                client_id=stack.service_client, client_secret=stack.service_secret
            ),
            timeout=5,
        )
    users = methods(annotations_pb2.ACCESS_USER)
    public = methods(annotations_pb2.ACCESS_PUBLIC)
    assert {m.name for m in public} == {"GetAvailability", "ListSlots", "GetCalendarFeed"}
    async with grpc.aio.insecure_channel(booking_address(stack)) as channel:
        for method in users:
            assert await call(channel, method, None) == grpc.StatusCode.UNAUTHENTICATED, method.name
            # A service token is not a user's: booking's user methods refuse it.
            assert (
                await call(channel, method, issued.access_token) == grpc.StatusCode.UNAUTHENTICATED
            ), method.name
            # A user gets past the door: what they asked is then judged (an empty request
            # names nothing of theirs).
            assert await call(channel, method, ana.access_token) not in (
                grpc.StatusCode.UNAUTHENTICATED,
                grpc.StatusCode.INTERNAL,
                grpc.StatusCode.UNKNOWN,
            ), method.name
        for method in public:
            assert await call(channel, method, None) not in (
                grpc.StatusCode.UNAUTHENTICATED,
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.INTERNAL,
                grpc.StatusCode.UNKNOWN,
            ), method.name


async def test_every_id_route_answers_its_client_practitioner_and_staff_and_nobody_else(
    stack: Stack,
):
    async with stack.client() as client:
        practice = await open_for_business(
            client,
            stack,
            session_body("", "Intro call", price={"amount_minor": 0, "currency": "EUR"}),
        )
        [service] = practice.services
        cleo, stranger = await new_client(client), await sign_up(client)
        slot = await first_slot(client, service["id"])
        made = await book(client, cleo, service["id"], slot["start_time"], notes="private")
        assert made.status_code == 201, made.text
        booking_id = made.json()["id"]
        later = await first_slot(client, service["id"], skip=3)

        # Reads: the booking's own three; everyone else is told there is no such booking.
        for who in (cleo, practice.owner, practice.staff):
            seen = await client.get(f"/api/v1/bookings/{booking_id}", headers=who.headers)
            assert seen.status_code == 200 and seen.json()["notes"] == "private", seen.text
        refused = await client.get(f"/api/v1/bookings/{booking_id}", headers=stranger.headers)
        assert refused.status_code == 404 and "private" not in refused.text
        assert (await client.get(f"/api/v1/bookings/{booking_id}")).status_code == 401

        # Changes by a stranger: 404 on every booking route, and nothing changed.
        for path, body in (
            ("cancel", {"reason": "not mine"}),
            ("reschedule", {"start_time": later["start_time"]}),
            ("complete", None),
            ("no-show", None),
        ):
            answer = await client.post(
                f"/api/v1/bookings/{booking_id}/{path}", json=body, headers=stranger.headers
            )
            assert answer.status_code == 404, (path, answer.text)
            assert_answer_is_a_problem(answer, path)
        # The client may not say how it went; the practitioner may (not yet: not started).
        assert (
            await client.post(f"/api/v1/bookings/{booking_id}/complete", headers=cleo.headers)
        ).status_code == 403
        early = await client.post(
            f"/api/v1/bookings/{booking_id}/no-show", headers=practice.owner.headers
        )
        assert early.status_code == 409 and early.json()["code"] == "NOT_STARTED", early.text
        still = await client.get(f"/api/v1/bookings/{booking_id}", headers=cleo.headers)
        assert still.json()["status"] == "confirmed"

        # A practitioner's hours and calendar: theirs and staff's; 403 for anyone else.
        practitioner = practice.practitioner_id
        for method, path, body in (
            ("GET", f"/api/v1/practitioners/{practitioner}/schedule", None),
            ("PUT", f"/api/v1/practitioners/{practitioner}/schedule", HOURS),
            ("GET", f"/api/v1/practitioners/{practitioner}/bookings", None),
        ):
            for who, status in ((stranger, 403), (cleo, 403), (practice.staff, 200)):
                answer = await client.request(method, path, json=body, headers=who.headers)
                assert answer.status_code == status, (method, path, answer.text)
        calendar = await client.get(
            f"/api/v1/practitioners/{practitioner}/bookings", headers=practice.owner.headers
        )
        assert [b["id"] for b in calendar.json()["results"]] == [booking_id]
        # Lists are the caller's own.
        mine = await client.get("/api/v1/bookings", headers=stranger.headers)
        assert mine.json()["results"] == []
        assert (
            await client.get(f"/api/v1/practitioners/{NOBODYS}/schedule", headers=cleo.headers)
        ).status_code == 404


BAD_BODIES = [
    # (route, body, the field named)
    ("POST /api/v1/bookings", {"service_id": "yoga"}, "service_id"),
    ("POST /api/v1/bookings", {"service_id": NOBODYS, "start_time": "tomorrow"}, "start_time"),
    (
        "POST /api/v1/bookings",
        {"service_id": NOBODYS, "start_time": "2030-01-01T10:00:00"},
        "start_time",
    ),
    ("POST /api/v1/bookings", {"service_id": NOBODYS, "seats": 0}, "seats"),
    ("POST /api/v1/bookings", {"service_id": NOBODYS, "seats": 2**40}, "seats"),
    ("POST /api/v1/bookings", {"service_id": NOBODYS, "notes": "x" * 2001}, "notes"),
    ("POST /api/v1/bookings", {"service_id": NOBODYS, "price": {"amount_minor": 1}}, "price"),
    ("POST /api/v1/bookings", {"entitlement_id": 7}, "entitlement_id"),
    ("POST /api/v1/bookings", {}, "service"),
    (
        "PUT /api/v1/practitioners/{practitioner}/schedule",
        {"weekly": [{"weekday": "funday", "start": "09:00", "end": "10:00"}]},
        "weekly.0.weekday",
    ),
    (
        "PUT /api/v1/practitioners/{practitioner}/schedule",
        {"weekly": [{"weekday": "monday", "start": "9am", "end": "10:00"}]},
        "weekly.0.start",
    ),
    (
        "PUT /api/v1/practitioners/{practitioner}/schedule",
        {"weekly": [{"weekday": "monday", "start": "10:00", "end": "09:00"}]},
        "weekly[0].end",
    ),
    (
        "PUT /api/v1/practitioners/{practitioner}/schedule",
        {
            "weekly": [
                {"weekday": "monday", "start": "09:00", "end": "12:00"},
                {"weekday": "monday", "start": "11:00", "end": "13:00"},
            ]
        },
        "weekly[1].start",
    ),
    (
        "PUT /api/v1/practitioners/{practitioner}/schedule",
        {"overrides": [{"day": "2026-02-30"}]},
        "overrides[0].day",
    ),
    (
        "PUT /api/v1/practitioners/{practitioner}/schedule",
        {"overrides": [{"day": "next week"}]},
        "overrides.0.day",
    ),
    (
        "PUT /api/v1/practitioners/{practitioner}/schedule",
        {"time_zone": "Mars/Olympus"},
        "time_zone",
    ),
    ("PUT /api/v1/practitioners/{practitioner}/schedule", {"weekly": "every day"}, "weekly"),
    ("POST /api/v1/bookings/{booking}/reschedule", {}, "start_time"),
    ("POST /api/v1/bookings/{booking}/reschedule", {"start_time": "soon"}, "start_time"),
    ("POST /api/v1/bookings/{booking}/cancel", {"reason": "x" * 501}, "reason"),
    ("POST /api/v1/services/{service}/waitlist", {"start_time": "soon"}, "start_time"),
]

BAD_QUERIES = [
    ("GET /api/v1/services/{service}/slots", {"from": "yesterday"}, "from"),
    ("GET /api/v1/services/{service}/slots", {"from": "2026-03-10T10:00:00"}, "from"),
    ("GET /api/v1/services/{service}/slots", {"tz": "Mars/Olympus"}, "time_zone"),
    (
        "GET /api/v1/services/{service}/slots",
        {"from": "2026-03-10T10:00:00Z", "to": "2026-03-01T10:00:00Z"},
        "end_time",
    ),
    (
        "GET /api/v1/services/{service}/slots",
        {"from": "2026-03-10T10:00:00Z", "to": "2027-03-10T10:00:00Z"},
        "end_time",
    ),
    ("GET /api/v1/practitioners/{practitioner}/availability", {"to": "never"}, "to"),
    ("GET /api/v1/practitioners/{practitioner}/bookings", {"limit": 0}, "limit"),
    ("GET /api/v1/practitioners/{practitioner}/bookings", {"cursor": "not-a-cursor"}, "cursor"),
    ("GET /api/v1/bookings", {"scope": "someday"}, "scope"),
    ("GET /api/v1/bookings", {"status": "maybe"}, "status"),
    ("GET /api/v1/bookings", {"cursor": "eyJrIjpbXSwicSI6IiJ9"}, "cursor"),
    ("GET /api/v1/me/entitlements", {"limit": 101}, "limit"),
    ("GET /api/v1/me/waitlist", {"cursor": "x" * 2000}, "cursor"),
    ("GET /api/v1/calendar-feed.ics", {"token": "short"}, "token"),
    ("GET /api/v1/calendar-feed.ics", {}, "token"),
]


@pytest.mark.parametrize("shape_case", ["bodies", "queries", "paths"])
async def test_bad_input_on_every_booking_route_names_the_field_and_is_never_a_5xx(
    stack: Stack, shape_case: str
):
    async with stack.client() as client:
        practice = await open_for_business(client, stack)
        [service] = practice.services
        cleo = await new_client(client)
        slot = await first_slot(client, service["id"])
        made = await book(client, cleo, service["id"], slot["start_time"])
        assert made.status_code == 201, made.text
        ids = {
            "practitioner": practice.practitioner_id,
            "service": service["id"],
            "booking": made.json()["id"],
        }
        if shape_case == "paths":
            for method, path in (
                ("GET", "/api/v1/bookings/not-an-id"),
                ("POST", "/api/v1/bookings/not-an-id/cancel"),
                ("GET", "/api/v1/services/not-an-id/slots"),
                ("GET", "/api/v1/practitioners/not-an-id/availability"),
                ("PUT", "/api/v1/practitioners/not-an-id/schedule"),
                ("DELETE", "/api/v1/me/waitlist/not-an-id"),
            ):
                answer = await client.request(method, path, json={}, headers=cleo.headers)
                assert answer.status_code in (404, 422), (path, answer.text)
                assert_answer_is_a_problem(answer, path)
            for method, path in (
                ("GET", f"/api/v1/bookings/{NOBODYS}"),
                ("GET", f"/api/v1/services/{NOBODYS}/slots"),
                ("GET", f"/api/v1/practitioners/{NOBODYS}/availability"),
                ("DELETE", f"/api/v1/me/waitlist/{NOBODYS}"),
            ):
                answer = await client.request(method, path, headers=cleo.headers)
                assert answer.status_code == 404, (path, answer.text)
                assert_answer_is_a_problem(answer, path)
            return
        table = BAD_BODIES if shape_case == "bodies" else BAD_QUERIES
        for route, data, field in table:
            method, template = route.split(" ", 1)
            path = template.format(**ids)
            who = practice.owner if path.startswith("/api/v1/practitioners/") else cleo
            if shape_case == "bodies":
                answer = await client.request(method, path, json=data, headers=who.headers)
            else:
                answer = await client.request(method, path, params=data, headers=who.headers)
            assert 400 <= answer.status_code < 500, (route, data, answer.text)
            assert_answer_is_a_problem(answer, route)
            named = {e["field"] for e in answer.json()["errors"]}
            assert field in named, (route, data, answer.text)
