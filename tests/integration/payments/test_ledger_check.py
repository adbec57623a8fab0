"""`estuary ledger check` on payments' database, as an operator runs it: silent success on
a sound ledger; on a ledger with planted faults (an unbalanced transaction that overdraws a
practitioner's pending earnings, a booking charged more than it was split into) exit 1 and
one line per violation."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from chassis.ids import new_id
from chassis.money import Money
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Transaction,
    TransactionKind,
    transfer,
)
from services.payments.domain.orders import Order, OrderStatus
from services.payments.tables import ledger_accounts, ledger_postings, ledger_transactions
from suite.cli import _parser
from tests.integration.payments.test_checkout import paid_booking
from tests.integration.payments.world import world


async def ledger_check(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The command's exit code and what it printed, run as `estuary` parses and runs it (in
    this process and loop, on the database ESTUARY_DATABASE_URL names)."""
    args = _parser().parse_args(["ledger", "check", "--data-dir", str(data_dir)])
    capsys.readouterr()
    try:
        await args.run(args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, capsys.readouterr().out


async def test_ledger_check_passes_a_sound_ledger_and_names_each_planted_fault(
    empty_database_url, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("ESTUARY_DATABASE_URL", empty_database_url)
    async with world(empty_database_url) as w:
        message = w.completion(10_000)
        await w.deliver(w.delivery(message))
        booking_id = message.booking.booking_id
        assert await ledger_check(tmp_path, capsys) == (0, "ledger check: every invariant holds\n")

        # A second payment for the booking, balanced but never split into earnings.
        async with w.uow() as uow:
            await uow.ledger.post(
                Transaction.balanced(
                    new_id(),
                    TransactionKind.CHARGE,
                    "payments/duplicate",
                    transfer(
                        Account(EXTERNAL, AccountKind.EXTERNAL, "EUR"),
                        Account(PLATFORM, AccountKind.PLATFORM_CLEARING, "EUR"),
                        500,
                    ),
                    w.clock.now(),
                    booking_id=booking_id,
                )
            )
            await uow.commit()
        # Written behind the ledger's back: postings that destroy 8900 EUR, taking the
        # practitioner's pending earnings below zero.
        planted = new_id()
        owner = w.practitioner_user_id
        async with w.uow() as uow:
            accounts = {
                row.kind: row.id
                for row in await uow.connection.execute(
                    sa.select(ledger_accounts.c.kind, ledger_accounts.c.id).where(
                        ledger_accounts.c.owner.in_([owner, PLATFORM])
                    )
                )
            }
            await uow.connection.execute(
                ledger_transactions.insert().values(
                    id=planted, kind="adjustment", cause="planted", created_at=w.clock.now()
                )
            )
            await uow.connection.execute(
                ledger_postings.insert(),
                [
                    {"transaction_id": planted, "account_id": accounts[k], "amount_minor": n}
                    for k, n in (("practitioner_pending", -9000), ("platform_revenue", 100))
                ],
            )
            await uow.commit()

        code, printed = await ledger_check(tmp_path, capsys)
    assert code == 1
    pending = f"account {owner}/practitioner_pending/EUR"
    assert printed.splitlines() == [
        f"unbalanced: transaction {planted}: its EUR postings sum to -8900, not 0",
        f"overdrawn: {pending}: its postings sum to -1000",
        f"balance_drift: {pending}: its balance says 8000, its postings sum to -1000",
        f"charge_split: booking {booking_id}: charged 10500 EUR, but earning + commission + "
        "fees = 10000",
    ]


async def test_ledger_check_names_orders_whose_money_is_not_in_the_ledger(
    empty_database_url, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("ESTUARY_DATABASE_URL", empty_database_url)
    async with world(empty_database_url) as w:
        # A sound one: paid by card through checkout and its webhook.
        client, _, _ = await paid_booking(w)
        assert await ledger_check(tmp_path, capsys) == (0, "ledger check: every invariant holds\n")
        # Written behind the ledger's back: an order paid by card and credits whose money
        # never reached the ledger.
        planted = Order(
            new_id(),
            client.user_id,
            new_id(),
            Money(4_500, "EUR"),
            1_000,
            OrderStatus.PAID,
            w.clock.now(),
        )
        async with w.uow() as uow:
            await uow.orders.add(planted, w.clock.now())
            await uow.orders.attach_intent(planted.id, "pi_planted", "")
            await uow.commit()
        code, printed = await ledger_check(tmp_path, capsys)
    assert code == 1
    assert printed.splitlines() == [
        f"order_payment: order {planted.id}: paid 3500 EUR by card, charged 0 in the ledger",
        f"order_payment: order {planted.id}: applied 1000 EUR of credits, spent 0 in the ledger",
    ]
