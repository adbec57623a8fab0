"""A reader's subscription to a stream's paid tier through the gateway, on both shapes, with
the sandbox standing in for Stripe: a client subscribes to a practitioner's paid tier at the
stream's price (a retry with its key answers the same subscription), its first month is paid
at once (stream_subscription.changed grants the level, sequence 1), the month is a stream
order of kind SUBSCRIPTION earned by the creator less the Free tier's commission, and a
cancellation keeps the level to the period's end; another reader's subscription is not found;
the ledger stays sound. Access follows payments' word: the subscriber reads the paid post
whole (and is made a follower) once the month is paid, may not unfollow while it is paid for,
keeps the level after cancelling until the period ends and loses it when the provider ends
the subscription there (the post is locked again, unfollowing allowed), and the creator's
revenue counts the month; a reader who did not subscribe still sees a teaser. A tier's new
price, set by its creator, reaches its subscriber at the renewal and not before (the renewal
billed, ordered and earned at it). A suspended client's token subscribes, changes and cancels
nothing until reactivated. A reader who deletes their account is billed no more: their
subscription ends at once at the provider."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from chassis.ids import new_id
from estuary.payments.v1 import events_pb2 as payments_pb
from services.payments.provider.port import SubscriptionStatus as ProviderStatus
from services.payments.uow import PaymentsUnitOfWork
from tests.e2e.accounts import Account, sign_in_admin, sign_up
from tests.e2e.payments_steps import (
    STREAM_SUBSCRIPTION_WRITE_ROUTES,
    bill_due_subscriptions,
    offline_payments,
)
from tests.e2e.stacks import EventTap, Stack
from tests.e2e.test_account_status import USERS, first_refusal, until
from tests.e2e.test_catalog_journey import eventually
from tests.e2e.test_payments_journey import earnings_of, ledger_check
from tests.e2e.test_stream_money import published_post
from tests.e2e.test_streams import practitioner, stream_with_a_paid_tier

EVENT_SECONDS = 20.0
EUR_5 = {"amount_minor": 500, "currency": "EUR"}


async def subscribe(
    client: httpx.AsyncClient,
    who: Account,
    base: str,
    level: int,
    card: str = "pm_card_visa",
    key: str | None = None,
) -> httpx.Response:
    return await client.post(
        f"{base}/subscriptions",
        json={"level": level, "payment_method": card},
        headers={**who.headers, "Idempotency-Key": key or new_id()},
    )


async def a_subscriber(
    client: httpx.AsyncClient, stack: Stack
) -> tuple[Account, str, Account, dict[str, Any]]:
    """A practitioner, their stream with a paid tier (its path), and a client subscribed to
    that tier with the first month paid (the subscription as answered)."""
    pia = await practitioner(client, stack)
    base = await stream_with_a_paid_tier(client, pia)
    cleo = await sign_up(client)
    made = await subscribe(client, cleo, base, 1)
    assert made.status_code == 201, made.text
    return pia, base, cleo, made.json()


async def test_a_paid_tier_subscription_is_granted_and_earned_by_the_creator(
    stack: Stack, tap: EventTap
):
    async with stack.client() as client:
        pia = await practitioner(client, stack)
        base = await stream_with_a_paid_tier(client, pia)
        post = await published_post(client, pia, base, 1)
        cleo = await sign_up(client)
        assert (await client.get(post, headers=cleo.headers)).json()["locked"]

        own = await subscribe(client, pia, base, 1)
        assert (own.status_code, own.json()["code"]) == (409, "OWN_STREAM"), own.text
        unsold = await subscribe(client, cleo, base, 7)
        assert unsold.status_code == 404, unsold.text

        key = new_id()
        made = await subscribe(client, cleo, base, 1, key=key)
        assert made.status_code == 201, made.text
        subscription = made.json()
        assert (subscription["status"], subscription["level"], subscription["granted_level"]) == (
            "active",
            1,
            1,
        )
        assert subscription["price"] == EUR_5
        again = await subscribe(client, cleo, base, 1, key=key)
        assert again.json()["subscription_id"] == subscription["subscription_id"]
        exists = await subscribe(client, cleo, base, 1)
        assert (exists.status_code, exists.json()["code"]) == (409, "SUBSCRIPTION_EXISTS")

        name = f"streamSubscriptions/{subscription['subscription_id']}"
        changed = await tap.next(
            "stream_subscription.changed", timeout=EVENT_SECONDS, subscription=name
        )
        assert (changed.message.granted_level, changed.message.sequence) == (1, 1)
        assert changed.message.status == payments_pb.STREAM_SUBSCRIPTION_STATUS_ACTIVE
        paid = await tap.next("stream_order.paid", timeout=EVENT_SECONDS, user_id=cleo.id)
        assert paid.message.kind == payments_pb.STREAM_ORDER_KIND_SUBSCRIPTION
        assert (paid.message.creator_user_id, paid.message.earning.amount_minor) == (pia.id, 400)

        async def earned() -> dict | None:
            found = await earnings_of(stack, pia)
            return found if found else None

        assert await eventually(earned, timeout=EVENT_SECONDS) == {"EUR": (400, 0, 0)}

        async def whole_in_feed() -> dict | None:
            feed = await client.get("/api/v1/me/feed", headers=cleo.headers)
            found = [p for p in feed.json()["results"] if f"{base}/posts/{p['post_id']}" == post]
            return found[0] if found and not found[0]["locked"] else None

        assert (await eventually(whole_in_feed, timeout=EVENT_SECONDS))["body"]
        left = await client.delete(f"{base}/follow", headers=cleo.headers)
        assert (left.status_code, left.json()["code"]) == (409, "SUBSCRIPTION_ACTIVE"), left.text

        async def revenue() -> dict | None:
            found = (await client.get(f"{base}/revenue", headers=pia.headers)).json()
            return found if found["totals"] else None

        [total] = (await eventually(revenue, timeout=EVENT_SECONDS))["totals"]
        assert (total["subscriptions"], total["subscription_count"]) == (EUR_5, 1)

        path = f"/api/v1/stream-subscriptions/{subscription['subscription_id']}"
        mine = (await client.get("/api/v1/me/stream-subscriptions", headers=cleo.headers)).json()
        assert [s["subscription_id"] for s in mine["results"]] == [subscription["subscription_id"]]
        stranger = await sign_up(client)
        for method, url in (("GET", path), ("PATCH", path), ("POST", f"{path}/cancel")):
            body = {"level": 1} if method == "PATCH" else None
            theirs = await client.request(method, url, json=body, headers=stranger.headers)
            assert theirs.status_code == 404, (method, url, theirs.text)

        cancelled = await client.post(f"{path}/cancel", headers=cleo.headers)
        assert cancelled.status_code == 200, cancelled.text
        assert (cancelled.json()["cancel_at_period_end"], cancelled.json()["granted_level"]) == (
            True,
            1,
        )
        ending = await tap.next(
            "stream_subscription.changed", timeout=EVENT_SECONDS, subscription=name, sequence=2
        )
        assert (ending.message.cancel_at_period_end, ending.message.granted_level) == (True, 1)
        assert not (await client.get(post, headers=cleo.headers)).json()["locked"]
        assert (await client.get(post, headers=stranger.headers)).json()["locked"]

        # The period ends: the provider's billing ends the cancelled subscription, and its
        # webhook alone takes the level away.
        period_end = datetime.fromisoformat(cancelled.json()["current_period_end"])
        await bill_due_subscriptions(stack, period_end - timedelta(seconds=1))
        still = (await client.get(path, headers=cleo.headers)).json()
        assert (still["status"], still["granted_level"]) == ("active", 1), still
        await bill_due_subscriptions(stack, period_end + timedelta(seconds=1))
        ended = await tap.next(
            "stream_subscription.changed", timeout=EVENT_SECONDS, subscription=name, sequence=3
        )
        assert ended.message.status == payments_pb.STREAM_SUBSCRIPTION_STATUS_ENDED
        assert ended.message.granted_level == 0

        async def locked_again() -> bool:
            return bool((await client.get(post, headers=cleo.headers)).json()["locked"])

        assert await eventually(locked_again, timeout=EVENT_SECONDS)
        after = (await client.get(path, headers=cleo.headers)).json()
        assert (after["status"], after["granted_level"]) == ("ended", 0), after
        unfollowed = await client.delete(f"{base}/follow", headers=cleo.headers)
        assert unfollowed.status_code == 204, unfollowed.text
        assert "every invariant holds" in ledger_check(stack)


async def test_a_tiers_new_price_reaches_its_subscriber_at_the_renewal(stack: Stack, tap: EventTap):
    async with stack.client() as client:
        pia, base, cleo, subscription = await a_subscriber(client, stack)
        path = f"/api/v1/stream-subscriptions/{subscription['subscription_id']}"
        first = await tap.next("stream_order.paid", timeout=EVENT_SECONDS, user_id=cleo.id)
        assert first.message.amount.amount_minor == 500

        eur_7 = {"amount_minor": 700, "currency": "EUR"}
        repriced = await client.patch(f"{base}/tiers/1", json={"price": eur_7}, headers=pia.headers)
        assert (repriced.status_code, repriced.json()["price"]) == (200, eur_7), repriced.text
        tier = f"{base.removeprefix('/api/v1/')}/tiers/1"
        said = await tap.next("stream.tier_repriced", timeout=EVENT_SECONDS, tier=tier)
        assert (said.message.price.amount_minor, said.message.level) == (700, 1)

        async def repricing_waits() -> dict | None:
            found = (await client.get(path, headers=cleo.headers)).json()
            return found if found["next_level"] == 1 else None

        # Payments has asked for the new price from the renewal: until then, the old one.
        waiting = await eventually(repricing_waits, timeout=EVENT_SECONDS)
        assert (waiting["price"], waiting["level"], waiting["granted_level"]) == (EUR_5, 1, 1)

        period_end = datetime.fromisoformat(waiting["current_period_end"])
        await bill_due_subscriptions(stack, period_end + timedelta(seconds=1))
        renewal = await tap.next(
            "stream_order.paid",
            timeout=EVENT_SECONDS,
            where=lambda m: m.amount.amount_minor == 700,
            user_id=cleo.id,
        )
        assert renewal.message.earning.amount_minor == 560

        async def renewed() -> dict | None:
            found = (await client.get(path, headers=cleo.headers)).json()
            return found if found["price"] == eur_7 else None

        now = await eventually(renewed, timeout=EVENT_SECONDS)
        assert (now["level"], now["next_level"], now["granted_level"]) == (1, None, 1)
        assert "every invariant holds" in ledger_check(stack)


async def test_a_suspended_reader_subscribes_to_nothing_until_reactivated(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        pia = await practitioner(client, stack)
        base = await stream_with_a_paid_tier(client, pia)
        cleo = await sign_up(client)
        path = f"/api/v1/stream-subscriptions/{new_id()}"

        def subscribes():
            return subscribe(client, cleo, base, 1)

        def changes_level():
            return client.patch(path, json={"level": 1}, headers=cleo.headers)

        def cancels():
            return client.post(f"{path}/cancel", headers=cleo.headers)

        steps = [
            ("POST", "/api/v1/streams/{stream_id}/subscriptions", subscribes),
            ("PATCH", "/api/v1/stream-subscriptions/{subscription_id}", changes_level),
            ("POST", "/api/v1/stream-subscriptions/{subscription_id}/cancel", cancels),
        ]
        assert [(m, p) for m, p, _ in steps] == STREAM_SUBSCRIPTION_WRITE_ROUTES
        # A subscription that is not there: harmless, and it probes when payments knows.
        assert (await changes_level()).status_code == 404

        suspended = await client.post(
            f"{USERS}/{cleo.id}/suspend", headers=admin.headers, json={"reason": "chargebacks"}
        )
        assert suspended.status_code == 200, suspended.text
        await first_refusal(changes_level, "ACCOUNT_SUSPENDED", meanwhile=(404,))
        for method, route, send in steps:
            refused = await send()
            assert refused.status_code == 403, (method, route, refused.text)
            assert refused.json()["code"] == "ACCOUNT_SUSPENDED", (method, route, refused.text)

        back = await client.post(
            f"{USERS}/{cleo.id}/reactivate", headers=admin.headers, json={"reason": "cleared"}
        )
        assert back.status_code == 200, back.text

        async def accepted_again() -> bool:
            answer = await changes_level()
            assert answer.status_code in (404, 403), answer.text
            return answer.status_code == 404

        await until(accepted_again, "the old token reaches payments again")


async def test_a_reader_who_deletes_their_account_is_billed_no_more(stack: Stack, tap: EventTap):
    async with stack.client() as client:
        _, _, cleo, subscription = await a_subscriber(client, stack)
        subscription_id = subscription["subscription_id"]
        name = f"streamSubscriptions/{subscription_id}"
        await tap.next("stream_subscription.changed", timeout=EVENT_SECONDS, subscription=name)
        await tap.next("stream_order.paid", timeout=EVENT_SECONDS, user_id=cleo.id)

        erased = await client.delete("/api/v1/users/me", headers=cleo.headers)
        assert erased.status_code == 204, erased.text
        ended = await tap.next(
            "stream_subscription.changed", timeout=EVENT_SECONDS, subscription=name, sequence=2
        )
        assert ended.message.status == payments_pb.STREAM_SUBSCRIPTION_STATUS_ENDED
        assert (ended.message.granted_level, ended.message.cancel_at_period_end) == (0, False)
        # Ended at the provider, not left to renew: its billing has nothing more of it.
        async with offline_payments(stack) as offline:
            async with offline.runtime.unit_of_work(PaymentsUnitOfWork)(write=False) as uow:
                row = await uow.stream_subscriptions.get(subscription_id)
            assert row is not None and row.current_period_end is not None
            there = await offline.provider.retrieve_subscription(row.provider_subscription_id)
        assert there.status is ProviderStatus.CANCELED
        await bill_due_subscriptions(stack, row.current_period_end + timedelta(seconds=1))
        with pytest.raises(AssertionError):
            await tap.next("stream_order.paid", timeout=2.0, user_id=cleo.id)
