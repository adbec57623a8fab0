"""Payouts through Connect on the sandbox, on both databases: onboarding by an account link,
a practitioner's whole available balance paid out once (the ledger moves it when the payout
is made; the provider's transfer and payout are keyed by the payout's id), refused below the
minimum or before onboarding, a failed payout's money available again and its transfer
reversed at the provider once (so the next payout transfers it once), a crash between our
commit and the provider's calls completed by the job with one transfer, the weekly batch,
and nobody reading another's payouts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.auth.principal import Principal, Role
from chassis.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from chassis.ids import new_id
from services.payments.domain.ledger import Account, AccountKind
from services.payments.domain.payouts import Payout, PayoutStatus
from services.payments.events import PAYOUT_FAILED, PAYOUT_PAID
from services.payments.provider.port import ProviderRejected, ProviderUnavailable
from services.payments.service_layer.payouts import apply_connect_object
from services.payments.settings import PaymentsSettings
from tests.builders import person
from tests.integration.payments.world import World, world
from tests.races import race


def practitioner(w: World) -> Principal:
    return person(w.practitioner_user_id, Role.PRACTITIONER)


async def earn(w: World, amount_minor: int = 10_000) -> None:
    """A completed booking whose earning (80%) has become available."""
    await w.deliver(w.delivery(w.completion(amount_minor)))
    w.clock.advance(timedelta(hours=48))
    await w.treasury.release_earnings()


async def onboard(w: World) -> str:
    """The practitioner's connected account, onboarded at the sandbox; its id."""
    account, link = await w.treasury.create_payout_account(practitioner(w))
    await w.sandbox.complete_onboarding(link)
    return account.account_id


async def balances(w: World, currency: str = "EUR") -> tuple[int, int]:
    """The practitioner's available and paid-out balances; the ledger checked."""
    owner = w.practitioner_user_id
    async with w.uow(write=False) as uow:
        assert await uow.audit.violations() == []
        return (
            await uow.ledger.balance(Account(owner, AccountKind.PRACTITIONER_AVAILABLE, currency)),
            await uow.ledger.balance(Account(owner, AccountKind.PRACTITIONER_PAID_OUT, currency)),
        )


async def status_of(w: World, payout: Payout) -> PayoutStatus:
    async with w.uow(write=False) as uow:
        found = await uow.payouts.get(payout.id)
    assert found is not None
    return found.status


async def test_onboarding_makes_one_account_and_enables_payouts(empty_database_url):
    async with world(empty_database_url) as w:
        me = practitioner(w)
        first, link = await w.treasury.create_payout_account(me)
        again, second_link = await w.treasury.create_payout_account(me)
        assert again.account_id == first.account_id
        assert link != second_link  # a link is single-use: each request gets a fresh one
        assert await w.sandbox.count("account") == 1
        assert not (await w.treasury.payout_account(me)).payouts_enabled
        await w.sandbox.complete_onboarding(link)
        # Read again from the provider while the webhook is on its way...
        assert (await w.treasury.payout_account(me)).payouts_enabled
        # ...and account.updated says so too.
        assert await w.apply_webhooks() == 1
        async with w.uow(write=False) as uow:
            stored = await uow.payout_accounts.of_user(w.practitioner_user_id)
        assert stored is not None and stored.payouts_enabled


