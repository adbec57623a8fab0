"""Earnings from booking.completed on the real unit of work and consumer, on both
databases: the payment split into the practitioner's pending earning and the platform's
commission by tier, once per booking however often it arrives; the release after the hold."""

from __future__ import annotations

from datetime import timedelta

from services.payments.domain.earnings import EarningStatus, Tier
from services.payments.domain.ledger import PLATFORM, Account, AccountKind
from services.payments.events import EARNING_AVAILABLE, EARNING_RECORDED
from tests.integration.payments.world import COMPLETED, world


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
