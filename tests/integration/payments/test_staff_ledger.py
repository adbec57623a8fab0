"""Staff's hand on the ledger, on both databases: any account with its balance (filtered,
paged), an account's postings with the balance after each, manual adjustments (balanced,
named field by field when not, refused whole when a guarded account would go negative,
idempotent per staff member, audited, the ledger clean after), two concurrent adjustments
on one credit balance of which only the one that fits goes through, and a failed payout
paid out again. Nobody but staff does any of it, and staff never on their own money."""

from __future__ import annotations

import pytest

from chassis.audit import STAFF_ACTION_RECORDED
from chassis.auth.principal import Role
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from chassis.ids import new_id
from estuary.payments.v1 import payments_pb2 as pb
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Transaction,
    TransactionKind,
    transfer,
)
from services.payments.domain.payouts import PayoutStatus
from services.payments.grpc_api import PaymentsServicer
from tests.builders import STAFF, outbox_messages, person
from tests.integration.payments.test_payouts import balances, earn, onboard, practitioner
from tests.integration.payments.world import World, world
from tests.races import race

REVENUE = Account(PLATFORM, AccountKind.PLATFORM_REVENUE, "EUR")


async def credit(w: World, client_id: str, amount_minor: int) -> None:
    """Credit bought by a client (the world's money into their credit)."""
    async with w.uow() as uow:
        await uow.ledger.post(
            Transaction.balanced(
                new_id(),
                TransactionKind.CREDIT_PURCHASE,
                f"gifts/{new_id()}",
                transfer(
                    Account(EXTERNAL, AccountKind.EXTERNAL, "EUR"),
                    Account(client_id, AccountKind.CLIENT_CREDIT, "EUR"),
                    amount_minor,
                ),
                w.clock.now(),
            )
        )
        await uow.commit()


async def account_name(w: World, account: Account) -> str:
    """ "ledgerAccounts/{id}" of an account (opened if it was not), as staff list it."""
    async with w.uow() as uow:
        held = await uow.ledger.accounts([account])
        await uow.commit()
    return f"ledgerAccounts/{held[account].id}"


async def balance(w: World, account: Account) -> int:
    async with w.uow(write=False) as uow:
        return await uow.ledger.balance(account)


async def audited(w: World, target: str):
    return await outbox_messages(w.service.runtime.database, STAFF_ACTION_RECORDED, target)


async def test_staff_list_accounts_by_owner_kind_and_currency_with_balances(empty_database_url):
    async with world(empty_database_url) as w:
        await w.deliver(w.delivery(w.completion(10_000)))
        await w.deliver(w.delivery(w.completion(500, "JPY")))
        owner = f"users/{w.practitioner_user_id}"
        mine = await w.treasury.ledger_accounts(STAFF, owner, None, "", 1, "")
        assert mine.total == 2 and len(mine.items) == 1 and mine.next_page_token
        rest = await w.treasury.ledger_accounts(STAFF, owner, None, "", 1, mine.next_page_token)
        seen = {(a.account.currency, a.balance_minor, a.non_negative) for a in mine.items}
        seen |= {(a.account.currency, a.balance_minor, a.non_negative) for a in rest.items}
        assert seen == {("EUR", 8_000, True), ("JPY", 400, True)}
        [revenue] = (
            await w.treasury.ledger_accounts(
                STAFF, "platform", AccountKind.PLATFORM_REVENUE, "EUR", 0, ""
            )
        ).items
        assert (revenue.account, revenue.balance_minor, revenue.non_negative) == (
            REVENUE,
            2_000,
            False,
        )
        everyone = await w.treasury.ledger_accounts(STAFF, "", None, "JPY", 0, "")
        assert {a.account.currency for a in everyone.items} == {"JPY"}
        assert everyone.total == len(everyone.items) == 4
        for asked, field in (("users/nobody", "owner"), ("platforms", "owner")):
            with pytest.raises(InvalidArgument) as refused:
                await w.treasury.ledger_accounts(STAFF, asked, None, "", 0, "")
            assert refused.value.violations[0].field == field
        with pytest.raises(InvalidArgument) as refused:
            await w.treasury.ledger_accounts(STAFF, "", None, "EURO", 0, "")
        assert refused.value.violations[0].field == "currency"
        with pytest.raises(InvalidArgument) as replayed:
            await w.treasury.ledger_accounts(STAFF, "platform", None, "", 1, mine.next_page_token)
        assert replayed.value.violations[0].field == "page_token"