async def test_the_sandbox_onboarding_page_finishes_a_link_once_and_refuses_others(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        me = practitioner(w)
        _, link = await w.treasury.create_payout_account(me)
        token = link.rsplit("/", 1)[-1]
        for bad in ("", "pi_123", "al_" + "x" * 65, "al_../../etc"):
            with pytest.raises(InvalidArgument) as error:
                await w.treasury.complete_sandbox_onboarding(bad)
            assert [v.field for v in error.value.violations] == ["token"]
        with pytest.raises(NotFound):
            await w.treasury.complete_sandbox_onboarding("al_neverissued")
        assert not (await w.treasury.payout_account(me)).payouts_enabled

        back = await w.treasury.complete_sandbox_onboarding(token)
        assert back == PaymentsSettings().payout_onboarding_url
        assert (await w.treasury.payout_account(me)).payouts_enabled
        assert await w.apply_webhooks() == 1
        # Used: sent to the refresh URL, and no second account.updated.
        await w.treasury.complete_sandbox_onboarding(token)
        assert await w.apply_webhooks() == 0


async def test_only_a_practitioner_opens_a_payout_account_and_reads_only_their_own(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        with pytest.raises(PermissionDenied):
            await w.treasury.create_payout_account(person())
        with pytest.raises(PermissionDenied):
            await w.treasury.create_payout(person(), "EUR", new_id())
        with pytest.raises(NotFound):
            await w.treasury.payout_account(person(None, Role.PRACTITIONER))


async def test_a_payout_moves_exactly_the_available_balance(empty_database_url):
    async with world(empty_database_url) as w:
        await earn(w)
        await w.deliver(w.delivery(w.completion(5_000)))  # still pending: not paid out
        await onboard(w)
        payout = await w.treasury.create_payout(practitioner(w), "EUR", new_id())
        assert payout.amount.amount_minor == 8_000
        assert payout.status is PayoutStatus.SUBMITTED
        assert await balances(w) == (0, 8_000)
        assert await w.sandbox.count("transfer") == 1
        await w.apply_webhooks()
        assert await status_of(w, payout) is PayoutStatus.PAID
        [paid] = await w.events(PAYOUT_PAID)
        assert (paid.payout_id, paid.amount.amount_minor) == (payout.id, 8_000)
        # Nothing left to pay out now.
        with pytest.raises(FailedPrecondition) as refused:
            await w.treasury.create_payout(practitioner(w), "EUR", new_id())
        assert refused.value.reason == "BELOW_PAYOUT_MINIMUM"


async def test_a_payout_below_the_minimum_is_refused_and_changes_nothing(empty_database_url):
    async with world(empty_database_url) as w:
        await earn(w, 6_000)  # 48.00 EUR available, the minimum is 50.00
        await onboard(w)
        with pytest.raises(FailedPrecondition) as refused:
            await w.treasury.create_payout(practitioner(w), "EUR", new_id())
        assert refused.value.reason == "BELOW_PAYOUT_MINIMUM"
        assert refused.value.metadata == {"minimum_minor": "5000", "currency": "EUR"}
        assert await balances(w) == (4_800, 0)
        assert await w.sandbox.count("transfer") == 0


async def test_a_payout_without_payouts_enabled_is_refused(empty_database_url):
    async with world(empty_database_url) as w:
        await earn(w)
        me = practitioner(w)
        with pytest.raises(FailedPrecondition) as refused:
            await w.treasury.create_payout(me, "EUR", new_id())
        assert refused.value.reason == "PAYOUTS_NOT_ENABLED"
        await w.treasury.create_payout_account(me)  # onboarding not finished
        with pytest.raises(FailedPrecondition) as refused:
            await w.treasury.create_payout(me, "EUR", new_id())
        assert refused.value.reason == "PAYOUTS_NOT_ENABLED"
        assert await balances(w) == (8_000, 0)


async def test_a_payout_names_a_currency(empty_database_url):
    async with world(empty_database_url) as w:
        with pytest.raises(InvalidArgument) as refused:
            await w.treasury.create_payout(practitioner(w), "euro", new_id())
        assert refused.value.violations[0].field == "currency"


async def test_a_failed_payout_returns_the_money_to_available(empty_database_url):
    async with world(empty_database_url) as w:
        await earn(w)
        account_id = await onboard(w)
        await w.sandbox.make_payouts_fail(account_id)
        payout = await w.treasury.create_payout(practitioner(w), "EUR", new_id())
        assert await balances(w) == (0, 8_000)
        await w.apply_webhooks()
        assert await status_of(w, payout) is PayoutStatus.FAILED
        assert await balances(w) == (8_000, 0)
        [failed] = await w.events(PAYOUT_FAILED)
        assert (failed.payout_id, failed.reason) == (payout.id, "account_closed")
        assert await w.events(PAYOUT_PAID) == []
        # A late redelivery of the failure moves nothing again.
        await w.apply_webhooks()
        assert await balances(w) == (8_000, 0)


async def test_the_same_idempotency_key_replays_the_payout(empty_database_url):
    async with world(empty_database_url) as w:
        await earn(w)
        await onboard(w)
        key = new_id()
        first = await w.treasury.create_payout(practitioner(w), "EUR", key)
        again = await w.treasury.create_payout(practitioner(w), "EUR", key)
        assert again.id == first.id
        assert await w.sandbox.count("transfer") == 1
        assert await balances(w) == (0, 8_000)
        with pytest.raises(InvalidArgument):
            await w.treasury.create_payout(practitioner(w), "JPY", key)


async def test_a_crash_after_commit_is_completed_by_the_job_with_one_transfer(
    empty_database_url, monkeypatch
):
    async with world(empty_database_url) as w:
        await earn(w)
        await onboard(w)

        async def crash(payout: Payout) -> Payout:
            return payout  # the process died before the provider heard of the payout

        with monkeypatch.context() as patched:
            patched.setattr(w.treasury, "_submit", crash)
            payout = await w.treasury.create_payout(practitioner(w), "EUR", new_id())
        assert payout.status is PayoutStatus.PENDING
        assert await w.sandbox.count("transfer") == 0
        # The job (twice at once, and once more) sends it with the payout's keys: once.
        await race([w.treasury.send_pending_payouts] * 2)
        await w.treasury.send_pending_payouts()
        assert await w.sandbox.count("transfer") == 1
        assert await w.sandbox.count("payout") == 1
        await w.apply_webhooks()
        assert await status_of(w, payout) is PayoutStatus.PAID
        assert await balances(w) == (0, 8_000)


async def test_the_weekly_batch_pays_out_who_is_enabled_and_above_the_minimum(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        await earn(w)
        await onboard(w)
        assert await w.treasury.pay_out_everyone() == 0  # not enabled until account.updated
        await w.apply_webhooks()
        assert await w.treasury.pay_out_everyone() == 1
        assert await w.treasury.pay_out_everyone() == 0
        assert await balances(w) == (0, 8_000)
        assert await w.sandbox.count("transfer") == 1


async def test_nobody_sees_another_ones_payouts_and_pages_run_newest_first(empty_database_url):
    async with world(empty_database_url) as w:
        await onboard(w)
        made = []
        for _ in range(3):
            await earn(w)
            made.append(await w.treasury.create_payout(practitioner(w), "EUR", new_id()))
        first = await w.treasury.list_payouts(practitioner(w), 2, "")
        assert [p.id for p in first.items] == [made[2].id, made[1].id]
        assert first.total == 3
        rest = await w.treasury.list_payouts(practitioner(w), 2, first.next_page_token)
        assert [p.id for p in rest.items] == [made[0].id] and rest.next_page_token == ""
        stranger = await w.treasury.list_payouts(person(None, Role.PRACTITIONER), 0, "")
        assert stranger.items == [] and stranger.total == 0
        with pytest.raises(InvalidArgument):
            await w.treasury.list_payouts(person(), 2, first.next_page_token)


async def test_ten_concurrent_payout_requests_make_one_payout(empty_database_url):
    async with world(empty_database_url) as w:
        await earn(w)
        await onboard(w)
        outcome = await race(
            [lambda: w.treasury.create_payout(practitioner(w), "EUR", new_id())] * 10
        )
        assert len(outcome.wins) == 1, outcome.outcomes
        assert all(isinstance(e, FailedPrecondition) for e in outcome.losses), outcome.losses
        assert await balances(w) == (0, 8_000)
        assert await w.sandbox.count("transfer") == 1


async def redeliver(w: World, webhooks: list[tuple[bytes, str]]) -> None:
    for payload, signature in webhooks:
        await w.treasury.receive_stripe_event(payload, signature)


async def test_a_failed_payout_reverses_its_transfer_once_and_the_next_pays_it_once(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        await earn(w)
        account_id = await onboard(w)
        await w.sandbox.make_payouts_fail(account_id)
        payout = await w.treasury.create_payout(practitioner(w), "EUR", new_id())
        # The bank refused: the transferred money sits on the connected account.
        assert await w.sandbox.balance(account_id, "EUR") == 8_000
        webhooks = await w.sent_webhooks()
        # Two deliveries of payout.failed at once, then a late one: one reversal.
        await race([lambda: redeliver(w, webhooks)] * 2)
        await redeliver(w, webhooks)
        assert await status_of(w, payout) is PayoutStatus.FAILED
        assert await w.sandbox.balance(account_id, "EUR") == 0
        assert await w.sandbox.count("transfer_reversal") == 1
        assert await balances(w) == (8_000, 0)
        # Another event about the same failed payout reverses and returns nothing more.
        async with w.uow(write=False) as uow:
            stored = await uow.payouts.get(payout.id)
        assert stored is not None
        failed = await w.sandbox.retrieve_payout(
            account_id=account_id, payout_id=stored.provider_payout_id
        )
        async with w.uow() as uow:
            await apply_connect_object(uow, w.sandbox, failed)
            await uow.commit()
        assert await w.sandbox.count("transfer_reversal") == 1
        assert await balances(w) == (8_000, 0)
        # The next payout transfers the returned money once, and it leaves the account.
        await w.sandbox.make_payouts_fail(account_id, fail=False)
        again = await w.treasury.create_payout(practitioner(w), "EUR", new_id())
        assert again.amount.amount_minor == 8_000
        assert await w.sandbox.count("transfer") == 2
        assert await w.sandbox.balance(account_id, "EUR") == 0
        assert await balances(w) == (0, 8_000)


async def test_a_payout_refused_after_its_transfer_reverses_the_transfer(
    empty_database_url, monkeypatch
):
    async with world(empty_database_url) as w:
        await earn(w)
        account_id = await onboard(w)

        async def refuse(**_: object) -> None:
            raise ProviderRejected("Payouts are paused on this account", code="payouts_paused")

        with monkeypatch.context() as patched:
            patched.setattr(w.sandbox, "create_payout", refuse)
            payout = await w.treasury.create_payout(practitioner(w), "EUR", new_id())
        assert (payout.status, payout.failure_code) == (PayoutStatus.FAILED, "payouts_paused")
        assert await w.sandbox.count("transfer") == 1
        assert await w.sandbox.count("transfer_reversal") == 1
        assert await w.sandbox.balance(account_id, "EUR") == 0
        assert await balances(w) == (8_000, 0)


async def test_a_reversal_the_provider_cannot_make_leaves_the_payout_to_retry(
    empty_database_url, monkeypatch
):
    async with world(empty_database_url) as w:
        await earn(w)
        account_id = await onboard(w)
        await w.sandbox.make_payouts_fail(account_id)
        payout = await w.treasury.create_payout(practitioner(w), "EUR", new_id())
        webhooks = await w.sent_webhooks()

        async def unreachable(*_: object, **__: object) -> None:
            raise ProviderUnavailable("connection reset")

        with monkeypatch.context() as patched:
            patched.setattr(w.sandbox, "create_transfer_reversal", unreachable)
            with pytest.raises(Unavailable):
                await redeliver(w, webhooks)
        # Not returned yet: the money is still on the connected account, not available.
        assert await status_of(w, payout) is PayoutStatus.SUBMITTED
        assert await balances(w) == (0, 8_000)
        assert await w.sandbox.balance(account_id, "EUR") == 8_000
        # Stripe delivers the event again: now reversed and returned, once.
        await redeliver(w, webhooks)
        assert await status_of(w, payout) is PayoutStatus.FAILED
        assert await balances(w) == (8_000, 0)
        assert await w.sandbox.balance(account_id, "EUR") == 0
        assert await w.sandbox.count("transfer_reversal") == 1


async def test_a_refused_payout_whose_reversal_waits_is_returned_by_the_job_once(
    empty_database_url, monkeypatch
):
    async with world(empty_database_url) as w:
        await earn(w)
        account_id = await onboard(w)

        async def refuse(**_: object) -> None:
            raise ProviderRejected("Payouts are paused on this account", code="payouts_paused")

        async def unreachable(*_: object, **__: object) -> None:
            raise ProviderUnavailable("connection reset")

        monkeypatch.setattr(w.sandbox, "create_payout", refuse)
        with monkeypatch.context() as patched:
            patched.setattr(w.sandbox, "create_transfer_reversal", unreachable)
            payout = await w.treasury.create_payout(practitioner(w), "EUR", new_id())
        assert payout.status is PayoutStatus.PENDING
        assert await balances(w) == (0, 8_000)
        assert await w.sandbox.balance(account_id, "EUR") == 8_000
        # The job sends it again (twice at once): the same transfer, one reversal, one return.
        await race([w.treasury.send_pending_payouts] * 2)
        await w.treasury.send_pending_payouts()
        assert await status_of(w, payout) is PayoutStatus.FAILED
        assert await w.sandbox.count("transfer") == 1
        assert await w.sandbox.count("transfer_reversal") == 1
        assert await w.sandbox.balance(account_id, "EUR") == 0
        assert await balances(w) == (8_000, 0)
