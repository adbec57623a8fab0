"""Practitioner onboarding across identity and catalog, through the gateway, on both shapes.

Apply -> staff approve -> practitioner.approved on the bus -> identity grants the role ->
the refreshed token carries it -> the practitioner creates services up to their tier's limit
-> payments' subscription.tier_changed (published here as payments would) lifts the limit.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

from chassis.bus.envelope import EventType, encode_event
from chassis.ids import new_id
from estuary.payments.v1 import events_pb2 as payments_pb
from tests.e2e.stacks import EventTap, Stack

PASSWORD = "river-stone-42-lantern"
ADMIN_PASSWORD = "admin-river-stone-42"
TIER_CHANGED = EventType.of(payments_pb.SubscriptionTierChanged)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def signed_up(client, stack: Stack, *, admin: bool = False) -> dict:
    """A new account, logged in: its tokens and id."""
    email = f"{'staff' if admin else 'pat'}.{secrets.token_hex(4)}@example.com"
    if admin:
        await stack.make_admin(email, ADMIN_PASSWORD)
        tokens = (
            await client.post(
                "/api/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD}
            )
        ).json()
    else:
        created = await client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "full_name": "Pat Rivers"},
        )
        assert created.status_code == 201, created.text
        tokens = (
            await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        ).json()
    me = (await client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))).json()
    return {**tokens, "id": me["id"], "email": email}


APPLICATION = {
    "display_name": "Pat Rivers",
    "bio": "Hatha yoga and breathwork for busy people.",
    "specializations": ["hatha yoga", "breathwork"],
    "certifications": ["RYT-200"],
    "years_experience": 6,
    "languages": ["en", "pt"],
    "timezone": "Europe/Lisbon",
    "locations": [
        {"kind": "virtual"},
        {
            "kind": "in_person",
            "label": "Studio",
            "address": "Rua das Flores 12",
            "city": "Lisbon",
            "country": "PT",
            "lat": 38.7107,
            "lng": -9.1431,
        },
    ],
}


def session_body(category_id: str, title: str, **extra) -> dict:
    return {
        "kind": "session",
        "title": title,
        "description": "One to one, an hour, at your pace.",
        "category_id": category_id,
        "price": {"amount_minor": 4500, "currency": "EUR"},
        "duration_minutes": 60,
        **extra,
    }


async def eventually(check, timeout: float = 15.0):
    """Polls an async check until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_apply_approve_refresh_role_and_create_services_within_the_tier(
    stack: Stack, tap: EventTap
):
    async with stack.client() as client:
        staff = await signed_up(client, stack, admin=True)
        pat = await signed_up(client, stack)

        applied = await client.post(
            "/api/v1/practitioners/apply", json=APPLICATION, headers=bearer(pat["access_token"])
        )
        assert applied.status_code == 201, applied.text
        profile = applied.json()
        assert profile["status"] == "pending" and profile["tier"] == "free"
        assert profile["onboarding"]["percent_complete"] == 25
        assert {loc["kind"] for loc in profile["locations"]} == {"virtual", "in_person"}

        # Pending practitioners are invisible to the public and cannot sell yet.
        hidden = await client.get(f"/api/v1/practitioners/{profile['id']}")
        assert hidden.status_code == 404
        again = await client.post(
            "/api/v1/practitioners/apply", json=APPLICATION, headers=bearer(pat["access_token"])
        )
        assert again.status_code == 409

        category = await client.post(
            "/api/v1/services/categories",
            json={"slug": f"yoga-{secrets.token_hex(3)}", "name": "Yoga"},
            headers=bearer(staff["access_token"]),
        )
        assert category.status_code == 201, category.text
        category_id = category.json()["id"]
        too_early = await client.post(
            "/api/v1/services",
            json=session_body(category_id, "Hatha"),
            headers=bearer(pat["access_token"]),
        )
        assert too_early.status_code == 403

        by_client = await client.post(
            f"/api/v1/practitioners/{profile['id']}/approve", headers=bearer(pat["access_token"])
        )
        assert by_client.status_code == 403
        approved = await client.post(
            f"/api/v1/practitioners/{profile['id']}/approve", headers=bearer(staff["access_token"])
        )
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        event = await tap.next("practitioner.approved", practitioner_id=profile["id"])
        assert event.message.user_id == pat["id"]

        async def refreshed_with_role():
            response = await client.post(
                "/api/v1/auth/token/refresh", json={"refresh_token": pat["refresh_token"]}
            )
            assert response.status_code == 200, response.text
            tokens = response.json()
            pat["refresh_token"] = tokens["refresh_token"]
            me = (
                await client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
            ).json()
            return tokens if "practitioner" in me["roles"] else None

        tokens = await eventually(refreshed_with_role)
        token = tokens["access_token"]

        first = await client.post(
            "/api/v1/services",
            json=session_body(
                category_id,
                "Hatha flow",
                location={
                    "kind": "in_person",
                    "location_id": next(
                        loc["id"] for loc in profile["locations"] if loc["kind"] == "in_person"
                    ),
                },
            ),
            headers=bearer(token),
        )
        assert first.status_code == 201, first.text
        service = first.json()
        assert service["cancellation_policy"] == [
            {"hours_before": 24, "refund_percent": 100},
            {"hours_before": 0, "refund_percent": 0},
        ]
        assert service["place"]["city"] == "Lisbon"
        published = await tap.next(
            "service.published", where=lambda m: m.service.service_id == service["id"]
        )
        assert published.message.service.price.amount_minor == 4500
        assert published.message.service.timezone == "Europe/Lisbon"

        second = await client.post(
            "/api/v1/services", json=session_body(category_id, "Breath"), headers=bearer(token)
        )
        assert second.status_code == 201
        third = await client.post(
            "/api/v1/services", json=session_body(category_id, "Third"), headers=bearer(token)
        )
        assert third.status_code == 409
        assert third.json()["code"] == "SERVICE_LIMIT_REACHED"

        # An upgrade announced as payments announces it (test_platform_subscriptions.py makes
        # one through payments); catalog's consumer lifts the limit.
        change = payments_pb.SubscriptionTierChanged(
            user_id=pat["id"],
            previous_tier=payments_pb.PLATFORM_TIER_FREE,
            tier=payments_pb.PLATFORM_TIER_ENTRY,
        )
        change.effective_time.FromDatetime(datetime.now(UTC))
        await stack.publish(
            encode_event(
                TIER_CHANGED,
                change,
                event_id=new_id(),
                source="/estuary/payments",
                subject=f"users/{pat['id']}",
                time=datetime.now(UTC),
            )
        )

        async def upgraded():
            mine = (await client.get("/api/v1/practitioners/me", headers=bearer(token))).json()
            return mine["tier"] == "entry"

        await eventually(upgraded)
        # An older, late delivery of a downgrade does not undo the newer upgrade.
        stale = payments_pb.SubscriptionTierChanged(
            user_id=pat["id"], tier=payments_pb.PLATFORM_TIER_FREE
        )
        stale.effective_time.FromDatetime(datetime.now(UTC) - timedelta(days=1))
        stale_id = new_id()
        await stack.publish(
            encode_event(
                TIER_CHANGED,
                stale,
                event_id=stale_id,
                source="/estuary/payments",
                subject=f"users/{pat['id']}",
                time=datetime.now(UTC),
            )
        )
        # Only once catalog has taken the late delivery in does the next answer prove it
        # was ignored rather than not yet read.
        await eventually(lambda: stack.consumed("catalog", stale_id))
        mine = (await client.get("/api/v1/practitioners/me", headers=bearer(token))).json()
        assert mine["tier"] == "entry"
        third = await client.post(
            "/api/v1/services", json=session_body(category_id, "Third"), headers=bearer(token)
        )
        assert third.status_code == 201, third.text

        public = await client.get(f"/api/v1/practitioners/{profile['id']}")
        assert public.status_code == 200
        shown = public.json()
        assert {s["title"] for s in shown["services"]} == {"Hatha flow", "Breath", "Third"}
        assert shown["onboarding"] is None and shown["rejection_reason"] is None
        mine = (await client.get("/api/v1/practitioners/me", headers=bearer(token))).json()
        assert mine["onboarding"]["first_service_created"] is True
        assert mine["tier"] == "entry"


