"""The ledger's accounts, read once per process (KnownAccounts), on both databases: an account
opened by a unit of work that rolls back is not taken for a row, so the next posting opens it
again; one opened by a committed unit of work is known from then on, and postings to it keep
the cached balance right; twenty first postings racing to open one account make one row."""

from __future__ import annotations

import sqlalchemy as sa

from chassis.ids import new_id
from services.payments.domain.ledger import (
    EXTERNAL,
    Account,
    AccountKind,
    Transaction,
    TransactionKind,
    transfer,
)
from services.payments.repository import known_accounts
from services.payments.tables import ledger_accounts
from tests.integration.payments.world import World, world
from tests.races import race

CONCURRENT = 20


def purchase(w: World, credit: Account, amount: int) -> Transaction:
    outside = Account(EXTERNAL, AccountKind.EXTERNAL, "EUR")
    return Transaction.balanced(
        new_id(),
        TransactionKind.CREDIT_PURCHASE,
        f"orders/{new_id()}",
        transfer(outside, credit, amount),
        w.clock.now(),
    )


async def post(w: World, transaction: Transaction) -> bool:
    async with w.uow() as uow:
        posted = await uow.ledger.post(transaction)
        await uow.commit()
        return posted


async def test_an_account_opened_in_a_rolled_back_unit_of_work_is_not_known(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        known = known_accounts(w.service.runtime.database)
        credit = Account(new_id(), AccountKind.CLIENT_CREDIT, "EUR")
        async with w.uow() as uow:
            assert await uow.ledger.post(purchase(w, credit, 300))
            await uow.rollback()
        assert known.get(credit) is None

        assert await post(w, purchase(w, credit, 500))
        held = known.get(credit)
        assert held is not None and held.non_negative
        async with w.uow(write=False) as uow:
            [row_id] = (
                await uow.connection.execute(
                    sa.select(ledger_accounts.c.id).where(ledger_accounts.c.owner == credit.owner)
                )
            ).scalars()
        assert held.id == row_id

        # Known now: further postings go to the same row, and its guarded balance holds.
        assert await post(w, purchase(w, credit, 200))
        async with w.uow(write=False) as uow:
            assert await uow.ledger.balance(credit) == 700
            assert await uow.audit.violations() == []


async def test_twenty_first_postings_to_one_new_account_open_it_once(empty_database_url):
    async with world(empty_database_url) as w:
        credit = Account(new_id(), AccountKind.CLIENT_CREDIT, "EUR")
        outcome = await race([lambda: post(w, purchase(w, credit, 100))] * CONCURRENT)
        assert outcome.losses == [] and outcome.wins == [True] * CONCURRENT
        async with w.uow(write=False) as uow:
            opened = await uow.connection.execute(
                sa.select(sa.func.count()).where(ledger_accounts.c.owner == credit.owner)
            )
            assert opened.scalar_one() == 1
            assert await uow.ledger.balance(credit) == 100 * CONCURRENT
            assert await uow.audit.violations() == []
