"""A practitioner's platform subscription through the gateway, on both shapes, with the
sandbox standing in for Stripe: at the free tier's limit of two services a third is refused;
subscribing to entry with a card is paid at once, payments says subscription.tier_changed,
catalog lifts the limit and the third service is published; an upgrade to premium is held at
once, and a cancellation keeps it until the period ends. A declined card grants nothing, a
client cannot subscribe, and a bad tier is refused naming the field. A suspended
practitioner's token changes nothing until they are reactivated."""

from __future__ import annotations

from typing import Any

import httpx

from chassis.ids import new_id
from estuary.payments.v1 import events_pb2 as payments_pb
from tests.e2e.accounts import Account, holding_role, open_practice, sign_in_admin
from tests.e2e.booking_steps import new_client, open_for_business
from tests.e2e.payments_steps import SUBSCRIPTION_WRITE_ROUTES
from tests.e2e.stacks import EventTap, Stack
from tests.e2e.test_account_status import USERS, first_refusal, until
from tests.e2e.test_catalog_journey import eventually, session_body

ROUTE = "/api/v1/me/platform-subscription"
TIER_SECONDS = 20.0


async def subscribe(
    client: httpx.AsyncClient, who: Account, tier: str, card: str = "pm_card_visa"
) -> httpx.Response:
    return await client.post(
        ROUTE,
        json={"tier": tier, "payment_method": card},
        headers={**who.headers, "Idempotency-Key": new_id()},
    )


async def catalog_tier(client: httpx.AsyncClient, who: Account) -> str:
    mine = await client.get("/api/v1/practitioners/me", headers=who.headers)
    assert mine.status_code == 200, mine.text
    return str(mine.json()["tier"])


async def new_service(
    client: httpx.AsyncClient, who: Account, category_id: str, title: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/services",
        json={**session_body("", title), "category_id": category_id},
        headers=who.headers,
    )


async def test_a_paid_tier_lifts_the_service_limit_and_is_kept_until_the_period_ends(
    stack: Stack, tap: EventTap
):
    async with stack.client() as client:
        practice = await open_for_business(
            client, stack, session_body("", "Hatha"), session_body("", "Breath")
        )
        pia = practice.owner
        at_limit = await new_service(client, pia, practice.category_id, "Third")
        assert at_limit.status_code == 409, at_limit.text
        assert at_limit.json()["code"] == "SERVICE_LIMIT_REACHED"
        none_yet = await client.get(ROUTE, headers=pia.headers)
        assert none_yet.status_code == 404, none_yet.text

        declined = await subscribe(client, pia, "entry", "pm_card_chargeDeclined")
        assert declined.status_code == 409, declined.text
        assert declined.json()["code"] == "PAYMENT_DECLINED"
        made = await subscribe(client, pia, "entry")
        assert made.status_code == 201, made.text
        subscription: dict[str, Any] = made.json()
        assert (subscription["status"], subscription["held_tier"]) == ("active", "entry")
        changed = await tap.next("subscription.tier_changed", timeout=TIER_SECONDS, user_id=pia.id)
        assert (changed.message.previous_tier, changed.message.tier) == (
            payments_pb.PLATFORM_TIER_FREE,
            payments_pb.PLATFORM_TIER_ENTRY,
        )

        async def catalog_knows(tier: str) -> bool:
            return await catalog_tier(client, pia) == tier

        await eventually(lambda: catalog_knows("entry"), timeout=TIER_SECONDS)
        third = await new_service(client, pia, practice.category_id, "Third")
        assert third.status_code == 201, third.text

        upgraded = await client.patch(ROUTE, json={"tier": "premium"}, headers=pia.headers)
        assert upgraded.status_code == 200, upgraded.text
        assert upgraded.json()["held_tier"] == "premium"
        await eventually(lambda: catalog_knows("premium"), timeout=TIER_SECONDS)

        cancelled = await client.delete(ROUTE, headers=pia.headers)
        assert cancelled.status_code == 200, cancelled.text
        ending = cancelled.json()
        assert ending["cancel_at_period_end"] is True and ending["held_tier"] == "premium"
        assert ending["subscription_id"] == subscription["subscription_id"]
        again = await subscribe(client, pia, "entry")
        assert again.status_code == 409 and again.json()["code"] == "SUBSCRIPTION_EXISTS"
        assert await catalog_tier(client, pia) == "premium"

        cleo = await new_client(client)
        by_client = await subscribe(client, cleo, "entry")
        assert by_client.status_code == 403, by_client.text
        bad = await client.post(
            ROUTE, json={"tier": "gold", "payment_method": "pm_card_visa"}, headers=pia.headers
        )
        assert bad.status_code == 422, bad.text
        assert [v["field"] for v in bad.json()["errors"]] == ["tier"]


async def test_a_suspended_practitioner_changes_no_subscription_until_reactivated(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        applicant, _ = await open_practice(client, admin)
        pia = await holding_role(client, applicant, "practitioner")
        made = await subscribe(client, pia, "entry")
        assert made.status_code == 201, made.text
        key = new_id()

        def subscribes():
            return client.post(
                ROUTE,
                json={"tier": "entry", "payment_method": "pm_card_visa"},
                headers={**pia.headers, "Idempotency-Key": key},
            )

        def changes_tier():
            return client.patch(ROUTE, json={"tier": "entry"}, headers=pia.headers)

        def cancels():
            return client.delete(ROUTE, headers=pia.headers)

        steps = [
            ("POST", ROUTE, subscribes),
            ("PATCH", ROUTE, changes_tier),
            ("DELETE", ROUTE, cancels),
        ]
        assert [(m, p) for m, p, _ in steps] == SUBSCRIPTION_WRITE_ROUTES

        suspended = await client.post(
            f"{USERS}/{pia.id}/suspend", headers=admin.headers, json={"reason": "fraud review"}
        )
        assert suspended.status_code == 200, suspended.text
        # Asking for the tier already held changes nothing: it probes when payments knows.
        await first_refusal(changes_tier, "ACCOUNT_SUSPENDED")
        for method, path, send in steps:
            answer = await send()
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["code"] == "ACCOUNT_SUSPENDED", (method, path, answer.text)
        mine = await client.get(ROUTE, headers=pia.headers)
        assert mine.json()["cancel_at_period_end"] is False, mine.text

        back = await client.post(
            f"{USERS}/{pia.id}/reactivate", headers=admin.headers, json={"reason": "cleared"}
        )
        assert back.status_code == 200, back.text

        async def accepted_again() -> bool:
            answer = await changes_tier()
            assert answer.status_code in (200, 403), answer.text
            return answer.status_code == 200

        await until(accepted_again, "the old token changes the subscription again")
        cancelled = await cancels()
        assert cancelled.status_code == 200 and cancelled.json()["cancel_at_period_end"] is True
