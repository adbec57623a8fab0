"""Money under concurrency, on both databases (PostgreSQL is where the races are real):
twenty deliveries of one booking's completion (and no-show) at once make one earning; twenty spends
racing for one credit balance never overdraw it; a release racing itself moves an
earning once; a refused posting leaves nothing behind, even in a unit of work that commits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.ids import new_id
from estuary.booking.v1 import events_pb2 as booking_events
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Overdrawn,
    Transaction,
    TransactionKind,
    transfer,
)
from services.payments.events import BOOKING_NO_SHOW, EARNING_AVAILABLE, EARNING_RECORDED
from tests.integration.payments.world import World, world
from tests.races import race

CONCURRENT = 20


async def post(w: World, transaction: Transaction) -> bool:
    async with w.uow() as uow:
        posted = await uow.ledger.post(transaction)
        await uow.commit()
        return posted


def movement(kind: TransactionKind, source: Account, destination: Account, amount: int, now):
    return Transaction.balanced(
        new_id(), kind, f"orders/{new_id()}", transfer(source, destination, amount), now
    )


async def test_twenty_concurrent_deliveries_of_one_completion_make_one_earning(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        message = w.completion(10_000)
        missed = booking_events.BookingNoShow(
            booking=message.booking, amount_paid=message.amount_paid
        )
        # Half redeliveries of one event (the inbox), half other events about the booking
        # (the earning's row, and the ledger's cause): completions, and no-shows too.
        event_id = new_id()
        deliveries = [
            w.delivery(message, event_id=event_id)
            if n % 2
            else w.delivery(missed, event_type=BOOKING_NO_SHOW)
            if n % 4
            else w.delivery(message)
            for n in range(CONCURRENT)
        ]
        outcome = await race([lambda d=d: w.deliver(d) for d in deliveries])
        assert outcome.losses == []
        # A delivery that lost a race to the earning's row is retried by the bus; none is
        # dead-lettered, and retrying them changes nothing.
        for delivery in deliveries:
            if delivery.settled == "retry":
                assert await w.deliver(delivery) == "ack"
        async with w.uow(write=False) as uow:
            pending = await uow.ledger.balances_of(w.practitioner_user_id)
            assert await uow.audit.violations() == []
        assert list(pending.values()) == [8000]
        assert len(await w.events(EARNING_RECORDED)) == 1


async def test_a_refused_posting_takes_back_what_it_moved_before_the_refusal(empty_database_url):
    async with world(empty_database_url) as w:
        first, second = sorted([new_id(), new_id()])
        # Guarded accounts are moved in account order: the first credit rises before the
        # second is found short.
        rising = Account(first, AccountKind.CLIENT_CREDIT, "EUR")
        short = Account(second, AccountKind.CLIENT_CREDIT, "EUR")
        outside = Account(EXTERNAL, AccountKind.EXTERNAL, "EUR")
        now = w.clock.now()
        await post(w, movement(TransactionKind.CREDIT_PURCHASE, outside, short, 300, now))
        refused = movement(TransactionKind.ADJUSTMENT, short, rising, 500, now)
        async with w.uow() as uow:
            with pytest.raises(Overdrawn, match="holds 300, too little for -500"):
                await uow.ledger.post(refused)
            await uow.commit()
        async with w.uow(write=False) as uow:
            assert await uow.ledger.balance(rising) == 0
            assert await uow.ledger.balance(short) == 300
            assert await uow.audit.violations() == []
        # Its cause is free again: once the money is there, the same transaction posts.
        await post(w, movement(TransactionKind.CREDIT_PURCHASE, outside, short, 200, now))
        assert await post(w, refused) is True
        async with w.uow(write=False) as uow:
            assert (await uow.ledger.balance(rising), await uow.ledger.balance(short)) == (500, 0)
            assert await uow.audit.violations() == []


async def test_twenty_concurrent_spends_never_overdraw_one_credit_balance(empty_database_url):
    async with world(empty_database_url) as w:
        client = new_id()
        credit = Account(client, AccountKind.CLIENT_CREDIT, "EUR")
        outside = Account(EXTERNAL, AccountKind.EXTERNAL, "EUR")
        clearing = Account(PLATFORM, AccountKind.PLATFORM_CLEARING, "EUR")
        now = w.clock.now()
        await post(w, movement(TransactionKind.CREDIT_PURCHASE, outside, credit, 5 * 700, now))
        spends = [
            movement(TransactionKind.CREDIT_SPEND, credit, clearing, 700, now)
            for _ in range(CONCURRENT)
        ]
        outcome = await race([lambda s=s: post(w, s) for s in spends])
        assert all(isinstance(e, Overdrawn) for e in outcome.losses), outcome.losses
        assert outcome.wins == [True] * 5
        async with w.uow(write=False) as uow:
            assert await uow.ledger.balance(credit) == 0
            assert await uow.ledger.balance(clearing) == 5 * 700
            assert await uow.audit.violations() == []


async def test_concurrent_release_runs_make_an_earning_available_once(empty_database_url):
    async with world(empty_database_url) as w:
        await w.deliver(w.delivery(w.completion(10_000)))
        w.clock.advance(timedelta(hours=48))
        outcome = await race([w.treasury.release_earnings] * 5)
        assert sum(outcome.wins) == 1, outcome.outcomes
        async with w.uow(write=False) as uow:
            balances = await uow.ledger.balances_of(w.practitioner_user_id)
            assert await uow.audit.violations() == []
        owner = w.practitioner_user_id
        assert balances[Account(owner, AccountKind.PRACTITIONER_AVAILABLE, "EUR")] == 8000
        assert balances[Account(owner, AccountKind.PRACTITIONER_PENDING, "EUR")] == 0
        assert len(await w.events(EARNING_AVAILABLE)) == 1
