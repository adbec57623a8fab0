"""Earnings from booking.completed (and from booking.no_show: a paid booking its client
missed) on the real unit of work and consumer, on both databases: the payment split into the
practitioner's pending earning and the platform's commission by tier, once per booking
however often it arrives; the release after the hold."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.wire import timestamp
from estuary.booking.v1 import events_pb2 as booking_events
from services.payments.domain.earnings import EarningStatus, Tier
from services.payments.domain.ledger import PLATFORM, Account, AccountKind
from services.payments.events import BOOKING_NO_SHOW, EARNING_AVAILABLE, EARNING_RECORDED
from tests.integration.payments.world import COMPLETED, world

MARKED = COMPLETED - timedelta(minutes=50)


async def test_a_completed_booking_records_its_earning_and_commission(empty_database_url):
    async with world(empty_database_url) as w:
        message = w.completion(10_000, "EUR")
        assert await w.deliver(w.delivery(message)) == "ack"
        earning = await w.treasury.earning_of(message.booking.booking_id)
        assert earning is not None
        assert (earning.net.amount_minor, earning.commission.amount_minor) == (8000, 2000)
        assert earning.tier is Tier.FREE and earning.status is EarningStatus.PENDING
        assert earning.available_at == COMPLETED + timedelta(hours=48)
        async with w.uow(write=False) as uow:
            mine = await uow.ledger.balances_of(w.practitioner_user_id)
            platform = await uow.ledger.balances_of(PLATFORM)
            assert await uow.audit.violations() == []
        owner = w.practitioner_user_id
        assert mine == {Account(owner, AccountKind.PRACTITIONER_PENDING, "EUR"): 8000}
        assert platform == {
            Account(PLATFORM, AccountKind.PLATFORM_CLEARING, "EUR"): 0,
            Account(PLATFORM, AccountKind.PLATFORM_REVENUE, "EUR"): 2000,
        }
        [recorded] = await w.events(EARNING_RECORDED)
        assert recorded.booking_id == message.booking.booking_id
        assert recorded.earning.amount_minor == 8000 and recorded.commission.amount_minor == 2000
        assert recorded.commission_rate_bps == 2000


async def test_the_same_completion_delivered_twice_makes_one_earning(empty_database_url):
    async with world(empty_database_url) as w:
        message = w.completion(4_500)
        delivery = w.delivery(message)
        assert await w.deliver(delivery) == "ack"
        again = w.delivery(message, event_id=delivery.headers["ce-id"])  # type: ignore[arg-type]
        assert await w.deliver(again) == "ack"
        # Another event about the same booking (booking emitting it again) changes nothing.
        assert await w.deliver(w.delivery(message)) == "ack"
        async with w.uow(write=False) as uow:
            pending = await uow.ledger.balances_of(w.practitioner_user_id)
        assert list(pending.values()) == [3600]
        assert len(await w.events(EARNING_RECORDED)) == 1


async def test_a_free_booking_records_nothing(empty_database_url):
    async with world(empty_database_url) as w:
        message = w.completion(0, "")
        assert await w.deliver(w.delivery(message)) == "ack"
        assert await w.treasury.earning_of(message.booking.booking_id) is None
        assert await w.events(EARNING_RECORDED) == []


async def test_a_paid_booking_its_client_missed_earns_as_if_it_took_place(empty_database_url):
    async with world(empty_database_url) as w:
        completed = w.completion(10_000, "EUR")
        missed = booking_events.BookingNoShow(
            booking=completed.booking,
            marked_by=booking_events.ACTOR_PRACTITIONER,
            amount_paid=completed.amount_paid,
            mark_time=timestamp(MARKED),
        )
        delivery = w.delivery(missed, event_type=BOOKING_NO_SHOW)
        assert await w.deliver(delivery) == "ack"
        again = w.delivery(missed, event_id=delivery.headers["ce-id"], event_type=BOOKING_NO_SHOW)  # type: ignore[arg-type]
        assert await w.deliver(again) == "ack"
        # A completion of the same booking (it cannot follow a no-show; a replay) adds nothing.
        assert await w.deliver(w.delivery(completed)) == "ack"
        earning = await w.treasury.earning_of(completed.booking.booking_id)
        assert earning is not None
        assert (earning.net.amount_minor, earning.commission.amount_minor) == (8000, 2000)
        assert earning.available_at == MARKED + timedelta(hours=48)
        async with w.uow(write=False) as uow:
            pending = await uow.ledger.balances_of(w.practitioner_user_id)
            assert await uow.audit.violations() == []
        assert list(pending.values()) == [8000]
        assert len(await w.events(EARNING_RECORDED)) == 1
        free = booking_events.BookingNoShow(booking=w.completion(0, "").booking)
        assert await w.deliver(w.delivery(free, event_type=BOOKING_NO_SHOW)) == "ack"
        assert await w.treasury.earning_of(free.booking.booking_id) is None


async def test_earnings_become_available_after_the_hold_once(empty_database_url):
    async with world(empty_database_url, earning_hold_hours=48) as w:
        message = w.completion(10_000)
        await w.deliver(w.delivery(message))
        w.clock.advance(timedelta(hours=47))
        assert await w.treasury.release_earnings() == 0
        w.clock.advance(timedelta(hours=1))
        assert await w.treasury.release_earnings() == 1
        assert await w.treasury.release_earnings() == 0
        earning = await w.treasury.earning_of(message.booking.booking_id)
        assert earning is not None and earning.status is EarningStatus.AVAILABLE
        async with w.uow(write=False) as uow:
            balances = await uow.ledger.balances_of(w.practitioner_user_id)
            assert await uow.audit.violations() == []
        owner = w.practitioner_user_id
        assert balances == {
            Account(owner, AccountKind.PRACTITIONER_PENDING, "EUR"): 0,
            Account(owner, AccountKind.PRACTITIONER_AVAILABLE, "EUR"): 8000,
        }
        [available] = await w.events(EARNING_AVAILABLE)
        assert available.earning.amount_minor == 8000


async def test_the_tier_and_rates_at_the_moment_of_completion_apply(empty_database_url):
    rates = [
        {
            "effective_from": "2000-01-01T00:00:00Z",
            "free_bps": 2000,
            "entry_bps": 1500,
            "premium_bps": 1000,
        },
        {
            "effective_from": "2026-03-02T12:00:00Z",
            "free_bps": 2000,
            "entry_bps": 1500,
            "premium_bps": 500,
        },
    ]
    async with world(empty_database_url, commission_rates=rates) as w:
        async with w.uow() as uow:
            await uow.tiers.set(w.practitioner_user_id, Tier.PREMIUM, COMPLETED - timedelta(days=1))
            await uow.tiers.set(w.practitioner_user_id, Tier.ENTRY, COMPLETED + timedelta(days=1))
            await uow.commit()
        before = w.completion(10_000, completed_at=COMPLETED - timedelta(hours=1))
        at = w.completion(10_000, completed_at=COMPLETED)
        after = w.completion(10_000, completed_at=COMPLETED + timedelta(days=2))
        for message in (before, at, after):
            assert await w.deliver(w.delivery(message)) == "ack"
        found = [await w.treasury.earning_of(m.booking.booking_id) for m in (before, at, after)]
        assert [(e.tier, e.commission_bps) for e in found if e] == [
            (Tier.PREMIUM, 1000),
            (Tier.PREMIUM, 500),
            (Tier.ENTRY, 1500),
        ]
        async with w.uow(write=False) as uow:
            # A practitioner never subscribed is on Free.
            assert (
                await uow.tiers.tier_at(w.practitioner_user_id, COMPLETED - timedelta(days=2))
                is Tier.FREE
            )


@pytest.mark.parametrize(
    "spoil",
    [
        lambda m: setattr(m.booking, "booking_id", ""),
        lambda m: setattr(m.booking, "practitioner_user_id", "someone"),
        lambda m: setattr(m.amount_paid, "currency", "EURO"),
        lambda m: setattr(m.amount_paid, "amount_minor", -100),
    ],
    ids=["no booking", "no practitioner", "no currency", "negative"],
)
async def test_a_completion_that_is_not_one_is_retried_and_changes_nothing(
    empty_database_url, spoil
):
    async with world(empty_database_url) as w:
        message = w.completion(10_000)
        spoil(message)
        assert await w.deliver(w.delivery(message)) == "retry"
        async with w.uow(write=False) as uow:
            assert await uow.ledger.balances_of(w.practitioner_user_id) == {}
        assert await w.events(EARNING_RECORDED) == []


async def test_a_commission_of_everything_releases_without_moving_money(empty_database_url):
    everything = [
        {
            "effective_from": "2000-01-01T00:00:00Z",
            "free_bps": 10_000,
            "entry_bps": 10_000,
            "premium_bps": 10_000,
        }
    ]
    async with world(empty_database_url, commission_rates=everything) as w:
        message = w.completion(2_000)
        await w.deliver(w.delivery(message))
        w.clock.advance(timedelta(hours=48))
        assert await w.treasury.release_earnings() == 1
        earning = await w.treasury.earning_of(message.booking.booking_id)
        assert earning is not None and earning.status is EarningStatus.AVAILABLE
        async with w.uow(write=False) as uow:
            assert await uow.ledger.balances_of(w.practitioner_user_id) == {}
            assert await uow.audit.violations() == []
