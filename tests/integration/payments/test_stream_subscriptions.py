"""Readers' subscriptions to streams' paid tiers on the sandbox, on both databases: the level
granted once the first month is paid (stream_subscription.changed, sequence 1), each paid
invoice a SUBSCRIPTION stream order earned by the creator less the commission once, however
often or concurrently its webhook comes; a refused first payment granting nothing; a renewal
refused granting nothing (PAST_DUE) then ending; a cancellation keeping the level to the
period's end; an upgrade granted and charged at once, a downgrade from the next period;
streams' price (never the client's), and a tier's new price (stream.tier_repriced) billed to
its subscribers from their renewal and never before, once however often or concurrently the
event comes, never undoing a change of level asked at the same time; another reader's
subscription not found; one live subscription per reader and stream under concurrency; and
the ledger's check clean throughout."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from chassis.auth.principal import Principal
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from chassis.ids import new_id
from chassis.money import Money
from estuary.payments.v1 import events_pb2
from services.payments.domain.ledger import PLATFORM, Account, AccountKind, TransactionKind
from services.payments.domain.stream_orders import StreamOrderKind
from services.payments.domain.stream_subscriptions import StreamSubscription
from services.payments.domain.subscriptions import SubscriptionStatus
from services.payments.events import STREAM_ORDER_PAID, STREAM_SUBSCRIPTION_CHANGED
from services.payments.provider.port import ChangeTiming
from services.payments.provider.port import Subscription as ProviderSubscription
from services.payments.tables import ledger_postings, ledger_transactions, stream_orders
from tests.builders import person
from tests.integration.payments.test_checkout_races import sandbox_objects
from tests.integration.payments.world import World, world
from tests.races import race

VISA, DECLINED = "pm_card_visa", "pm_card_chargeDeclined"
# Attaches, then declines every charge: the renewal that fails.
FAILS_LATER = "pm_card_chargeCustomerFail"
MONTH = timedelta(days=31)
ACTIVE, PAST_DUE, ENDED, FAILED = (
    events_pb2.STREAM_SUBSCRIPTION_STATUS_ACTIVE,
    events_pb2.STREAM_SUBSCRIPTION_STATUS_PAST_DUE,
    events_pb2.STREAM_SUBSCRIPTION_STATUS_ENDED,
    events_pb2.STREAM_SUBSCRIPTION_STATUS_FAILED,
)
CONCURRENT = 10


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


class Stream:
    """A practitioner's stream with two paid tiers: level 1 at 5.00, level 2 at 12.00."""

    def __init__(self, w: World) -> None:
        self.name = w.shelf.stream(w.practitioner_user_id)
        self.silver = w.shelf.paid_tier(self.name, 1, eur(500))
        self.gold = w.shelf.paid_tier(self.name, 2, eur(1_200))


async def subscribe(
    w: World, reader: Principal, tier: str, card: str = VISA, key: str = ""
) -> StreamSubscription:
    return await w.treasury.subscribe_to_stream(reader, tier, card, key or new_id())


async def said(w: World) -> list[tuple[int, int, int, bool]]:
    """Each stream_subscription.changed: (sequence, status, granted level, cancel)."""
    return [
        (c.sequence, c.status, c.granted_level, c.cancel_at_period_end)
        for c in await w.events(STREAM_SUBSCRIPTION_CHANGED)
    ]


async def creator_pending(w: World) -> int:
    """The creator's pending earnings in EUR; the ledger's invariants checked."""
    async with w.uow(write=False) as uow:
        assert await uow.audit.violations() == []
        return await uow.ledger.balance(
            Account(w.practitioner_user_id, AccountKind.PRACTITIONER_PENDING, "EUR")
        )


async def invoices_in_the_ledger(w: World) -> list[int]:
    """Each invoice the sandbox billed, as the ledger holds it: a paid one is exactly one card
    charge (of its amount, into clearing) and its order; an unpaid one nothing. The amounts
    of the paid ones."""
    paid = []
    async with w.uow(write=False) as uow:
        for invoice in sandbox_objects(w, "invoice"):
            charge = await uow.ledger.find(TransactionKind.CHARGE, f"invoices/{invoice['id']}")
            order = (
                await uow.connection.execute(
                    stream_orders.select().where(stream_orders.c.invoice_id == invoice["id"])
                )
            ).first()
            if invoice["status"] == "paid" and invoice["amount_due"] > 0:
                assert charge is not None and order is not None, invoice
                assert order.amount_minor == invoice["amount_due"], invoice
                paid.append(invoice["amount_due"])
            else:
                assert charge is None and order is None, invoice
    return paid


