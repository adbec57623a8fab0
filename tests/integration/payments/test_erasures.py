"""An erased user (user.deleted, through payments.erasures) on the sandbox, on both
databases: what they were billed for as a reader and a practitioner ends at once (ENDED,
nothing granted, said once; Free again) and is never billed again; the subscriptions to an
erased creator's streams keep their level to the period's end and are not renewed; a
redelivery, or a crash between the provider's answers and the commit, asks the provider
nothing twice; a user with nothing changes nothing; and an erasure racing the reader's own
cancellation or change of level ends the subscription once."""

from __future__ import annotations

import json
from collections import Counter
from functools import partial
from typing import Any

from chassis.accounts import USER_DELETED
from chassis.auth.principal import Principal, Role
from chassis.errors import FailedPrecondition
from chassis.ids import new_id
from estuary.identity.v1 import events_pb2 as identity_events
from estuary.payments.v1 import events_pb2
from services.payments.domain.earnings import Tier
from services.payments.domain.subscriptions import SubscriptionStatus
from services.payments.events import SUBSCRIPTION_TIER_CHANGED
from services.payments.provider.port import ProviderUnavailable
from services.payments.provider.port import Subscription as ProviderSubscription
from tests.builders import person
from tests.integration.payments.test_checkout_races import sandbox_objects
from tests.integration.payments.test_stream_subscriptions import (
    ACTIVE,
    ENDED,
    Stream,
    eur,
    next_period,
    said,
    subscribe,
    subscription_orders,
)
from tests.integration.payments.world import HeldDelivery, World, world
from tests.races import race

ERASURES = "payments.erasures"
# Subscriptions of one reader in the race with their erasure.
RACED = 6


def erasure(w: World, user_id: str, event_id: str | None = None) -> HeldDelivery:
    """identity's user.deleted of the user, as the bus delivers it."""
    return w.delivery(identity_events.UserDeleted(user_id=user_id), event_id, USER_DELETED)


async def erase(w: World, user_id: str, event_id: str | None = None) -> str:
    """The user's erasure through payments.erasures; how it was settled."""
    delivery = erasure(w, user_id, event_id)
    await w.consumer(ERASURES).handle(delivery)
    return delivery.settled


async def provider_changes(w: World) -> Counter[tuple[str, str, bool]]:
    """The sandbox's events so far (taken, and applied to payments as its webhooks are), as
    (type, subscription, cancel_at_period_end) counted: what the provider was made to do."""
    counted: Counter[tuple[str, str, bool]] = Counter()
    for payload, signature in await w.sent_webhooks():
        event = json.loads(payload)
        found = event["data"]["object"]
        if event["type"].startswith("customer.subscription."):
            counted[(event["type"], found["id"], found["cancel_at_period_end"])] += 1
        await w.treasury.receive_stripe_event(payload, signature)
    return counted


def reader_who_practises() -> Principal:
    """A practitioner (a platform subscription of their own) who reads others' streams."""
    return person(new_id(), Role.PRACTITIONER)


def sandbox_status(w: World, provider_subscription_id: str) -> str:
    [found] = [s for s in sandbox_objects(w, "subscription") if s["id"] == provider_subscription_id]
    return str(found["status"])


