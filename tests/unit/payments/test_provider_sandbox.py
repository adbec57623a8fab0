"""The sandbox provider behaves like Stripe's test mode: its test cards, refunds, Connect,
subscriptions and renewals, idempotent replays, a restart, and webhooks signed as Stripe
signs them and delivered in order until accepted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chassis.clock import FrozenClock
from gateway.routes.payments import ONBOARDING_PAGES
from services.payments.provider.port import (
    ChangeTiming,
    IdempotencyConflict,
    PaymentStatus,
    PayoutStatus,
    ProviderRejected,
    SubscriptionStatus,
    WebhookEvent,
    WebhookSignatureInvalid,
)
from services.payments.provider.sandbox import SandboxProvider

SECRET = "whsec_sandbox_test"


class Inbox:
    """A webhook route: verifies what it is sent, can refuse the next deliveries."""

    def __init__(self) -> None:
        self.sandbox: SandboxProvider | None = None
        self.events: list[WebhookEvent] = []
        self.sent: list[tuple[bytes, str]] = []
        self.refusals = 0

    async def __call__(self, payload: bytes, signature: str) -> None:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("the webhook route is down")
        assert self.sandbox is not None
        self.sent.append((payload, signature))
        self.events.append(self.sandbox.parse_webhook(payload, signature))

    def types(self) -> list[str]:
        return [event.type for event in self.events]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def sandbox(
    tmp_path: Path, clock: FrozenClock, inbox: Inbox
) -> AsyncIterator[SandboxProvider]:
    provider = SandboxProvider(
        tmp_path / "sandbox.db", webhook_secret=SECRET, deliver=inbox, clock=clock
    )
    inbox.sandbox = provider
    yield provider
    await provider.aclose()


async def test_the_sandbox_commits_to_a_write_ahead_log_not_waiting_for_the_disk(tmp_path):
    provider = SandboxProvider(tmp_path / "sandbox.db", webhook_secret=SECRET)
    try:
        await provider.create_payment_intent(
            amount=5000, currency="EUR", order_id="o", idempotency_key="create:o"
        )
        with contextlib.closing(sqlite3.connect(tmp_path / "sandbox.db")) as other:
            assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        # NORMAL: synced at checkpoints, not at every commit (FULL, 2, is the default).
        assert provider._db.execute("PRAGMA synchronous").fetchone() == (1,)
    finally:
        await provider.aclose()


async def paid_intent(sandbox: SandboxProvider, amount: int = 5000, key: str = "order-1"):
    intent = await sandbox.create_payment_intent(
        amount=amount,
        currency="EUR",
        order_id=key,
        idempotency_key=f"create:{key}",
        payment_method="pm_card_visa",
    )
    return await sandbox.confirm_payment_intent(intent.id, idempotency_key=f"confirm:{key}")


@pytest.mark.parametrize("card", ["pm_card_visa", "4242424242424242", "pm_card_mastercard"])
async def test_a_good_test_card_pays_and_says_so_in_a_signed_webhook(sandbox, inbox, card):
    intent = await sandbox.create_payment_intent(
        amount=2500, currency="EUR", order_id="order-1", idempotency_key="k1"
    )
    assert intent.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert intent.client_secret.startswith(intent.id + "_secret_")
    paid = await sandbox.confirm_payment_intent(
        intent.id, idempotency_key="k2", payment_method=card
    )
    assert (paid.status, paid.amount_received, paid.currency, paid.order_id) == (
        PaymentStatus.SUCCEEDED,
        2500,
        "EUR",
        "order-1",
    )
    assert await sandbox.deliver_webhooks() == 2
    assert inbox.types() == ["payment_intent.created", "payment_intent.succeeded"]
    assert inbox.events[1].object_id == intent.id
    assert inbox.events[1].object["metadata"] == {"order_id": "order-1"}


@pytest.mark.parametrize(
    ("card", "code", "decline"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        ("4000000000000002", "card_declined", "generic_decline"),
        ("pm_card_chargeCustomerFail", "card_declined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("4000000000000069", "expired_card", "expired_card"),
    ],
)
async def test_a_declining_test_card_leaves_the_intent_waiting_for_another(
    sandbox, inbox, card, code, decline
):
    intent = await sandbox.create_payment_intent(
        amount=2500, currency="EUR", order_id="o", idempotency_key="k1", payment_method=card
    )
    declined = await sandbox.confirm_payment_intent(intent.id, idempotency_key="k2")
    assert (declined.status, declined.failure_code, declined.decline_code) == (
        PaymentStatus.REQUIRES_PAYMENT_METHOD,
        code,
        decline,
    )
    assert declined.amount_received == 0
    await sandbox.deliver_webhooks()
    assert inbox.types()[-1] == "payment_intent.payment_failed"
    retried = await sandbox.confirm_payment_intent(
        intent.id, idempotency_key="k3", payment_method="pm_card_visa"
    )
    assert retried.status is PaymentStatus.SUCCEEDED
    assert retried.failure_code is None


@pytest.mark.parametrize("card", ["pm_card_authenticationRequired", "4000002500003155"])
async def test_a_3d_secure_card_waits_for_authentication(sandbox, inbox, card):
    intent = await sandbox.create_payment_intent(
        amount=2500, currency="EUR", order_id="o", idempotency_key="k1", payment_method=card
    )
    waiting = await sandbox.confirm_payment_intent(intent.id, idempotency_key="k2")
    assert waiting.status is PaymentStatus.REQUIRES_ACTION
    assert (
        await sandbox.retrieve_payment_intent(intent.id)
    ).status is PaymentStatus.REQUIRES_ACTION
    paid = await sandbox.authenticate(intent.id)
    assert paid.status is PaymentStatus.SUCCEEDED
    await sandbox.deliver_webhooks()
    assert inbox.types()[-2:] == ["payment_intent.requires_action", "payment_intent.succeeded"]


async def test_a_failed_authentication_declines_the_payment(sandbox):
    intent = await sandbox.create_payment_intent(
        amount=2500,
        currency="EUR",
        order_id="o",
        idempotency_key="k1",
        payment_method="pm_card_authenticationRequired",
    )
    await sandbox.confirm_payment_intent(intent.id, idempotency_key="k2")
    failed = await sandbox.authenticate(intent.id, succeed=False)
    assert (failed.status, failed.failure_code) == (
        PaymentStatus.REQUIRES_PAYMENT_METHOD,
        "payment_intent_authentication_failure",
    )
    with pytest.raises(ProviderRejected) as refused:
        await sandbox.authenticate(intent.id)
    assert refused.value.code == "payment_intent_unexpected_state"


async def test_the_same_key_and_parameters_answer_the_first_intent_and_make_no_other(sandbox):
    first = await sandbox.create_payment_intent(
        amount=2500, currency="EUR", order_id="o", idempotency_key="checkout:o"
    )
    again = await sandbox.create_payment_intent(
        amount=2500, currency="EUR", order_id="o", idempotency_key="checkout:o"
    )
    assert again == first
    assert await sandbox.deliver_webhooks() == 1  # one intent made, one event
    paid = await sandbox.confirm_payment_intent(
        first.id, idempotency_key="pay:o", payment_method="pm_card_visa"
    )
    replayed = await sandbox.confirm_payment_intent(
        first.id, idempotency_key="pay:o", payment_method="pm_card_visa"
    )
    assert replayed == paid


async def test_the_same_key_with_other_parameters_is_refused_and_changes_nothing(sandbox, inbox):
    first = await sandbox.create_payment_intent(
        amount=2500, currency="EUR", order_id="o", idempotency_key="checkout:o"
    )
    with pytest.raises(IdempotencyConflict, match="same parameters"):
        await sandbox.create_payment_intent(
            amount=9900, currency="EUR", order_id="o", idempotency_key="checkout:o"
        )
    with pytest.raises(IdempotencyConflict):
        await sandbox.create_customer(
            user_id="u", email=None, name=None, idempotency_key="checkout:o"
        )
    await sandbox.deliver_webhooks()
    assert [event.object_id for event in inbox.events] == [first.id]


@pytest.mark.parametrize(
    ("amount", "currency", "param"),
    [
        (0, "EUR", "amount"),
        (-5, "EUR", "amount"),
        (True, "EUR", "amount"),
        (100_000_000, "EUR", "amount"),
        (2500, "XYZ", "currency"),
        (2500, "eur", "currency"),
    ],
)
async def test_a_bad_amount_or_currency_is_refused_naming_it(
    sandbox, inbox, amount, currency, param
):
    with pytest.raises(ProviderRejected) as refused:
        await sandbox.create_payment_intent(
            amount=amount, currency=currency, order_id="o", idempotency_key="k"
        )
    assert refused.value.param == param
    await sandbox.deliver_webhooks()
    assert inbox.events == []
    # Nothing was kept for the key: the corrected request goes through under it.
    fixed = await sandbox.create_payment_intent(
        amount=2500, currency="EUR", order_id="o", idempotency_key="k"
    )
    assert fixed.amount == 2500


async def test_an_unknown_payment_method_is_refused(sandbox):
    with pytest.raises(ProviderRejected) as refused:
        await sandbox.create_payment_intent(
            amount=2500,
            currency="EUR",
            order_id="o",
            idempotency_key="k",
            payment_method="pm_card_unheard_of",
        )
    assert (refused.value.code, refused.value.param) == ("resource_missing", "payment_method")


async def test_refunds_in_parts_up_to_what_was_paid(sandbox, inbox):
    intent = await paid_intent(sandbox, 5000)
    half = await sandbox.create_refund(
        payment_intent_id=intent.id,
        amount=2500,
        idempotency_key="refund:1",
        metadata={"refund_id": "r1"},
    )
    assert (half.amount, half.currency, half.status.value, half.metadata) == (
        2500,
        "EUR",
        "succeeded",
        {"refund_id": "r1"},
    )
    with pytest.raises(ProviderRejected) as refused:
        await sandbox.create_refund(
            payment_intent_id=intent.id, amount=2501, idempotency_key="refund:2"
        )
    assert refused.value.code == "amount_too_large"
    rest = await sandbox.create_refund(payment_intent_id=intent.id, idempotency_key="refund:3")
    assert rest.amount == 2500
    assert await sandbox.retrieve_refund(rest.id) == rest
    with pytest.raises(ProviderRejected) as again:
        await sandbox.create_refund(payment_intent_id=intent.id, idempotency_key="refund:4")
    assert again.value.code == "charge_already_refunded"
    await sandbox.deliver_webhooks()
    assert inbox.types().count("refund.created") == 2


async def test_an_unpaid_intent_cannot_be_refunded_but_can_be_canceled(sandbox, inbox):
    intent = await sandbox.create_payment_intent(
        amount=2500, currency="EUR", order_id="o", idempotency_key="k"
    )
    with pytest.raises(ProviderRejected) as refused:
        await sandbox.create_refund(payment_intent_id=intent.id, idempotency_key="r")
    assert refused.value.code == "charge_not_refundable"
    canceled = await sandbox.cancel_payment_intent(intent.id, idempotency_key="c")
    assert canceled.status is PaymentStatus.CANCELED
    with pytest.raises(ProviderRejected):
        await sandbox.confirm_payment_intent(
            intent.id, idempotency_key="late", payment_method="pm_card_visa"
        )
    paid = await paid_intent(sandbox, key="order-2")
    with pytest.raises(ProviderRejected) as not_cancelable:
        await sandbox.cancel_payment_intent(paid.id, idempotency_key="c2")
    assert not_cancelable.value.code == "payment_intent_unexpected_state"


async def test_a_customer_is_made_for_a_user(sandbox):
    customer = await sandbox.create_customer(
        user_id="user-1", email="ann@example.com", name="Ann", idempotency_key="customer:user-1"
    )
    assert (customer.user_id, customer.email, customer.name) == ("user-1", "ann@example.com", "Ann")
    assert customer.id.startswith("cus_")


async def onboarded_account(sandbox: SandboxProvider, practitioner: str = "p1") -> str:
    account = await sandbox.create_connected_account(
        practitioner_id=practitioner,
        email="p@example.com",
        country="DE",
        idempotency_key=f"account:{practitioner}",
    )
    link = await sandbox.create_account_link(
        account_id=account.id,
        refresh_url="https://app/refresh",
        return_url="https://app/done",
        idempotency_key=f"link:{practitioner}",
    )
    assert await sandbox.complete_onboarding(link.url) == "https://app/done"
    return account.id


async def test_a_practitioner_is_onboarded_through_the_local_link(sandbox, clock, inbox):
    account = await sandbox.create_connected_account(
        practitioner_id="p1", email="p@example.com", country="DE", idempotency_key="account:p1"
    )
    assert (account.practitioner_id, account.payouts_enabled, account.details_submitted) == (
        "p1",
        False,
        False,
    )
    link = await sandbox.create_account_link(
        account_id=account.id,
        refresh_url="https://app/refresh",
        return_url="https://app/done",
        idempotency_key="link:1",
    )
    # The gateway serves the pages these links open (their path is its ONBOARDING_PAGES).
    assert link.url.startswith(f"http://127.0.0.1:8000{ONBOARDING_PAGES}/")
    assert link.expires_at == clock.now() + timedelta(seconds=300)
    assert await sandbox.complete_onboarding(link.url) == "https://app/done"
    now = await sandbox.retrieve_connected_account(account.id)
    assert (now.payouts_enabled, now.details_submitted) == (True, True)
    # A link is single use.
    assert await sandbox.complete_onboarding(link.url) == "https://app/refresh"
    await sandbox.deliver_webhooks()
    assert inbox.events[-1].type == "account.updated"
    assert inbox.events[-1].account_id == account.id


async def test_an_expired_onboarding_link_sends_the_practitioner_to_refresh(sandbox, clock):
    account = await sandbox.create_connected_account(
        practitioner_id="p1", email=None, country="DE", idempotency_key="account:p1"
    )
    link = await sandbox.create_account_link(
        account_id=account.id,
        refresh_url="https://app/refresh",
        return_url="https://app/done",
        idempotency_key="link:1",
    )
    clock.advance(timedelta(seconds=301))
    assert await sandbox.complete_onboarding(link.url) == "https://app/refresh"
    assert not (await sandbox.retrieve_connected_account(account.id)).payouts_enabled


async def test_a_country_that_is_not_a_code_is_refused(sandbox):
    with pytest.raises(ProviderRejected) as refused:
        await sandbox.create_connected_account(
            practitioner_id="p1", email=None, country="Germany", idempotency_key="a"
        )
    assert refused.value.param == "country"


async def test_no_transfer_to_an_account_not_yet_onboarded(sandbox):
    account = await sandbox.create_connected_account(
        practitioner_id="p1", email=None, country="DE", idempotency_key="account:p1"
    )
    with pytest.raises(ProviderRejected) as refused:
        await sandbox.create_transfer(
            amount=5000,
            currency="EUR",
            destination_account_id=account.id,
            idempotency_key="transfer:1",
        )
    assert refused.value.code == "insufficient_capabilities_for_transfer"


async def test_a_transfer_then_a_payout_of_it_is_paid_once(sandbox, inbox):
    account_id = await onboarded_account(sandbox)
    transfer = await sandbox.create_transfer(
        amount=5000,
        currency="EUR",
        destination_account_id=account_id,
        idempotency_key="transfer:payout-1",
        transfer_group="payout-1",
        metadata={"payout_id": "payout-1"},
    )
    assert (transfer.amount, transfer.destination_account_id, transfer.transfer_group) == (
        5000,
        account_id,
        "payout-1",
    )
    retried = await sandbox.create_transfer(
        amount=5000,
        currency="EUR",
        destination_account_id=account_id,
        idempotency_key="transfer:payout-1",
        transfer_group="payout-1",
        metadata={"payout_id": "payout-1"},
    )
    assert retried == transfer
    payout = await sandbox.create_payout(
        account_id=account_id, amount=5000, currency="EUR", idempotency_key="payout:payout-1"
    )
    assert payout.status is PayoutStatus.PENDING
    settled = await sandbox.retrieve_payout(account_id=account_id, payout_id=payout.id)
    assert settled.status is PayoutStatus.PAID
    # The retried transfer added nothing: the balance is spent.
    with pytest.raises(ProviderRejected) as refused:
        await sandbox.create_payout(
            account_id=account_id, amount=1, currency="EUR", idempotency_key="payout:2"
        )
    assert refused.value.code == "balance_insufficient"
    await sandbox.deliver_webhooks()
    payout_events = [event for event in inbox.events if event.type.startswith("payout.")]
    assert [event.type for event in payout_events] == ["payout.created", "payout.paid"]
    assert {event.account_id for event in payout_events} == {account_id}


async def test_a_payout_to_a_closed_bank_account_fails_and_the_money_stays(sandbox, inbox):
    account_id = await onboarded_account(sandbox)
    await sandbox.create_transfer(
        amount=5000, currency="EUR", destination_account_id=account_id, idempotency_key="t"
    )
    await sandbox.make_payouts_fail(account_id)
    payout = await sandbox.create_payout(
        account_id=account_id, amount=5000, currency="EUR", idempotency_key="p1"
    )
    failed = await sandbox.retrieve_payout(account_id=account_id, payout_id=payout.id)
    assert (failed.status, failed.failure_code) == (PayoutStatus.FAILED, "account_closed")
    await sandbox.make_payouts_fail(account_id, fail=False)
    again = await sandbox.create_payout(
        account_id=account_id, amount=5000, currency="EUR", idempotency_key="p2"
    )
    assert (await sandbox.retrieve_payout(account_id=account_id, payout_id=again.id)).status is (
        PayoutStatus.PAID
    )
    await sandbox.deliver_webhooks()
    assert "payout.failed" in inbox.types()


async def test_a_reversal_takes_a_transfer_back_from_the_account_once(sandbox, inbox):
    account_id = await onboarded_account(sandbox)
    transfer = await sandbox.create_transfer(
        amount=5000, currency="EUR", destination_account_id=account_id, idempotency_key="t"
    )
    assert await sandbox.balance(account_id, "EUR") == 5000
    reversal = await sandbox.create_transfer_reversal(transfer.id, idempotency_key="r1")
    assert (reversal.transfer_id, reversal.amount, reversal.currency) == (transfer.id, 5000, "EUR")
    assert await sandbox.balance(account_id, "EUR") == 0
    # A replay answers the first reversal and takes nothing more.
    assert await sandbox.create_transfer_reversal(transfer.id, idempotency_key="r1") == reversal
    assert await sandbox.balance(account_id, "EUR") == 0
    assert await sandbox.count("transfer_reversal") == 1
    with pytest.raises(IdempotencyConflict):
        await sandbox.create_transfer_reversal(transfer.id, idempotency_key="r1", amount=10)
    await sandbox.deliver_webhooks()
    assert inbox.types().count("transfer.reversed") == 1


async def test_a_reversal_takes_no_more_than_the_transfer_or_the_account_holds(sandbox):
    account_id = await onboarded_account(sandbox)
    transfer = await sandbox.create_transfer(
        amount=5000, currency="EUR", destination_account_id=account_id, idempotency_key="t"
    )
    await sandbox.create_transfer_reversal(transfer.id, idempotency_key="r1", amount=2000)
    with pytest.raises(ProviderRejected) as refused:
        await sandbox.create_transfer_reversal(transfer.id, idempotency_key="r2", amount=3001)
    assert (refused.value.code, refused.value.param) == ("parameter_invalid_integer", "amount")
    await sandbox.create_payout(
        account_id=account_id, amount=3000, currency="EUR", idempotency_key="p1"
    )
    with pytest.raises(ProviderRejected) as refused:
        await sandbox.create_transfer_reversal(transfer.id, idempotency_key="r3")
    assert refused.value.code == "balance_insufficient"
    with pytest.raises(ProviderRejected) as refused:
        await sandbox.create_transfer_reversal("tr_unknown", idempotency_key="r4")
    assert refused.value.code == "resource_missing"
    assert await sandbox.balance(account_id, "EUR") == 0


async def test_another_accounts_payout_is_not_found(sandbox):
    first = await onboarded_account(sandbox, "p1")
    second = await onboarded_account(sandbox, "p2")
    await sandbox.create_transfer(
        amount=5000, currency="EUR", destination_account_id=first, idempotency_key="t"
    )
    payout = await sandbox.create_payout(
        account_id=first, amount=5000, currency="EUR", idempotency_key="p"
    )
    with pytest.raises(ProviderRejected) as refused:
        await sandbox.retrieve_payout(account_id=second, payout_id=payout.id)
    assert refused.value.code == "resource_missing"


async def subscribed(sandbox: SandboxProvider, card: str = "pm_card_visa"):
    customer = await sandbox.create_customer(
        user_id="p1", email=None, name=None, idempotency_key="customer:p1"
    )
    entry = await sandbox.create_price(
        tier="entry", amount=1900, currency="EUR", idempotency_key="price:entry"
    )
    premium = await sandbox.create_price(
        tier="premium", amount=4900, currency="EUR", idempotency_key="price:premium"
    )
    subscription = await sandbox.create_subscription(
        customer_id=customer.id,
        price_id=entry.id,
        idempotency_key="subscription:p1",
        payment_method=card,
        metadata={"practitioner_id": "p1"},
    )
    return subscription, entry, premium


async def test_a_subscription_to_a_tier_is_paid_for_a_month(sandbox, clock, inbox):
    subscription, entry, _ = await subscribed(sandbox)
    assert (entry.tier, entry.amount, entry.interval) == ("entry", 1900, "month")
    assert subscription.status is SubscriptionStatus.ACTIVE
    assert subscription.price_id == entry.id
    assert subscription.current_period_end == clock.now() + timedelta(days=30)
    assert subscription.metadata == {"practitioner_id": "p1"}
    await sandbox.deliver_webhooks()
    assert inbox.types()[-2:] == ["invoice.paid", "customer.subscription.created"]


async def test_a_subscription_whose_first_payment_declines_is_incomplete(sandbox):
    subscription, _, _ = await subscribed(sandbox, card="pm_card_chargeDeclined")
    assert subscription.status is SubscriptionStatus.INCOMPLETE


async def test_an_upgrade_is_invoiced_now_and_a_downgrade_waits(sandbox, clock, inbox):
    subscription, entry, premium = await subscribed(sandbox)
    clock.advance(timedelta(days=15))
    upgraded = await sandbox.change_subscription(
        subscription.id, price_id=premium.id, timing=ChangeTiming.NOW, idempotency_key="up"
    )
    assert upgraded.price_id == premium.id
    await sandbox.deliver_webhooks()
    invoices = [event for event in inbox.events if event.type == "invoice.paid"]
    assert invoices[-1].object["amount_due"] == (4900 - 1900) // 2
    downgraded = await sandbox.change_subscription(
        subscription.id, price_id=entry.id, timing=ChangeTiming.PERIOD_END, idempotency_key="down"
    )
    assert downgraded.price_id == entry.id
    assert downgraded.current_period_end == upgraded.current_period_end
    await sandbox.deliver_webhooks()
    assert len([event for event in inbox.events if event.type == "invoice.paid"]) == len(invoices)


async def test_renewals_go_on_until_the_card_fails_twice(sandbox, clock, inbox):
    subscription, _, _ = await subscribed(sandbox)
    clock.advance(timedelta(days=30))
    assert await sandbox.renew_subscriptions() == 1
    renewed = await sandbox.retrieve_subscription(subscription.id)
    assert renewed.status is SubscriptionStatus.ACTIVE
    assert renewed.current_period_end == subscription.current_period_end + timedelta(days=30)
    assert await sandbox.renew_subscriptions() == 0  # nothing due twice
    await sandbox.update_subscription_payment_method(subscription.id, "pm_card_chargeDeclined")
    clock.advance(timedelta(days=30))
    await sandbox.renew_subscriptions()
    assert (await sandbox.retrieve_subscription(subscription.id)).status is (
        SubscriptionStatus.PAST_DUE
    )
    await sandbox.renew_subscriptions()
    assert (await sandbox.retrieve_subscription(subscription.id)).status is (
        SubscriptionStatus.CANCELED
    )
    await sandbox.deliver_webhooks()
    assert inbox.types().count("invoice.payment_failed") == 2
    assert inbox.types()[-1] == "customer.subscription.deleted"


async def test_a_cancellation_at_period_end_ends_it_at_renewal(sandbox, clock):
    subscription, _, _ = await subscribed(sandbox)
    pending = await sandbox.cancel_subscription(
        subscription.id, at_period_end=True, idempotency_key="cancel"
    )
    assert (pending.status, pending.cancel_at_period_end) == (SubscriptionStatus.ACTIVE, True)
    clock.advance(timedelta(days=30))
    await sandbox.renew_subscriptions()
    assert (await sandbox.retrieve_subscription(subscription.id)).status is (
        SubscriptionStatus.CANCELED
    )


async def test_a_cancellation_now_ends_it_and_it_cannot_change_after(sandbox):
    subscription, entry, _ = await subscribed(sandbox)
    ended = await sandbox.cancel_subscription(
        subscription.id, at_period_end=False, idempotency_key="cancel"
    )
    assert ended.status is SubscriptionStatus.CANCELED
    with pytest.raises(ProviderRejected):
        await sandbox.change_subscription(
            subscription.id, price_id=entry.id, timing=ChangeTiming.NOW, idempotency_key="x"
        )


async def test_webhooks_wait_for_a_route_that_is_down_and_arrive_in_order(sandbox, inbox):
    inbox.refusals = 1
    await paid_intent(sandbox)
    with pytest.raises(ConnectionError):
        await sandbox.deliver_webhooks()
    assert inbox.events == []
    assert await sandbox.deliver_webhooks() == 2
    assert inbox.types() == ["payment_intent.created", "payment_intent.succeeded"]
    assert await sandbox.deliver_webhooks() == 0


async def test_webhooks_are_delivered_in_the_background_once_started(sandbox, inbox):
    sandbox.start(retry_seconds=0.01)
    inbox.refusals = 1
    await paid_intent(sandbox)
    for _ in range(200):
        if len(inbox.events) == 2:
            break
        await asyncio.sleep(0.01)
    assert inbox.types() == ["payment_intent.created", "payment_intent.succeeded"]


async def test_a_webhook_is_signed_at_delivery_with_the_sandboxs_secret(sandbox, clock, inbox):
    await paid_intent(sandbox)
    clock.advance(timedelta(minutes=10))
    await sandbox.deliver_webhooks()
    payload, signature = inbox.sent[-1]
    assert signature.startswith(f"t={int(clock.now().timestamp())},v1=")
    assert sandbox.parse_webhook(payload, signature).type == "payment_intent.succeeded"
    assert json.loads(payload)["api_version"]
    with pytest.raises(WebhookSignatureInvalid):
        sandbox.parse_webhook(payload.replace(b"succeeded", b"canceled"), signature)


async def test_its_state_and_secret_survive_a_restart(tmp_path: Path, clock):
    delivered: list[bytes] = []

    async def keep(payload: bytes, signature: str) -> None:
        delivered.append(payload)

    first = SandboxProvider(tmp_path / "sandbox.db", clock=clock, deliver=keep)
    intent = await paid_intent(first)
    secret = first.webhook_secret
    await first.aclose()

    second = SandboxProvider(tmp_path / "sandbox.db", clock=clock, deliver=keep)
    try:
        assert second.webhook_secret == secret
        assert await second.retrieve_payment_intent(intent.id) == intent
        replayed = await second.confirm_payment_intent(intent.id, idempotency_key="confirm:order-1")
        assert replayed == intent
        # The events made before the restart are still delivered after it.
        assert await second.deliver_webhooks() == 2
    finally:
        await second.aclose()


def test_two_sandboxes_on_one_file_retrying_one_transfer_at_once_move_the_money_once(
    tmp_path: Path,
):
    """Two processes' sandboxes (here two threads, each with its own connection and loop)
    sending the same transfer at the same moment: one transfer, one balance increase."""
    path = tmp_path / "sandbox.db"

    async def prepare() -> str:
        sandbox = SandboxProvider(path)
        try:
            return await onboarded_account(sandbox)
        finally:
            await sandbox.aclose()

    account_id = asyncio.run(prepare())
    start = threading.Barrier(2)
    answers: list[str] = []

    def retry_transfer() -> None:
        async def send() -> None:
            sandbox = SandboxProvider(path)
            try:
                start.wait()
                for _ in range(5):
                    transfer = await sandbox.create_transfer(
                        amount=5000,
                        currency="EUR",
                        destination_account_id=account_id,
                        idempotency_key="transfer:payout-1",
                    )
                    answers.append(transfer.id)
            finally:
                await sandbox.aclose()

        asyncio.run(send())

    threads = [threading.Thread(target=retry_transfer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    async def check() -> None:
        sandbox = SandboxProvider(path)
        try:
            await sandbox.create_payout(
                account_id=account_id, amount=5000, currency="EUR", idempotency_key="payout"
            )
            with pytest.raises(ProviderRejected):
                await sandbox.create_payout(
                    account_id=account_id, amount=1, currency="EUR", idempotency_key="payout:2"
                )
        finally:
            await sandbox.aclose()

    assert len(answers) == 10
    assert len(set(answers)) == 1
    asyncio.run(check())


async def test_bad_prices_transfers_payouts_and_refunds_are_refused_naming_the_field(sandbox):
    account_id = await onboarded_account(sandbox)
    intent = await paid_intent(sandbox)
    attempts = {
        "unit_amount": sandbox.create_price(
            tier="entry", amount=-1, currency="EUR", idempotency_key="a"
        ),
        "recurring[interval]": sandbox.create_price(
            tier="entry", amount=1900, currency="EUR", idempotency_key="b", interval="fortnight"
        ),
        "amount": sandbox.create_transfer(
            amount=0, currency="EUR", destination_account_id=account_id, idempotency_key="c"
        ),
        "currency": sandbox.create_payout(
            account_id=account_id, amount=100, currency="XYZ", idempotency_key="d"
        ),
        "destination": sandbox.create_transfer(
            amount=100, currency="EUR", destination_account_id="acct_nobody", idempotency_key="e"
        ),
        "payment_intent": sandbox.create_refund(payment_intent_id="pi_nobody", idempotency_key="f"),
    }
    for field, attempt in attempts.items():
        with pytest.raises(ProviderRejected) as refused:
            await attempt
        assert refused.value.param == field, field
    with pytest.raises(ProviderRejected) as zero:
        await sandbox.create_refund(payment_intent_id=intent.id, amount=0, idempotency_key="g")
    assert zero.value.param == "amount"
    # Nothing moved: the whole payment is still refundable.
    whole = await sandbox.create_refund(payment_intent_id=intent.id, idempotency_key="h")
    assert whole.amount == intent.amount