async def test_rejection_carries_a_reason_and_the_applicant_may_apply_again(
    stack: Stack, tap: EventTap
):
    async with stack.client() as client:
        staff = await signed_up(client, stack, admin=True)
        pat = await signed_up(client, stack)
        profile = (
            await client.post(
                "/api/v1/practitioners/apply", json=APPLICATION, headers=bearer(pat["access_token"])
            )
        ).json()
        no_reason = await client.post(
            f"/api/v1/practitioners/{profile['id']}/reject",
            json={},
            headers=bearer(staff["access_token"]),
        )
        assert no_reason.status_code == 422
        assert no_reason.json()["errors"][0]["field"] == "reason"
        rejected = await client.post(
            f"/api/v1/practitioners/{profile['id']}/reject",
            json={"reason": "Please add a certification we can verify."},
            headers=bearer(staff["access_token"]),
        )
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        event = await tap.next("practitioner.rejected", practitioner_id=profile["id"])
        assert event.message.reason == "Please add a certification we can verify."
        mine = (
            await client.get("/api/v1/practitioners/me", headers=bearer(pat["access_token"]))
        ).json()
        assert mine["rejection_reason"] == "Please add a certification we can verify."
        twice = await client.post(
            f"/api/v1/practitioners/{profile['id']}/approve", headers=bearer(staff["access_token"])
        )
        assert twice.status_code == 409
        reapplied = await client.post(
            "/api/v1/practitioners/apply", json=APPLICATION, headers=bearer(pat["access_token"])
        )
        assert reapplied.status_code == 201 and reapplied.json()["status"] == "pending"
        assert reapplied.json()["id"] == profile["id"]