async def test_an_erased_reader_is_billed_for_nothing_from_then_on(empty_database_url):
    async with world(empty_database_url) as w:
        stream, other = Stream(w), w.shelf.stream(new_id())
        other_tier = w.shelf.paid_tier(other, 1, eur(300))
        reader = reader_who_practises()
        first = await subscribe(w, reader, stream.gold)
        second = await subscribe(w, reader, other_tier)
        platform = await w.treasury.subscribe(reader, "entry", "pm_card_visa", new_id())
        await w.apply_webhooks()
        invoices = len(sandbox_objects(w, "invoice"))

        assert await erase(w, reader.user_id) == "ack"

        for made in (first, second):
            ended = await w.treasury.stream_subscription(reader, made.name)
            assert (ended.status, ended.granted_level) == (SubscriptionStatus.ENDED, 0)
            assert sandbox_status(w, made.provider_subscription_id) == "canceled"
        # Each said ended once, granting nothing; the platform tier back to Free.
        assert (
            sorted(await said(w))
            == [(1, ACTIVE, 1, False), (1, ACTIVE, 2, False)] + [(2, ENDED, 0, False)] * 2
        )
        async with w.uow(write=False) as uow:
            kept = await uow.subscriptions.get(platform.id)
            tier = await uow.tiers.tier_at(reader.user_id, w.clock.now())
        assert kept is not None and kept.status is SubscriptionStatus.ENDED
        assert tier is Tier.FREE
        assert sandbox_status(w, platform.provider_subscription_id) == "canceled"
        assert [(c.previous_tier, c.tier) for c in await w.events(SUBSCRIPTION_TIER_CHANGED)] == [
            (events_pb2.PLATFORM_TIER_FREE, events_pb2.PLATFORM_TIER_ENTRY),
            (events_pb2.PLATFORM_TIER_ENTRY, events_pb2.PLATFORM_TIER_FREE),
        ]
        # The provider's own word on the endings, then a month of billing: nothing more.
        ended_there = await provider_changes(w)
        assert sum(ended_there.values()) == 3
        assert {kind for kind, _, _ in ended_there} == {"customer.subscription.deleted"}
        before = await said(w)
        await next_period(w)
        assert len(sandbox_objects(w, "invoice")) == invoices
        assert sorted(await subscription_orders(w)) == [300, 1_200]
        assert await said(w) == before