async def subscription_orders(w: World) -> list[int]:
    """The amounts of the SUBSCRIPTION stream orders paid, oldest first."""
    paid = await w.events(STREAM_ORDER_PAID)
    assert {p.kind for p in paid} <= {events_pb2.STREAM_ORDER_KIND_SUBSCRIPTION}
    return [p.amount.amount_minor for p in paid]


async def next_period(w: World) -> None:
    """A month passes: the sandbox bills what is due and its webhooks are applied."""
    w.clock.advance(MONTH)
    await w.sandbox.renew_subscriptions()
    await w.apply_webhooks()


async def test_a_paid_first_month_grants_the_level_and_is_the_creators_earning_once(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await subscribe(w, reader, stream.silver)
        assert (made.status, made.level, made.granted_level, made.price) == (
            SubscriptionStatus.ACTIVE,
            1,
            1,
            eur(500),
        )
        assert made.current_period_end == w.clock.now() + timedelta(days=30)
        [changed] = await w.events(STREAM_SUBSCRIPTION_CHANGED)
        assert (changed.subscription, changed.user_id, changed.stream) == (
            made.name,
            reader.user_id,
            stream.name,
        )
        assert (changed.level, changed.granted_level, changed.status, changed.sequence) == (
            1,
            1,
            ACTIVE,
            1,
        )
        assert changed.current_period_end_time.ToDatetime().replace(
            tzinfo=w.clock.now().tzinfo
        ) == (made.current_period_end)
        # The provider's subscription names ours; its price is the tier's, made once.
        there = await w.sandbox.retrieve_subscription(made.provider_subscription_id)
        assert there.metadata == {"stream_subscription_id": made.id, "user_id": reader.user_id}
        # The webhooks (invoice paid, created), delivered twice and concurrently, make one
        # order of the invoice and one earning: the Free tier's 20% off 5.00.
        sent = await w.sent_webhooks()
        outcome = await race([partial(w.treasury.receive_stripe_event, p, s) for p, s in sent * 3])
        assert outcome.losses == []
        assert await subscription_orders(w) == [500]
        [paid] = await w.events(STREAM_ORDER_PAID)
        assert (paid.user_id, paid.stream, paid.post) == (reader.user_id, stream.name, "")
        assert (paid.earning.amount_minor, paid.commission.amount_minor) == (400, 100)
        assert await creator_pending(w) == 400
        assert await said(w) == [(1, ACTIVE, 1, False)]
        assert (await w.treasury.stream_subscription(reader, made.name)).id == made.id


async def test_a_refused_first_payment_grants_nothing_and_charges_nothing(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        with pytest.raises(FailedPrecondition) as refused:
            await subscribe(w, reader, stream.silver, DECLINED)
        assert refused.value.reason == "PAYMENT_DECLINED"
        [failed] = (await w.treasury.list_stream_subscriptions(reader, 10, "")).items
        assert (failed.status, failed.granted_level) == (SubscriptionStatus.FAILED, 0)
        await w.apply_webhooks()
        # Said once as failed, granting nothing; no order, no earning.
        assert await said(w) == [(1, FAILED, 0, False)]
        assert await subscription_orders(w) == []
        assert await creator_pending(w) == 0
        await next_period(w)  # never billed again
        assert await subscription_orders(w) == []
        again = await subscribe(w, reader, stream.silver)
        assert again.id != failed.id and again.granted_level == 1


async def test_a_renewal_is_a_second_order_and_moves_the_period(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await subscribe(w, reader, stream.silver)
        await w.apply_webhooks()
        await next_period(w)
        renewed = await w.treasury.stream_subscription(reader, made.name)
        assert made.current_period_end is not None
        assert renewed.current_period_end == made.current_period_end + timedelta(days=30)
        assert await subscription_orders(w) == [500, 500]
        assert await creator_pending(w) == 800
        assert await said(w) == [(1, ACTIVE, 1, False), (2, ACTIVE, 1, False)]
        [_, moved] = await w.events(STREAM_SUBSCRIPTION_CHANGED)
        assert moved.current_period_end_time.ToDatetime().replace(tzinfo=w.clock.now().tzinfo) == (
            renewed.current_period_end
        )


async def past_due(w: World, reader: Principal, tier: str) -> StreamSubscription:
    """A subscription whose first month is paid and whose renewal, a month on, is refused
    (its card now declines)."""
    made = await subscribe(w, reader, tier)
    await w.sandbox.update_subscription_payment_method(made.provider_subscription_id, FAILS_LATER)
    await w.apply_webhooks()
    await next_period(w)
    return made


async def test_a_refused_renewal_grants_nothing_then_ends(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await past_due(w, reader, stream.gold)
        late = await w.treasury.stream_subscription(reader, made.name)
        # Unlike a platform tier, nothing is kept while the renewal is retried.
        assert (late.status, late.level, late.granted_level) == (SubscriptionStatus.PAST_DUE, 2, 0)
        await w.sandbox.renew_subscriptions()
        await w.apply_webhooks()
        lapsed = await w.treasury.stream_subscription(reader, made.name)
        assert (lapsed.status, lapsed.granted_level) == (SubscriptionStatus.ENDED, 0)
        assert await said(w) == [
            (1, ACTIVE, 2, False),
            (2, PAST_DUE, 0, False),
            (3, ENDED, 0, False),
        ]
        assert await subscription_orders(w) == [1_200]
        assert await invoices_in_the_ledger(w) == [1_200]  # the two refused: nothing
        assert await creator_pending(w) == 960


async def test_a_past_due_subscription_changes_no_tier_and_is_charged_nothing_more(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await past_due(w, reader, stream.silver)
        await w.sandbox.update_subscription_payment_method(made.provider_subscription_id, VISA)
        await w.apply_webhooks()
        provider_id = made.provider_subscription_id
        held_price = (await w.sandbox.retrieve_subscription(provider_id)).price_id
        with pytest.raises(FailedPrecondition) as refused:
            await w.treasury.change_stream_level(reader, made.name, 2)
        assert refused.value.reason == "SUBSCRIPTION_PAST_DUE"
        still = await w.treasury.stream_subscription(reader, made.name)
        assert (still.status, still.level, still.next_level) == (
            SubscriptionStatus.PAST_DUE,
            1,
            None,
        )
        assert (await w.sandbox.retrieve_subscription(provider_id)).price_id == held_price
        assert await subscription_orders(w) == [500]
        assert await invoices_in_the_ledger(w) == [500]
        # Cancelling stays open to them.
        cancelled = await w.treasury.cancel_stream_subscription(reader, made.name)
        assert cancelled.cancel_at_period_end


async def test_a_cancelled_subscription_keeps_its_level_until_the_period_ends(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await subscribe(w, reader, stream.silver)
        cancelled = await w.treasury.cancel_stream_subscription(reader, made.name)
        assert (cancelled.cancel_at_period_end, cancelled.granted_level) == (True, 1)
        again = await w.treasury.cancel_stream_subscription(reader, made.name)
        assert again.cancel_at_period_end
        with pytest.raises(FailedPrecondition) as ending:
            await w.treasury.change_stream_level(reader, made.name, 2)
        assert ending.value.reason == "SUBSCRIPTION_ENDING"
        await w.apply_webhooks()
        await next_period(w)
        ended = await w.treasury.stream_subscription(reader, made.name)
        assert (ended.status, ended.granted_level) == (SubscriptionStatus.ENDED, 0)
        assert await said(w) == [
            (1, ACTIVE, 1, False),
            (2, ACTIVE, 1, True),
            (3, ENDED, 0, True),
        ]
        assert await subscription_orders(w) == [500]  # nothing billed after the end
        with pytest.raises(FailedPrecondition) as over:
            await w.treasury.cancel_stream_subscription(reader, made.name)
        assert over.value.reason == "SUBSCRIPTION_ENDING"
        assert (await subscribe(w, reader, stream.gold)).granted_level == 2


async def test_an_upgrade_is_granted_and_charged_at_once_a_downgrade_from_the_next_period(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await subscribe(w, reader, stream.silver)
        w.clock.advance(timedelta(days=15))
        upgraded = await w.treasury.change_stream_level(reader, made.name, 2)
        assert (upgraded.level, upgraded.granted_level, upgraded.price) == (2, 2, eur(1_200))
        await w.apply_webhooks()
        # The rest of the period at the difference: (12.00 - 5.00) for 15 of 30 days.
        assert await subscription_orders(w) == [500, 350]
        downgraded = await w.treasury.change_stream_level(reader, made.name, 1)
        assert (downgraded.level, downgraded.next_level, downgraded.granted_level) == (2, 1, 2)
        await w.apply_webhooks()
        await next_period(w)
        now = await w.treasury.stream_subscription(reader, made.name)
        assert (now.level, now.next_level, now.granted_level, now.price) == (1, None, 1, eur(500))
        assert await subscription_orders(w) == [500, 350, 500]
        assert sorted(await invoices_in_the_ledger(w)) == [350, 500, 500]
        assert [(s, g) for s, _, g, _ in await said(w)] == [(1, 1), (2, 2), (3, 1)]
        assert await creator_pending(w) == (500 + 350 + 500) * 8 // 10


async def test_asking_for_the_level_held_undoes_a_downgrade(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await subscribe(w, reader, stream.gold)
        await w.treasury.change_stream_level(reader, made.name, 1)
        kept = await w.treasury.change_stream_level(reader, made.name, 2)
        assert (kept.level, kept.next_level) == (2, None)
        await w.apply_webhooks()
        await next_period(w)
        assert (await w.treasury.stream_subscription(reader, made.name)).granted_level == 2
        assert await subscription_orders(w) == [1_200, 1_200]


async def orders_of(w: World, reader: Principal) -> list[int]:
    """The amounts of a reader's SUBSCRIPTION stream orders paid, oldest first."""
    return [
        p.amount.amount_minor
        for p in await w.events(STREAM_ORDER_PAID)
        if p.user_id == reader.user_id
    ]


async def billed_next(w: World, made: StreamSubscription) -> tuple[str, int]:
    """The tier and amount the provider bills the subscription's next period at."""
    there = await w.sandbox.retrieve_subscription(made.provider_subscription_id)
    async with w.uow(write=False) as uow:
        sold = await uow.tier_prices.sold_by(there.price_id)
    assert sold is not None
    return sold[0], sold[1].amount_minor


async def test_a_tiers_new_price_is_billed_from_the_renewal_and_never_before(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        early, leaving = person(), person()
        first = await subscribe(w, early, stream.silver)
        gone = await subscribe(w, leaving, stream.silver)
        await w.treasury.cancel_stream_subscription(leaving, gone.name)
        w.shelf.paid_tier(stream.name, 1, eur(700))
        # Subscribed after the change: at the new price already.
        late = person()
        later = await subscribe(w, late, stream.silver)
        assert (first.price, later.price) == (eur(500), eur(700))
        await w.apply_webhooks()
        event_id = new_id()
        with w.subscription_changes() as asked:
            assert await w.tier_repriced(stream.silver, event_id=event_id) == "ack"
            # Only the one paying another price is moved, from the period's end; one that
            # ends with its period and one already at the price are not asked about.
            assert [(s, t) for s, _, t in asked] == [
                (first.provider_subscription_id, ChangeTiming.PERIOD_END)
            ]
            # Delivered again, the event changes nothing more.
            assert await w.tier_repriced(stream.silver, event_id=event_id) == "ack"
            assert len(asked) == 1
        assert await billed_next(w, first) == (stream.silver, 700)
        await w.apply_webhooks()
        # Until the renewal, the reader pays and reads as before; nothing is said to streams.
        kept = await w.treasury.stream_subscription(early, first.name)
        assert (kept.level, kept.granted_level, kept.price, kept.next_level) == (1, 1, eur(500), 1)
        assert kept.current_period_end == first.current_period_end
        assert await said(w) == [
            (1, ACTIVE, 1, False),
            (1, ACTIVE, 1, False),
            (2, ACTIVE, 1, True),
            (1, ACTIVE, 1, False),
        ]
        await next_period(w)
        renewed = await w.treasury.stream_subscription(early, first.name)
        assert (renewed.level, renewed.granted_level, renewed.price, renewed.next_level) == (
            1,
            1,
            eur(700),
            None,
        )
        assert await orders_of(w, early) == [500, 700]
        assert await orders_of(w, late) == [700, 700]
        assert await orders_of(w, leaving) == [500]
        assert sorted(await invoices_in_the_ledger(w)) == [500, 500, 700, 700, 700]
        assert await creator_pending(w) == (500 + 500 + 700 + 700 + 700) * 8 // 10
        # The renewal at the new price is the renewal said to streams, as any is.
        assert (await w.events(STREAM_SUBSCRIPTION_CHANGED))[-1].current_period_end_time.ToDatetime(
            w.clock.now().tzinfo
        ) == renewed.current_period_end


async def test_a_new_price_follows_the_tier_a_subscription_renews_on(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await subscribe(w, reader, stream.gold)
        await w.treasury.change_stream_level(reader, made.name, 1)
        with w.subscription_changes() as asked:
            # Leaving gold by a downgrade: gold's new price is not theirs.
            w.shelf.paid_tier(stream.name, 2, eur(1_500))
            assert await w.tier_repriced(stream.gold) == "ack"
            assert asked == []
            # Coming to silver: silver's new price is, from the next period.
            w.shelf.paid_tier(stream.name, 1, eur(700))
            assert await w.tier_repriced(stream.silver) == "ack"
            # Changed back before the renewal: asked again, and the last price holds.
            w.shelf.paid_tier(stream.name, 1, eur(500))
            assert await w.tier_repriced(stream.silver) == "ack"
            assert len(asked) == 2
        assert await billed_next(w, made) == (stream.silver, 500)
        down = await w.treasury.stream_subscription(reader, made.name)
        assert (down.level, down.next_level, down.price) == (2, 1, eur(1_200))
        await w.apply_webhooks()
        await next_period(w)
        now = await w.treasury.stream_subscription(reader, made.name)
        assert (now.level, now.next_level, now.price) == (1, None, eur(500))
        assert await subscription_orders(w) == [1_200, 500]


async def test_undoing_a_downgrade_renews_at_the_tiers_price_now(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await subscribe(w, reader, stream.gold)
        await w.treasury.change_stream_level(reader, made.name, 1)
        w.shelf.paid_tier(stream.name, 2, eur(1_500))
        assert await w.tier_repriced(stream.gold) == "ack"
        # Back to gold: its next period is gold's, at gold's price now.
        kept = await w.treasury.change_stream_level(reader, made.name, 2)
        assert (kept.level, kept.next_level, kept.price) == (2, 2, eur(1_200))
        await w.apply_webhooks()
        await next_period(w)
        now = await w.treasury.stream_subscription(reader, made.name)
        assert (now.level, now.next_level, now.granted_level, now.price) == (
            2,
            None,
            2,
            eur(1_500),
        )
        assert await subscription_orders(w) == [1_200, 1_500]


async def test_a_tier_streams_no_longer_sells_changes_no_subscription(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        made = await subscribe(w, person(), stream.silver)
        del w.shelf.tiers[stream.silver]
        with w.subscription_changes() as asked:
            assert await w.tier_repriced(stream.silver, eur(700)) == "ack"
        assert asked == []
        assert await billed_next(w, made) == (stream.silver, 500)


async def test_a_subscription_ended_at_the_provider_unheard_of_is_left_to_its_webhook(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        gone_reader, reader = person(), person()
        gone = await subscribe(w, gone_reader, stream.silver)
        made = await subscribe(w, reader, stream.silver)
        await w.apply_webhooks()
        # Ended at the provider; its webhook not yet here, so ours is still live.
        await w.sandbox.cancel_subscription(
            gone.provider_subscription_id, at_period_end=False, idempotency_key=new_id()
        )
        w.shelf.paid_tier(stream.name, 1, eur(700))
        with w.subscription_changes() as asked:
            assert await w.tier_repriced(stream.silver) == "ack"
        # Both asked; the provider's refusal for the ended one kept nothing
        # from the other.
        assert sorted(s for s, _, _ in asked) == sorted(
            [gone.provider_subscription_id, made.provider_subscription_id]
        )
        assert await billed_next(w, made) == (stream.silver, 700)
        await w.apply_webhooks()
        ended = await w.treasury.stream_subscription(gone_reader, gone.name)
        assert ended.status is SubscriptionStatus.ENDED


async def test_a_change_to_a_subscription_ended_at_the_provider_unheard_of_is_refused_as_ended(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        upgrader, canceller = person(), person()
        upgrading = await subscribe(w, upgrader, stream.silver)
        cancelling = await subscribe(w, canceller, stream.silver)
        await w.apply_webhooks()
        # Both ended at the provider; their webhooks not here yet, so ours are still live.
        for made in (upgrading, cancelling):
            await w.sandbox.cancel_subscription(
                made.provider_subscription_id, at_period_end=False, idempotency_key=new_id()
            )
        asks = (
            (upgrader, upgrading, w.treasury.change_stream_level(upgrader, upgrading.name, 2)),
            (
                canceller,
                cancelling,
                w.treasury.cancel_stream_subscription(canceller, cancelling.name),
            ),
        )
        for who, made, asked in asks:
            with pytest.raises(FailedPrecondition) as refused:
                await asked
            assert refused.value.reason == "SUBSCRIPTION_ENDING"
            # The provider's end is kept at once, not left for its webhook.
            ended = await w.treasury.stream_subscription(who, made.name)
            assert (ended.status, ended.granted_level) == (SubscriptionStatus.ENDED, 0)


@pytest.mark.parametrize("tier", ["streams/x/tiers/1", "{stream}/tiers/0"])
async def test_a_repricing_naming_no_paid_tier_is_retried_and_changes_nothing(
    empty_database_url, tier
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        made = await subscribe(w, person(), stream.silver)
        with w.subscription_changes() as asked:
            named = tier.format(stream=stream.name)
            assert await w.tier_repriced(named, eur(700)) == "retry"
        assert asked == []
        assert await billed_next(w, made) == (stream.silver, 500)


async def test_another_readers_subscription_is_not_found(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader, other = person(), person()
        made = await subscribe(w, reader, stream.silver)
        with pytest.raises(NotFound):
            await w.treasury.stream_subscription(other, made.name)
        with pytest.raises(NotFound):
            await w.treasury.change_stream_level(other, made.name, 2)
        with pytest.raises(NotFound):
            await w.treasury.cancel_stream_subscription(other, made.name)
        assert (await w.treasury.list_stream_subscriptions(other, 10, "")).items == []
        kept = await w.treasury.stream_subscription(reader, made.name)
        assert (kept.level, kept.cancel_at_period_end) == (1, False)


async def test_streams_word_decides_what_is_sold(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        # The free tier and a tier streams does not sell are not found.
        for unknown in (f"{stream.name}/tiers/0", f"{stream.name}/tiers/7"):
            with pytest.raises(NotFound):
                await subscribe(w, reader, unknown)
        with pytest.raises(FailedPrecondition) as own:
            await subscribe(w, person(w.practitioner_user_id), stream.silver)
        assert own.value.reason == "OWN_STREAM"
        made = await subscribe(w, reader, stream.silver)
        with pytest.raises(NotFound):
            await w.treasury.change_stream_level(reader, made.name, 5)
        with pytest.raises(FailedPrecondition) as exists:
            await subscribe(w, reader, stream.gold)
        assert exists.value.reason == "SUBSCRIPTION_EXISTS"
        assert await w.sandbox.count("subscription") == 1


@pytest.mark.parametrize(
    ("tier", "card", "field"),
    [
        ("", VISA, "tier"),
        ("streams/x/tiers/1", VISA, "tier"),
        ("{stream}/tiers/one", VISA, "tier"),
        ("{stream}/tiers/01", VISA, "tier"),
        ("{stream}/tiers/-1", VISA, "tier"),
        ("{stream}/posts/1", VISA, "tier"),
        ("{stream}/tiers/1", "", "payment_method"),
        ("{stream}/tiers/1", "pm_" + "x" * 100, "payment_method"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(empty_database_url, tier, card, field):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        with pytest.raises(InvalidArgument) as bad:
            await subscribe(w, person(), tier.format(stream=stream.name), card)
        assert [v.field for v in bad.value.violations] == [field]
        assert await w.sandbox.count("subscription") == 0


async def test_a_malformed_name_or_level_is_refused_naming_the_field(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await subscribe(w, reader, stream.silver)
        for name in ("", "streamSubscriptions/x", f"platformSubscriptions/{made.id}"):
            with pytest.raises(InvalidArgument) as bad:
                await w.treasury.stream_subscription(reader, name)
            assert [v.field for v in bad.value.violations] == ["name"]
        for level in (0, -1):
            with pytest.raises(InvalidArgument) as bad:
                await w.treasury.change_stream_level(reader, made.name, level)
            assert [v.field for v in bad.value.violations] == ["level"]


async def test_the_same_request_id_answers_the_first_subscription(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        first = await subscribe(w, reader, stream.silver, key="k")
        again = await subscribe(w, reader, stream.silver, key="k")
        assert again.id == first.id
        assert await w.sandbox.count("subscription") == 1


async def test_late_and_repeated_webhooks_move_a_subscription_only_forward(empty_database_url):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await subscribe(w, reader, stream.silver)
        early = await w.sent_webhooks()
        await w.treasury.cancel_stream_subscription(reader, made.name)
        await next_period(w)
        # The first month's webhooks, late and out of order, change nothing now.
        for payload, _ in reversed(early):
            await w.treasury.receive_stripe_event(payload, w.signed(payload))
        ended = await w.treasury.stream_subscription(reader, made.name)
        assert (ended.status, ended.sequence) == (SubscriptionStatus.ENDED, 3)
        assert await subscription_orders(w) == [500]
        assert [s for s, *_ in await said(w)] == [1, 2, 3]


async def test_concurrent_subscriptions_to_one_stream_make_one_and_charge_once(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        outcome = await race([lambda: subscribe(w, reader, stream.silver)] * CONCURRENT)
        assert outcome.wins, outcome.outcomes
        assert {made.id for made in outcome.wins} == {outcome.wins[0].id}
        assert all(
            isinstance(e, FailedPrecondition) and e.reason == "SUBSCRIPTION_EXISTS"
            for e in outcome.losses
        ), outcome.losses
        assert await w.sandbox.count("subscription") == 1
        await w.apply_webhooks()
        assert await subscription_orders(w) == [500]
        assert await said(w) == [(1, ACTIVE, 1, False)]


async def test_an_invoice_is_one_order_under_concurrent_deliveries_of_its_events(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        await subscribe(w, person(), stream.silver)
        sent = await w.sent_webhooks()
        [(payload, signature)] = [(p, s) for p, s in sent if b'"invoice.paid"' in p]
        # The same invoice said paid by two events (a resend under a new event id): each
        # event is claimed once by the inbox, the invoice is one order by its unique id.
        event = json.loads(payload)
        other = json.dumps({**event, "id": f"evt_{new_id()}"}).encode()
        deliveries = [(payload, signature), (other, w.signed(other))] * (CONCURRENT // 2)
        outcome = await race(
            [partial(w.treasury.receive_stripe_event, p, s) for p, s in deliveries]
        )
        assert outcome.losses == []
        assert sum(applied for _, applied in outcome.wins) == 2
        async with w.uow(write=False) as uow:
            rows = (
                await uow.connection.execute(
                    stream_orders.select().where(
                        stream_orders.c.kind == StreamOrderKind.SUBSCRIPTION.value
                    )
                )
            ).all()
        assert len(rows) == 1 and rows[0].invoice_id
        assert await creator_pending(w) == 400
        async with w.uow(write=False) as uow:
            revenue = await uow.ledger.balance(
                Account(PLATFORM, AccountKind.PLATFORM_REVENUE, "EUR")
            )
        assert revenue == 100


async def test_a_repricing_delivered_at_once_to_many_consumers_beside_an_upgrade_agrees(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader, other = person(), person()
        made = await subscribe(w, reader, stream.silver)
        still = await subscribe(w, other, stream.silver)
        w.shelf.paid_tier(stream.name, 1, eur(700))
        event_id = new_id()
        with w.subscription_changes() as asked:
            outcome = await race(
                [partial(w.tier_repriced, stream.silver, event_id=event_id)] * CONCURRENT
                + [partial(w.treasury.change_stream_level, reader, made.name, 2)]
            )
            assert outcome.losses == []
        async with w.uow(write=False) as uow:
            silver = await uow.tier_prices.price_of(stream.silver, eur(700))
            gold = await uow.tier_prices.price_of(stream.gold, eur(1_200))
        # The other reader is asked once, however many consumers had the event; the upgraded
        # one is asked the new price before the upgrade or not at all (upgraded first), never
        # after it (which would undo it from the renewal).
        assert [(p, t) for s, p, t in asked if s == still.provider_subscription_id] == [
            (silver, ChangeTiming.PERIOD_END)
        ]
        assert [(p, t) for s, p, t in asked if s == made.provider_subscription_id] in (
            [(gold, ChangeTiming.NOW)],
            [(silver, ChangeTiming.PERIOD_END), (gold, ChangeTiming.NOW)],
        )
        await w.apply_webhooks()
        # Whichever came first, the provider bills next what each row says it will.
        for who, subscription in ((reader, made), (other, still)):
            row = await w.treasury.stream_subscription(who, subscription.name)
            tier = f"{stream.name}/tiers/{row.renewing_level}"
            price = row.price if row.next_level is None else (await w.shelf.tier(tier)).price
            assert await billed_next(w, row) == (tier, price.amount_minor)
        upgraded = await w.treasury.stream_subscription(reader, made.name)
        assert (upgraded.level, upgraded.next_level, upgraded.granted_level) == (2, None, 2)
        await next_period(w)
        assert (await w.treasury.stream_subscription(other, still.name)).price == eur(700)
        assert (await w.treasury.stream_subscription(reader, made.name)).price == eur(1_200)
        assert await orders_of(w, other) == [500, 700]
        assert (await orders_of(w, reader))[-1] == 1_200
        assert sorted(await invoices_in_the_ledger(w)) == sorted(
            p.amount.amount_minor for p in await w.events(STREAM_ORDER_PAID)
        )
        earned = sum(p.earning.amount_minor for p in await w.events(STREAM_ORDER_PAID))
        assert await creator_pending(w) == earned


async def test_a_repricing_heard_while_an_upgrade_is_asked_does_not_undo_it(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        reader = person()
        made = await subscribe(w, reader, stream.silver)
        w.shelf.paid_tier(stream.name, 1, eur(700))
        answered, kept = asyncio.Event(), asyncio.Event()
        change = w.sandbox.change_subscription

        async def slow_to_keep(subscription_id: str, **options: Any) -> ProviderSubscription:
            # The provider has made the upgrade; payments has not kept its answer yet.
            seen = await change(subscription_id, **options)
            answered.set()
            await kept.wait()
            return seen

        setattr(w.sandbox, "change_subscription", slow_to_keep)  # noqa: B010
        upgrade = asyncio.create_task(w.treasury.change_stream_level(reader, made.name, 2))
        await answered.wait()
        setattr(w.sandbox, "change_subscription", change)  # noqa: B010
        with w.subscription_changes() as asked:
            repricing = asyncio.create_task(w.tier_repriced(stream.silver))
            await asyncio.sleep(0.2)
            kept.set()
            assert (await upgrade).level == 2
            assert await repricing == "ack"
        # The repricing waited for the upgrade and found the reader no longer on silver.
        assert asked == []
        await w.apply_webhooks()
        await next_period(w)
        now = await w.treasury.stream_subscription(reader, made.name)
        assert (now.level, now.next_level, now.price) == (2, None, eur(1_200))
        assert (await orders_of(w, reader))[-1] == 1_200


async def test_the_ledger_check_reports_a_subscription_month_without_its_charge(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = Stream(w)
        await subscribe(w, person(), stream.silver)
        await w.apply_webhooks()
        async with w.uow() as uow:
            assert await uow.audit.violations() == []
            charge = await uow.ledger.find(TransactionKind.CHARGE, f"invoices/{invoice_of(w)}")
            await uow.connection.execute(
                ledger_postings.delete().where(ledger_postings.c.transaction_id == charge)
            )
            await uow.connection.execute(
                ledger_transactions.delete().where(ledger_transactions.c.id == charge)
            )
            found = await uow.audit.violations()
        assert "stream_order_payment" in [v.rule for v in found]


def invoice_of(w: World) -> str:
    [invoice] = sandbox_objects(w, "invoice")
    return str(invoice["id"])