async def test_an_accounts_entries_run_newest_first_with_the_balance_after_each(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = new_id()
        for amount in (1_000, 2_000, 3_000):
            await credit(w, client, amount)
        name = await account_name(w, Account(client, AccountKind.CLIENT_CREDIT, "EUR"))
        account, first = await w.treasury.ledger_entries(STAFF, name, 2, "")
        assert account == Account(client, AccountKind.CLIENT_CREDIT, "EUR")
        assert first.total == 3 and first.next_page_token
        _, rest = await w.treasury.ledger_entries(STAFF, name, 2, first.next_page_token)
        seen = [*first.items, *rest.items]
        assert [(e.amount_minor, e.balance_after_minor) for e in seen] == [
            (3_000, 6_000),
            (2_000, 3_000),
            (1_000, 1_000),
        ]
        assert {e.kind for e in seen} == {TransactionKind.CREDIT_PURCHASE}
        with pytest.raises(NotFound):
            await w.treasury.ledger_entries(STAFF, f"ledgerAccounts/{new_id()}", 0, "")
        with pytest.raises(InvalidArgument) as refused:
            await w.treasury.ledger_entries(STAFF, f"accounts/{new_id()}", 0, "")
        assert refused.value.violations[0].field == "account"


async def test_an_adjustment_is_one_balanced_audited_transaction(empty_database_url):
    async with world(empty_database_url) as w:
        client = new_id()
        await credit(w, client, 1_000)
        wallet = Account(client, AccountKind.CLIENT_CREDIT, "EUR")
        legs = [(await account_name(w, wallet), -300), (await account_name(w, REVENUE), 300)]
        made = await w.treasury.adjust_ledger(STAFF, " double credit ", "EUR", legs, "")
        assert (made.kind, made.cause, made.description) == (
            TransactionKind.ADJUSTMENT,
            f"adjustments/{made.id}",
            "double credit",
        )
        assert (await balance(w, wallet), await balance(w, REVENUE)) == (700, 300)
        assert await w.treasury.ledger_violations() == []
        [action] = await audited(w, f"ledgerTransactions/{made.id}")
        assert (action.action, action.actor_id, action.target_user_id, action.reason) == (
            "ledger.adjust",
            STAFF.user_id,
            client,
            "double credit",
        )
        assert [leg["amount_minor"] for leg in action.after["legs"]] == [-300, 300]


BAD_ADJUSTMENTS = [
    ("", "EUR", [("wallet", -1), ("revenue", 1)], "reason"),
    ("x" * 501, "EUR", [("wallet", -1), ("revenue", 1)], "reason"),
    ("fix", "EURO", [("wallet", -1), ("revenue", 1)], "currency"),
    ("fix", "EUR", [("wallet", -1)], "legs"),
    ("fix", "EUR", [("wallet", -1), ("accounts/1", 1)], "legs[1].account"),
    ("fix", "EUR", [("wallet", -1), ("wallet", 1)], "legs[1].account"),
    ("fix", "EUR", [("wallet", 0), ("revenue", 0)], "legs[0].amount_minor"),
    ("fix", "EUR", [("wallet", -1), ("revenue", 2)], "legs"),
    ("fix", "EUR", [("wallet", -1), ("unknown", 1)], "legs[1].account"),
    ("fix", "EUR", [("wallet", -1), ("dollars", 1)], "legs[1].account"),
]


async def test_a_bad_adjustment_is_refused_naming_the_field_and_posts_nothing(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = new_id()
        await credit(w, client, 1_000)
        names = {
            "wallet": await account_name(w, Account(client, AccountKind.CLIENT_CREDIT, "EUR")),
            "revenue": await account_name(w, REVENUE),
            "dollars": await account_name(
                w, Account(PLATFORM, AccountKind.PLATFORM_REVENUE, "USD")
            ),
            "unknown": f"ledgerAccounts/{new_id()}",
        }
        for reason, currency, legs, field in BAD_ADJUSTMENTS:
            asked = [(names.get(name, name), amount) for name, amount in legs]
            with pytest.raises(InvalidArgument) as refused:
                await w.treasury.adjust_ledger(STAFF, reason, currency, asked, "")
            assert [v.field for v in refused.value.violations] == [field], (reason, legs)
        assert await balance(w, REVENUE) == 0
        assert await audited(w, "") == []


async def test_an_adjustment_overdrawing_a_guarded_account_is_refused_naming_the_leg(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = new_id()
        await credit(w, client, 100)
        wallet = Account(client, AccountKind.CLIENT_CREDIT, "EUR")
        legs = [(await account_name(w, REVENUE), 500), (await account_name(w, wallet), -500)]
        with pytest.raises(FailedPrecondition) as refused:
            await w.treasury.adjust_ledger(STAFF, "claw back", "EUR", legs, "")
        assert refused.value.reason == "INSUFFICIENT_FUNDS"
        assert refused.value.metadata["leg"] == "legs[1]"
        assert (await balance(w, wallet), await balance(w, REVENUE)) == (100, 0)
        async with w.uow(write=False) as uow:
            assert await uow.ledger.page_of_owner(
                PLATFORM, after=None, limit=10, all_postings=True
            ) == ([], 0)


async def test_an_adjustments_key_replays_it_for_its_staff_member_only(empty_database_url):
    async with world(empty_database_url) as w:
        client = new_id()
        await credit(w, client, 1_000)
        wallet = Account(client, AccountKind.CLIENT_CREDIT, "EUR")
        legs = [(await account_name(w, wallet), -100), (await account_name(w, REVENUE), 100)]
        key = new_id()
        first = await w.treasury.adjust_ledger(STAFF, "fix", "EUR", legs, key)
        again = await w.treasury.adjust_ledger(STAFF, "fix", "EUR", legs, key)
        assert again.id == first.id
        assert await balance(w, wallet) == 900
        colleague = person(None, Role.STAFF)
        other = await w.treasury.adjust_ledger(colleague, "fix", "EUR", legs, key)
        assert other.id != first.id
        assert await balance(w, wallet) == 800
        with pytest.raises(InvalidArgument) as reused:
            await w.treasury.adjust_ledger(STAFF, "another fix", "EUR", legs, key)
        assert reused.value.violations[0].field == "request_id"
        assert len(await audited(w, "")) == 2


async def test_only_staff_touch_the_ledger_and_never_their_own_money(empty_database_url):
    async with world(empty_database_url) as w:
        await credit(w, STAFF.user_id, 1_000)
        wallet = await account_name(w, Account(STAFF.user_id, AccountKind.CLIENT_CREDIT, "EUR"))
        revenue = await account_name(w, REVENUE)
        client = person()
        with pytest.raises(PermissionDenied):
            await w.treasury.ledger_accounts(client, "", None, "", 0, "")
        with pytest.raises(PermissionDenied):
            await w.treasury.ledger_entries(client, wallet, 0, "")
        with pytest.raises(PermissionDenied):
            await w.treasury.adjust_ledger(client, "fix", "EUR", [(wallet, 1), (revenue, -1)], "")
        with pytest.raises(PermissionDenied):
            await w.treasury.retry_payout(client, f"payouts/{new_id()}", "")
        with pytest.raises(PermissionDenied) as own:
            await w.treasury.adjust_ledger(
                STAFF, "gift", "EUR", [(wallet, 500), (revenue, -500)], ""
            )
        assert own.value.reason == "OWN_ACCOUNT"
        assert await balance(w, REVENUE) == 0


async def test_of_two_concurrent_adjustments_on_one_credit_only_the_one_that_fits_posts(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = new_id()
        await credit(w, client, 1_000)
        wallet = Account(client, AccountKind.CLIENT_CREDIT, "EUR")
        legs = [(await account_name(w, wallet), -600), (await account_name(w, REVENUE), 600)]
        outcome = await race(
            [lambda: w.treasury.adjust_ledger(STAFF, "claw back", "EUR", legs, "")] * 2
        )
        assert len(outcome.wins) == 1
        [lost] = outcome.losses
        assert isinstance(lost, FailedPrecondition) and lost.reason == "INSUFFICIENT_FUNDS"
        assert (await balance(w, wallet), await balance(w, REVENUE)) == (400, 600)
        assert await w.treasury.ledger_violations() == []
        assert len(await audited(w, "")) == 1


async def failed_payout(w: World):
    await earn(w)
    account_id = await onboard(w)
    await w.sandbox.make_payouts_fail(account_id)
    payout = await w.treasury.create_payout(practitioner(w), "EUR", new_id())
    await w.apply_webhooks()
    return account_id, payout


async def test_staff_pay_a_failed_payout_out_again_once(empty_database_url):
    async with world(empty_database_url) as w:
        account_id, failed = await failed_payout(w)
        assert await balances(w) == (8_000, 0)
        await w.sandbox.make_payouts_fail(account_id, fail=False)
        key = new_id()
        again = await w.treasury.retry_payout(STAFF, f"payouts/{failed.id}", key)
        assert again.id != failed.id and again.status is PayoutStatus.SUBMITTED
        assert (again.user_id, again.amount) == (failed.user_id, failed.amount)
        assert await balances(w) == (0, 8_000)
        assert (await w.treasury.retry_payout(STAFF, f"payouts/{failed.id}", key)).id == again.id
        with pytest.raises(FailedPrecondition) as twice:
            await w.treasury.retry_payout(STAFF, f"payouts/{failed.id}", new_id())
        assert twice.value.reason == "BELOW_PAYOUT_MINIMUM"
        with pytest.raises(FailedPrecondition) as not_failed:
            await w.treasury.retry_payout(STAFF, f"payouts/{again.id}", new_id())
        assert not_failed.value.reason == "PAYOUT_NOT_FAILED"
        with pytest.raises(NotFound):
            await w.treasury.retry_payout(STAFF, f"payouts/{new_id()}", "")
        with pytest.raises(InvalidArgument) as refused:
            await w.treasury.retry_payout(STAFF, "payouts/x", "")
        assert refused.value.violations[0].field == "name"
        [action] = await audited(w, f"payouts/{again.id}")
        assert (action.action, action.target_user_id) == ("payout.retry", w.practitioner_user_id)
        assert action.before["failed_payout"] == f"payouts/{failed.id}"
        with pytest.raises(PermissionDenied):
            await w.treasury.retry_payout(
                person(w.practitioner_user_id, Role.STAFF), f"payouts/{failed.id}", ""
            )


async def test_the_servicer_answers_staff_in_protos(empty_database_url, monkeypatch):
    async with world(empty_database_url) as w:
        client = new_id()
        await credit(w, client, 1_000)
        monkeypatch.setattr("services.payments.grpc_api.current_principal", lambda: STAFF)
        servicer = PaymentsServicer(w.treasury)
        listed = await servicer.ListLedgerAccounts(
            pb.ListLedgerAccountsRequest(
                owner=f"users/{client}", kind=pb.ACCOUNT_KIND_CLIENT_CREDIT
            ),
            None,
        )
        [wallet] = listed.accounts
        assert (wallet.balance.amount_minor, wallet.non_negative) == (1_000, True)
        revenue = await account_name(w, REVENUE)
        made = await servicer.CreateLedgerAdjustment(
            pb.CreateLedgerAdjustmentRequest(
                reason="fix",
                currency="EUR",
                legs=[
                    pb.AdjustmentLeg(account=wallet.name, amount_minor=-250),
                    pb.AdjustmentLeg(account=revenue, amount_minor=250),
                ],
            ),
            None,
        )
        assert made.kind == pb.TRANSACTION_KIND_ADJUSTMENT
        entries = await servicer.ListLedgerEntries(
            pb.ListLedgerEntriesRequest(account=wallet.name), None
        )
        assert [(e.amount.amount_minor, e.balance_after.amount_minor) for e in entries.entries] == [
            (-250, 750),
            (1_000, 1_000),
        ]
        assert entries.entries[0].transaction_kind == pb.TRANSACTION_KIND_ADJUSTMENT