async def test_an_erased_creators_readers_keep_their_level_to_the_period_end_only(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        readers = [person(), person(), person()]
        made = [
            await subscribe(w, readers[0], stream.silver),
            await subscribe(w, readers[1], stream.gold),
            await subscribe(w, readers[2], stream.silver),
        ]
        # One reader had cancelled already: left as it is.
        await w.treasury.cancel_stream_subscription(readers[2], made[2].name)
        await w.apply_webhooks()

        assert await erase(w, w.practitioner_user_id) == "ack"

        for reader, subscription in zip(readers, made, strict=True):
            ending = await w.treasury.stream_subscription(reader, subscription.name)
            assert (ending.status, ending.cancel_at_period_end, ending.granted_level) == (
                SubscriptionStatus.ACTIVE,
                True,
                subscription.level,
            )
        changed = await provider_changes(w)
        assert changed == Counter(
            {
                ("customer.subscription.updated", s.provider_subscription_id, True): 1
                for s in made[:2]
            }
        )
        await next_period(w)
        for reader, subscription in zip(readers, made, strict=True):
            ended = await w.treasury.stream_subscription(reader, subscription.name)
            assert (ended.status, ended.granted_level) == (SubscriptionStatus.ENDED, 0)
        assert sorted(await subscription_orders(w)) == [500, 500, 1_200]  # none renewed


async def test_a_redelivered_erasure_asks_the_provider_nothing_twice(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = reader_who_practises()
        held = await subscribe(w, reader, stream.silver)
        platform = await w.treasury.subscribe(reader, "premium", "pm_card_visa", new_id())
        sold = await subscribe(
            w, person(), w.shelf.paid_tier(w.shelf.stream(reader.user_id), 1, eur(200))
        )
        await w.apply_webhooks()
        event_id = new_id()
        asked: list[ProviderSubscription] = []
        cancel = w.sandbox.cancel_subscription

        async def answer_lost(subscription_id: str, **options: Any) -> ProviderSubscription:
            # The provider does it; its answer to the last call is lost, so the delivery
            # fails after every cancellation was made and nothing was committed.
            asked.append(await cancel(subscription_id, **options))
            if len(asked) == 3:
                raise ProviderUnavailable("the connection dropped before the answer")
            return asked[-1]

        setattr(w.sandbox, "cancel_subscription", answer_lost)  # noqa: B010
        try:
            assert await erase(w, reader.user_id, event_id) == "retry"
        finally:
            delattr(w.sandbox, "cancel_subscription")
        async with w.uow(write=False) as uow:
            untouched = await uow.stream_subscriptions.get(held.id)
        assert untouched is not None and untouched.status is SubscriptionStatus.ACTIVE

        # Delivered again (the same event), then twice more: applied once, each change once.
        for _ in range(3):
            assert await erase(w, reader.user_id, event_id) == "ack"
        assert await erase(w, reader.user_id) == "ack"  # the same erasure said again
        changed = await provider_changes(w)
        assert changed == Counter(
            {
                ("customer.subscription.deleted", held.provider_subscription_id, False): 1,
                ("customer.subscription.deleted", platform.provider_subscription_id, False): 1,
                ("customer.subscription.updated", sold.provider_subscription_id, True): 1,
            }
        )
        ended = await w.treasury.stream_subscription(reader, held.name)
        assert (ended.status, ended.sequence) == (SubscriptionStatus.ENDED, 2)
        assert [(s, st, g) for s, st, g, _ in await said(w) if st == ENDED] == [(2, ENDED, 0)]


async def test_a_subscription_the_provider_ended_already_is_followed_not_refused(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await subscribe(w, reader, stream.silver)
        await w.apply_webhooks()
        # Ended at the provider, its webhook not here yet: the cancellation is refused there.
        await w.sandbox.cancel_subscription(
            made.provider_subscription_id, at_period_end=False, idempotency_key=new_id()
        )
        assert await erase(w, reader.user_id) == "ack"
        ended = await w.treasury.stream_subscription(reader, made.name)
        assert (ended.status, ended.granted_level) == (SubscriptionStatus.ENDED, 0)
        assert await said(w) == [(1, ACTIVE, 1, False), (2, ENDED, 0, False)]


async def test_erasing_a_user_with_nothing_billed_changes_nothing(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await subscribe(w, reader, stream.silver)
        await w.apply_webhooks()
        assert await erase(w, new_id()) == "ack"
        assert await provider_changes(w) == Counter()
        assert await said(w) == [(1, ACTIVE, 1, False)]
        kept = await w.treasury.stream_subscription(reader, made.name)
        assert (kept.status, kept.cancel_at_period_end) == (SubscriptionStatus.ACTIVE, False)


async def test_a_malformed_erasure_is_refused_never_guessed_at(empty_database_url):
    async with world(empty_database_url) as w:
        assert await erase(w, "not-an-id") == "retry"
        assert await w.sandbox.count("subscription") == 0


async def test_an_erasure_racing_the_readers_own_changes_ends_each_subscription_once(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        reader = person()
        made = []
        for _ in range(RACED):
            stream = w.shelf.stream(new_id())
            w.shelf.paid_tier(stream, 2, eur(900))
            made.append(await subscribe(w, reader, w.shelf.paid_tier(stream, 1, eur(300))))
        await w.apply_webhooks()
        event_id = new_id()
        # The reader cancels half and upgrades the rest while the erasure (delivered twice)
        # ends them all.
        own = [
            partial(w.treasury.cancel_stream_subscription, reader, m.name)
            if i % 2
            else partial(w.treasury.change_stream_level, reader, m.name, 2)
            for i, m in enumerate(made)
        ]
        delivered = partial(erase, w, reader.user_id, event_id)
        outcome = await race([*own[:2], delivered, *own[2:], delivered])
        assert [outcome.outcomes[2], outcome.outcomes[-1]] == ["ack", "ack"]
        # The reader's own request came first, or found the subscription ending or ended
        # (here, or at the provider before its webhook came).
        assert all(isinstance(e, FailedPrecondition) for e in outcome.losses), outcome.losses
        ended_there = await provider_changes(w)
        for m in made:
            ended = await w.treasury.stream_subscription(reader, m.name)
            assert (ended.status, ended.granted_level) == (SubscriptionStatus.ENDED, 0)
            assert sandbox_status(w, m.provider_subscription_id) == "canceled"
            deleted = [
                n
                for (kind, there, _), n in ended_there.items()
                if kind == "customer.subscription.deleted" and there == m.provider_subscription_id
            ]
            assert deleted == [1]
        said_ended = [(status, granted) for _, status, granted, _ in await said(w)]
        assert said_ended.count((ENDED, 0)) == RACED
        billed = len(await subscription_orders(w))
        await next_period(w)
        assert len(await subscription_orders(w)) == billed  # nothing renewed
