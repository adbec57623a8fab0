"""Credit that expires, on the real unit of work and sandbox, on both databases (PostgreSQL is
where the races are real): a promo code's and a gift card's credit are lots that checkout
spends soonest-to-expire first, before top-ups (which never expire); the expiry job moves
only what is left of a lot to breakage, once, however often and however concurrently it
runs, also against a checkout of the same client; expired credit shows in the client's
history and the ledger's invariants hold after each."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import sqlalchemy as sa

from chassis.auth.principal import Principal
from chassis.ids import new_id
from services.payments.domain.credits import CreditLot, CreditLotStatus
from services.payments.domain.ledger import PLATFORM, Account, AccountKind, TransactionKind
from services.payments.events import BOOKING_CREATED
from services.payments.tables import credit_lots
from tests.builders import person
from tests.integration.payments.test_credits import EUR, credit_of, make_code, paid_top_up
from tests.integration.payments.world import World, world
from tests.races import race

BREAKAGE = Account(PLATFORM, AccountKind.PLATFORM_BREAKAGE, EUR)


async def lots_of(w: World, client: Principal) -> list[CreditLot]:
    async with w.uow(write=False) as uow:
        return await uow.credit_lots.of_client(client.user_id)


async def breakage(w: World) -> int:
    async with w.uow(write=False) as uow:
        return await uow.ledger.balance(BREAKAGE)


async def checkout(w: World, client: Principal, minor: int) -> int:
    """A booking of the client's checked out; what their credit paid of it."""
    created = w.created(client.user_id, minor)
    assert await w.booking_event(BOOKING_CREATED, created) == "ack"
    view = await w.treasury.create_checkout(client, f"bookings/{created.booking.booking_id}", "")
    return view.order.credit_minor


async def test_spending_before_expiry_leaves_only_the_remainder_to_expire(empty_database_url):
    async with world(empty_database_url, promo_credit_days=90) as w:
        client = person()
        await make_code(w, "SPRING", 3_000)
        await w.treasury.redeem_promo_code(client, "SPRING")
        await paid_top_up(w, client, 2_000)
        [lot] = await lots_of(w, client)
        assert (lot.remaining_minor, lot.expires_at) == (3_000, w.clock.now() + timedelta(90))

        # The promo's credit goes first: 2,500 of its 3,000; the top-up is untouched.
        assert await checkout(w, client, 2_500) == 2_500
        [lot] = await lots_of(w, client)
        assert lot.remaining_minor == 500
        w.clock.advance(timedelta(days=89))
        assert await w.treasury.expire_credits() == 0

        w.clock.advance(timedelta(days=1))
        assert await w.treasury.expire_credits() == 1
        assert await credit_of(w, client) == 2_000
        assert await breakage(w) == 500
        [lot] = await lots_of(w, client)
        assert (lot.status, lot.remaining_minor) == (CreditLotStatus.EXPIRED, 0)
        # Again: nothing left to expire, nothing moves.
        assert await w.treasury.expire_credits() == 0
        assert (await credit_of(w, client), await breakage(w)) == (2_000, 500)

        history = (await w.treasury.credits(client, 10, "")).history.items
        newest = history[0]
        assert (newest.kind, newest.postings[0].amount_minor) == (
            TransactionKind.CREDIT_EXPIRY,
            -500,
        )
        assert [t.kind for t in history].count(TransactionKind.CREDIT_EXPIRY) == 1


async def test_checkout_takes_the_credit_soonest_to_expire_first_and_never_expired_credit(
    empty_database_url,
):
    async with world(empty_database_url, promo_credit_days=30) as w:
        client = person()
        await make_code(w, "EARLY", 1_000, days=200)
        await make_code(w, "LATE", 1_000, days=200)
        await w.treasury.redeem_promo_code(client, "EARLY")
        w.clock.advance(timedelta(days=10))
        await w.treasury.redeem_promo_code(client, "LATE")
        assert await checkout(w, client, 600) == 600
        early, late = await lots_of(w, client)
        assert (early.remaining_minor, late.remaining_minor) == (400, 1_000)

        # EARLY's end has come but the job has not run: the checkout expires it first and
        # spends only LATE's credit.
        w.clock.advance(timedelta(days=21))
        assert await checkout(w, client, 1_500) == 1_000
        early, late = await lots_of(w, client)
        assert (early.status, late.status) == (CreditLotStatus.EXPIRED, CreditLotStatus.OPEN)
        assert late.remaining_minor == 0
        assert (await credit_of(w, client), await breakage(w)) == (0, 400)
        w.clock.advance(timedelta(days=30))
        # LATE was spent whole: its end moves nothing, and posts nothing.
        assert await w.treasury.expire_credits() == 1
        assert await breakage(w) == 400
        kinds = [t.kind for t in (await w.treasury.credits(client, 10, "")).history.items]
        assert kinds.count(TransactionKind.CREDIT_EXPIRY) == 1


async def test_the_expiry_job_racing_itself_and_checkouts_expires_each_lot_once(
    empty_database_url,
):
    async with world(empty_database_url, promo_credit_days=1) as w:
        await make_code(w, "RACE", 700, limit=10)
        clients = [person() for _ in range(4)]
        for client in clients:
            await w.treasury.redeem_promo_code(client, "RACE")
        payer = clients[0]
        await paid_top_up(w, payer, 1_000)
        w.clock.advance(timedelta(days=1))
        runs = [w.treasury.expire_credits] * 5
        outcome = await race([*runs, partial(checkout, w, payer, 1_500)])
        assert outcome.losses == []
        # Each lot expired once, by one of the runs or (the payer's) by the checkout, which
        # then spent only the top-up.
        assert sum(outcome.outcomes[:5]) in (3, 4)
        assert outcome.outcomes[5] == 1_000
        assert await breakage(w) == 4 * 700
        for client in clients:
            assert await credit_of(w, client) == 0
        async with w.uow(write=False) as uow:
            expiries = await uow.connection.execute(
                sa.text("SELECT count(*) FROM ledger_transactions WHERE kind = :kind"),
                {"kind": TransactionKind.CREDIT_EXPIRY.value},
            )
            assert expiries.scalar_one() == 4
        assert await w.treasury.ledger_violations() == []


async def test_the_ledger_check_reports_expiring_credit_beyond_the_balance(empty_database_url):
    async with world(empty_database_url) as w:
        client = person()
        await make_code(w, "GIVEN", 1_000)
        await w.treasury.redeem_promo_code(client, "GIVEN")
        async with w.uow() as uow:
            await uow.credit_lots.add(
                CreditLot(
                    new_id(),
                    client.user_id,
                    EUR,
                    500,
                    500,
                    w.clock.now() + timedelta(days=1),
                    "promotion:made-up",
                    CreditLotStatus.OPEN,
                    w.clock.now(),
                )
            )
            await uow.commit()
        [found] = await w.treasury.ledger_violations()
        assert (found.rule, found.subject) == (
            "credit_lots",
            f"account {client.user_id}/client_credit/{EUR}",
        )
        assert "hold 1500" in found.detail
        async with w.uow() as uow:
            await uow.connection.execute(
                credit_lots.update()
                .where(credit_lots.c.client_id == client.user_id)
                .values(remaining_minor=0)
            )
            await uow.commit()
        assert await w.treasury.ledger_violations() == []
