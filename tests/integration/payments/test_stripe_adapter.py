"""The Stripe adapter against servers speaking Stripe's HTTP API, and the sandbox beside it:
the same behaviour asked of both, so the embedded mode answers as Stripe does.

Payments (customers, intents, declines, 3-D Secure, cancels, refunds) and webhooks run on
localstripe, a real local Stripe server; Connect, prices, subscriptions and idempotent
replays, which localstripe lacks, on the fake in tests/fakes/stripe_api.py. Both are started
by fixtures here (no server of ours is needed), and the adapter reaches them through its
configurable API base.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from services.payments.provider.port import (
    AccountLink,
    ChangeTiming,
    IdempotencyConflict,
    PaymentIntent,
    PaymentProvider,
    PaymentStatus,
    PayoutStatus,
    ProviderRejected,
    ProviderUnavailable,
    SubscriptionStatus,
    WebhookSignatureInvalid,
    idempotency_key,
)
from services.payments.provider.sandbox import SandboxProvider
from services.payments.provider.stripe import StripeProvider
from tests.fakes.stripe_api import FakeStripe, free_port

WEBHOOK_SECRET = "whsec_adapter_tests"

# stripe's HTTPXClient hands httpx its form body as data=bytes, which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def stripe_at(base: str) -> StripeProvider:
    return StripeProvider(
        secret_key="sk_test_estuary", webhook_secrets=[WEBHOOK_SECRET], api_base=base
    )


@dataclass
class Backend:
    """A provider and what a client or practitioner does outside our API on it."""

    name: str
    provider: PaymentProvider
    three_d_secure_card: Callable[[], Awaitable[str]]
    authenticate: Callable[[PaymentIntent], Awaitable[None]]
    onboard: Callable[[AccountLink], Awaitable[None]]


def key(operation: str) -> str:
    """An idempotency key of this test's own (the servers live for the whole session)."""
    return idempotency_key(operation, uuid.uuid4().hex)


def sandbox_backend(tmp_path: Path) -> Backend:
    sandbox = SandboxProvider(tmp_path / "sandbox.db", webhook_secret=WEBHOOK_SECRET)

    async def card() -> str:
        return "4000002500003155"

    async def authenticate(intent: PaymentIntent) -> None:
        await sandbox.authenticate(intent.id)

    async def onboard(link: AccountLink) -> None:
        await sandbox.complete_onboarding(link.url)

    return Backend("sandbox", sandbox, card, authenticate, onboard)


def localstripe_backend(base: str) -> Backend:
    async def card() -> str:
        # localstripe knows this card only as a payment method made from its number.
        async with httpx.AsyncClient(base_url=base, auth=("sk_test_estuary", "")) as client:
            made = await client.post(
                "/v1/payment_methods",
                data={
                    "type": "card",
                    "card[number]": "4000002500003155",
                    "card[exp_month]": "12",
                    "card[exp_year]": "2030",
                    "card[cvc]": "123",
                },
            )
            made.raise_for_status()
            return str(made.json()["id"])

    async def authenticate(intent: PaymentIntent) -> None:
        # What Stripe.js does on the 3-D Secure page, in localstripe's words.
        async with httpx.AsyncClient(base_url=base, auth=("sk_test_estuary", "")) as client:
            answer = await client.post(
                f"/v1/payment_intents/{intent.id}/_authenticate",
                data={"client_secret": intent.client_secret, "success": "true"},
            )
            answer.raise_for_status()

    async def onboard(link: AccountLink) -> None:
        raise AssertionError("localstripe has no Connect")

    return Backend("localstripe", stripe_at(base), card, authenticate, onboard)


def fake_backend(fake: FakeStripe) -> Backend:
    async def card() -> str:
        raise AssertionError("the fake takes no payments: localstripe does")

    async def authenticate(intent: PaymentIntent) -> None:
        raise AssertionError("the fake takes no payments: localstripe does")

    async def onboard(link: AccountLink) -> None:
        # Stripe's hosted onboarding, which sends the practitioner back to return_url.
        async with httpx.AsyncClient() as client:
            finished = await client.get(link.url)
            assert finished.status_code == 302

    return Backend("fake", stripe_at(fake.base_url), card, authenticate, onboard)


@pytest.fixture(params=["sandbox", "localstripe"])
async def payments_backend(request, tmp_path: Path) -> AsyncIterator[Backend]:
    """Where payment intents, refunds and customers are tried: the sandbox and localstripe."""
    if request.param == "sandbox":
        backend = sandbox_backend(tmp_path)
    else:
        backend = localstripe_backend(request.getfixturevalue("localstripe_base"))
    yield backend
    await backend.provider.aclose()


@pytest.fixture(params=["sandbox", "fake"])
async def connect_backend(request, tmp_path: Path) -> AsyncIterator[Backend]:
    """Where Connect, prices, subscriptions and replays are tried: the sandbox and the fake."""
    if request.param == "sandbox":
        backend = sandbox_backend(tmp_path)
    else:
        backend = fake_backend(request.getfixturevalue("fake_stripe"))
    yield backend
    await backend.provider.aclose()


async def new_intent(provider: PaymentProvider, card: str, amount: int = 2500) -> PaymentIntent:
    order = uuid.uuid4().hex
    return await provider.create_payment_intent(
        amount=amount,
        currency="EUR",
        order_id=order,
        idempotency_key=idempotency_key("checkout", order),
        payment_method=card,
    )


# Payments, on the sandbox and localstripe alike


async def test_a_customer_is_made_for_a_user(payments_backend: Backend):
    customer = await payments_backend.provider.create_customer(
        user_id="user-1", email="ann@example.com", name="Ann", idempotency_key=key("customer")
    )
    assert customer.id.startswith("cus_")
    assert (customer.user_id, customer.email, customer.name) == ("user-1", "ann@example.com", "Ann")


async def test_a_good_card_pays_the_order(payments_backend: Backend):
    provider = payments_backend.provider
    intent = await new_intent(provider, "pm_card_visa")
    assert intent.status is PaymentStatus.REQUIRES_CONFIRMATION
    assert (intent.amount, intent.currency) == (2500, "EUR")
    assert intent.client_secret.startswith(intent.id)
    paid = await provider.confirm_payment_intent(intent.id, idempotency_key=key("pay"))
    assert paid.status is PaymentStatus.SUCCEEDED
    fetched = await provider.retrieve_payment_intent(intent.id)
    assert (fetched.status, fetched.order_id) == (PaymentStatus.SUCCEEDED, intent.order_id)


async def test_a_declined_card_is_an_answer_not_an_error(payments_backend: Backend):
    provider = payments_backend.provider
    intent = await new_intent(provider, "pm_card_chargeCustomerFail")
    declined = await provider.confirm_payment_intent(intent.id, idempotency_key=key("pay"))
    assert (declined.status, declined.failure_code) == (
        PaymentStatus.REQUIRES_PAYMENT_METHOD,
        "card_declined",
    )
    assert declined.failure_message


async def test_a_3d_secure_card_waits_for_the_client_then_pays(payments_backend: Backend):
    provider = payments_backend.provider
    intent = await new_intent(provider, await payments_backend.three_d_secure_card())
    waiting = await provider.confirm_payment_intent(intent.id, idempotency_key=key("pay"))
    assert waiting.status is PaymentStatus.REQUIRES_ACTION
    await payments_backend.authenticate(waiting)
    assert (await provider.retrieve_payment_intent(intent.id)).status is PaymentStatus.SUCCEEDED


async def test_an_unpaid_intent_is_canceled_and_a_paid_one_is_not(payments_backend: Backend):
    provider = payments_backend.provider
    intent = await new_intent(provider, "pm_card_visa")
    canceled = await provider.cancel_payment_intent(intent.id, idempotency_key=key("cancel"))
    assert canceled.status is PaymentStatus.CANCELED
    paid = await new_intent(provider, "pm_card_visa")
    await provider.confirm_payment_intent(paid.id, idempotency_key=key("pay"))
    with pytest.raises(ProviderRejected):
        await provider.cancel_payment_intent(paid.id, idempotency_key=key("cancel"))


async def test_a_paid_order_is_refunded_in_part_then_in_full(payments_backend: Backend):
    provider = payments_backend.provider
    intent = await new_intent(provider, "pm_card_visa", amount=5000)
    await provider.confirm_payment_intent(intent.id, idempotency_key=key("pay"))
    half = await provider.create_refund(
        payment_intent_id=intent.id,
        amount=2500,
        idempotency_key=key("refund"),
        metadata={"refund_id": "r1"},
    )
    assert (half.payment_intent_id, half.amount, half.currency, half.status.value) == (
        intent.id,
        2500,
        "EUR",
        "succeeded",
    )
    assert half.metadata == {"refund_id": "r1"}
    assert (await provider.retrieve_refund(half.id)).amount == 2500


async def test_an_intents_refunds_are_listed_with_their_metadata(payments_backend: Backend):
    provider = payments_backend.provider
    intent = await new_intent(provider, "pm_card_visa", amount=5000)
    await provider.confirm_payment_intent(intent.id, idempotency_key=key("pay"))
    assert await provider.refunds_of(intent.id) == []
    first = await provider.create_refund(
        payment_intent_id=intent.id,
        amount=1000,
        idempotency_key=key("refund"),
        metadata={"booking_id": "b1"},
    )
    second = await provider.create_refund(
        payment_intent_id=intent.id, amount=500, idempotency_key=key("refund")
    )
    listed = {refund.id: refund for refund in await provider.refunds_of(intent.id)}
    assert listed.keys() == {first.id, second.id}
    assert listed[first.id].metadata == {"booking_id": "b1"}
    other = await new_intent(provider, "pm_card_visa", amount=5000)
    await provider.confirm_payment_intent(other.id, idempotency_key=key("pay"))
    assert await provider.refunds_of(other.id) == []


async def test_a_declined_payment_cannot_be_refunded(payments_backend: Backend):
    provider = payments_backend.provider
    intent = await new_intent(provider, "pm_card_chargeCustomerFail")
    await provider.confirm_payment_intent(intent.id, idempotency_key=key("pay"))
    with pytest.raises(ProviderRejected):
        await provider.create_refund(payment_intent_id=intent.id, idempotency_key=key("refund"))


async def test_an_unknown_intent_is_not_found(payments_backend: Backend):
    with pytest.raises(ProviderRejected) as refused:
        await payments_backend.provider.retrieve_payment_intent("pi_unheard_of")
    assert refused.value.code in ("resource_missing", None)  # localstripe sends no code


# Connect, prices, subscriptions and replays, on the sandbox and the fake alike


async def onboarded(backend: Backend) -> str:
    provider = backend.provider
    account = await provider.create_connected_account(
        practitioner_id="p1", email="p@example.com", country="DE", idempotency_key=key("account")
    )
    assert (account.practitioner_id, account.payouts_enabled) == ("p1", False)
    link = await provider.create_account_link(
        account_id=account.id,
        refresh_url="https://app.example/refresh",
        return_url="https://app.example/done",
        idempotency_key=key("link"),
    )
    assert link.url.startswith("http")
    await backend.onboard(link)
    assert (await provider.retrieve_connected_account(account.id)).payouts_enabled
    return account.id


async def test_an_onboarded_account_is_paid_by_transfer_then_payout(connect_backend: Backend):
    provider = connect_backend.provider
    account_id = await onboarded(connect_backend)
    transfer = await provider.create_transfer(
        amount=5000,
        currency="EUR",
        destination_account_id=account_id,
        idempotency_key=key("transfer"),
        transfer_group="payout-1",
        metadata={"payout_id": "payout-1"},
    )
    assert (transfer.amount, transfer.currency, transfer.destination_account_id) == (
        5000,
        "EUR",
        account_id,
    )
    assert transfer.metadata == {"payout_id": "payout-1"}
    payout = await provider.create_payout(
        account_id=account_id, amount=5000, currency="EUR", idempotency_key=key("payout")
    )
    assert (payout.account_id, payout.amount, payout.status) == (
        account_id,
        5000,
        PayoutStatus.PENDING,
    )
    fetched = await provider.retrieve_payout(account_id=account_id, payout_id=payout.id)
    assert fetched.id == payout.id
    with pytest.raises(ProviderRejected) as refused:
        await provider.create_payout(
            account_id=account_id, amount=1, currency="EUR", idempotency_key=key("payout")
        )
    assert refused.value.code == "balance_insufficient"


async def test_no_transfer_before_onboarding(connect_backend: Backend):
    provider = connect_backend.provider
    account = await provider.create_connected_account(
        practitioner_id="p2", email=None, country="DE", idempotency_key=key("account")
    )
    with pytest.raises(ProviderRejected) as refused:
        await provider.create_transfer(
            amount=5000,
            currency="EUR",
            destination_account_id=account.id,
            idempotency_key=key("transfer"),
        )
    assert refused.value.code == "insufficient_capabilities_for_transfer"


async def test_a_transfer_is_found_by_its_group_and_only_its_own(connect_backend: Backend):
    provider = connect_backend.provider
    account_id = await onboarded(connect_backend)
    group, other = f"payouts/{uuid.uuid4().hex}", f"payouts/{uuid.uuid4().hex}"
    assert await provider.find_transfer(transfer_group=group) is None
    made = await provider.create_transfer(
        amount=5000,
        currency="EUR",
        destination_account_id=account_id,
        idempotency_key=key("transfer"),
        transfer_group=group,
    )
    await provider.create_transfer(
        amount=700,
        currency="EUR",
        destination_account_id=account_id,
        idempotency_key=key("transfer"),
        transfer_group=other,
    )
    assert await provider.find_transfer(transfer_group=group) == made


async def test_a_retried_transfer_moves_money_once(connect_backend: Backend):
    provider = connect_backend.provider
    account_id = await onboarded(connect_backend)
    same = key("transfer")
    first = await provider.create_transfer(
        amount=5000, currency="EUR", destination_account_id=account_id, idempotency_key=same
    )
    again = await provider.create_transfer(
        amount=5000, currency="EUR", destination_account_id=account_id, idempotency_key=same
    )
    assert again == first
    with pytest.raises(IdempotencyConflict):
        await provider.create_transfer(
            amount=9000, currency="EUR", destination_account_id=account_id, idempotency_key=same
        )
    await provider.create_payout(
        account_id=account_id, amount=5000, currency="EUR", idempotency_key=key("payout")
    )
    with pytest.raises(ProviderRejected) as refused:
        await provider.create_payout(
            account_id=account_id, amount=5000, currency="EUR", idempotency_key=key("payout")
        )
    assert refused.value.code == "balance_insufficient"


async def test_a_reversal_takes_a_transfer_back_once(connect_backend: Backend):
    provider = connect_backend.provider
    account_id = await onboarded(connect_backend)
    transfer = await provider.create_transfer(
        amount=5000, currency="EUR", destination_account_id=account_id, idempotency_key=key("t")
    )
    same = key("reversal")
    reversal = await provider.create_transfer_reversal(transfer.id, idempotency_key=same)
    assert (reversal.transfer_id, reversal.amount, reversal.currency) == (transfer.id, 5000, "EUR")
    assert await provider.create_transfer_reversal(transfer.id, idempotency_key=same) == reversal
    # The money left the connected account: nothing there to pay out, nothing left to reverse.
    with pytest.raises(ProviderRejected) as refused:
        await provider.create_payout(
            account_id=account_id, amount=1, currency="EUR", idempotency_key=key("payout")
        )
    assert refused.value.code == "balance_insufficient"
    with pytest.raises(ProviderRejected) as refused:
        await provider.create_transfer_reversal(
            transfer.id, idempotency_key=key("reversal"), amount=1
        )
    assert refused.value.param == "amount"


async def test_a_reversal_in_part_leaves_the_rest(connect_backend: Backend):
    provider = connect_backend.provider
    account_id = await onboarded(connect_backend)
    transfer = await provider.create_transfer(
        amount=5000, currency="EUR", destination_account_id=account_id, idempotency_key=key("t")
    )
    same = key("reversal")
    part = await provider.create_transfer_reversal(transfer.id, idempotency_key=same, amount=2000)
    assert part.amount == 2000
    with pytest.raises(IdempotencyConflict):
        await provider.create_transfer_reversal(transfer.id, idempotency_key=same, amount=1000)
    # What was not reversed is still the account's to pay out, and no more.
    await provider.create_payout(
        account_id=account_id, amount=3000, currency="EUR", idempotency_key=key("payout")
    )
    with pytest.raises(ProviderRejected) as refused:
        await provider.create_payout(
            account_id=account_id, amount=1, currency="EUR", idempotency_key=key("payout")
        )
    assert refused.value.code == "balance_insufficient"


async def test_a_retried_payout_pays_once(connect_backend: Backend):
    provider = connect_backend.provider
    account_id = await onboarded(connect_backend)
    await provider.create_transfer(
        amount=8000, currency="EUR", destination_account_id=account_id, idempotency_key=key("t")
    )
    same = key("payout")
    first = await provider.create_payout(
        account_id=account_id, amount=5000, currency="EUR", idempotency_key=same
    )
    again = await provider.create_payout(
        account_id=account_id, amount=5000, currency="EUR", idempotency_key=same
    )
    assert again.id == first.id
    # 3000 left, not -2000: the replay paid nothing.
    with pytest.raises(ProviderRejected):
        await provider.create_payout(
            account_id=account_id, amount=3001, currency="EUR", idempotency_key=key("payout")
        )


async def test_a_tier_subscription_upgrades_downgrades_and_cancels(connect_backend: Backend):
    provider = connect_backend.provider
    customer = await provider.create_customer(
        user_id="p1", email=None, name=None, idempotency_key=key("customer")
    )
    entry = await provider.create_price(
        tier="entry", amount=1900, currency="EUR", idempotency_key=key("price")
    )
    premium = await provider.create_price(
        tier="premium", amount=4900, currency="EUR", idempotency_key=key("price")
    )
    assert (entry.tier, entry.amount, entry.currency, entry.interval) == (
        "entry",
        1900,
        "EUR",
        "month",
    )
    subscription = await provider.create_subscription(
        customer_id=customer.id,
        price_id=entry.id,
        idempotency_key=key("subscription"),
        payment_method="pm_card_visa",
        metadata={"practitioner_id": "p1"},
    )
    assert (subscription.status, subscription.price_id, subscription.customer_id) == (
        SubscriptionStatus.ACTIVE,
        entry.id,
        customer.id,
    )
    assert subscription.current_period_end is not None
    upgraded = await provider.change_subscription(
        subscription.id, price_id=premium.id, timing=ChangeTiming.NOW, idempotency_key=key("up")
    )
    assert upgraded.price_id == premium.id
    downgraded = await provider.change_subscription(
        subscription.id,
        price_id=entry.id,
        timing=ChangeTiming.PERIOD_END,
        idempotency_key=key("down"),
    )
    assert downgraded.price_id == entry.id
    assert downgraded.current_period_end == subscription.current_period_end
    ending = await provider.cancel_subscription(
        subscription.id, at_period_end=True, idempotency_key=key("cancel")
    )
    assert (ending.status, ending.cancel_at_period_end) == (SubscriptionStatus.ACTIVE, True)
    ended = await provider.cancel_subscription(
        subscription.id, at_period_end=False, idempotency_key=key("cancel")
    )
    assert ended.status is SubscriptionStatus.CANCELED
    assert (await provider.retrieve_subscription(subscription.id)).status is (
        SubscriptionStatus.CANCELED
    )


async def test_a_stream_tier_subscription_keeps_its_tier_and_metadata(connect_backend: Backend):
    provider = connect_backend.provider
    customer = await provider.create_customer(
        user_id="r1", email=None, name=None, idempotency_key=key("customer")
    )
    tier = "streams/0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a22/tiers/2"
    price = await provider.create_price(
        tier=tier, amount=1200, currency="EUR", idempotency_key=key("price")
    )
    assert (price.tier, price.amount) == (tier, 1200)
    ours = {"stream_subscription_id": "s1", "user_id": "r1"}
    made = await provider.create_subscription(
        customer_id=customer.id,
        price_id=price.id,
        idempotency_key=key("subscription"),
        payment_method="pm_card_visa",
        metadata=ours,
    )
    # The webhooks' subscription is read back by its id: it must still name ours.
    found = await provider.retrieve_subscription(made.id)
    assert (found.status, found.price_id, found.metadata) == (
        SubscriptionStatus.ACTIVE,
        price.id,
        ours,
    )


async def test_a_subscription_to_an_unknown_price_is_refused(connect_backend: Backend):
    provider = connect_backend.provider
    customer = await provider.create_customer(
        user_id="p1", email=None, name=None, idempotency_key=key("customer")
    )
    with pytest.raises(ProviderRejected) as refused:
        await provider.create_subscription(
            customer_id=customer.id, price_id="price_unheard_of", idempotency_key=key("sub")
        )
    assert refused.value.code == "resource_missing"


# What only the wire shows


async def test_every_write_carries_its_idempotency_key_and_payouts_their_account(
    fake_stripe: FakeStripe,
):
    provider = stripe_at(fake_stripe.base_url)
    seen = len(fake_stripe.state.requests)
    try:
        account_id = await onboarded(fake_backend(fake_stripe))
        await provider.create_transfer(
            amount=5000,
            currency="EUR",
            destination_account_id=account_id,
            idempotency_key=idempotency_key("transfer", "payout-9"),
        )
        await provider.create_payout(
            account_id=account_id,
            amount=5000,
            currency="EUR",
            idempotency_key=idempotency_key("payout", "payout-9"),
        )
    finally:
        await provider.aclose()
    requests = fake_stripe.state.requests[seen:]
    assert fake_stripe.writes_without_idempotency_key() == []
    by_path = {request.path: request for request in requests if request.method == "POST"}
    assert by_path["/v1/transfers"].idempotency_key == "estuary:transfer:payout-9"
    assert by_path["/v1/transfers"].stripe_account is None
    assert by_path["/v1/payouts"].idempotency_key == "estuary:payout:payout-9"
    assert by_path["/v1/payouts"].stripe_account == account_id
    # Our payouts alone move the account's balance to its bank: Stripe's schedule is off.
    schedule = by_path["/v1/accounts"].params["settings"]["payouts"]["schedule"]
    assert schedule == {"interval": "manual"}


async def test_a_provider_out_of_reach_is_unavailable_not_rejected():
    provider = stripe_at(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(ProviderUnavailable):
            await provider.retrieve_payment_intent("pi_1")
    finally:
        await provider.aclose()


async def test_localstripes_signed_webhooks_are_read_and_forged_ones_refused(
    localstripe_base: str,
):
    """localstripe signs its events as Stripe does; the adapter reads them with our secret
    and refuses them under any other."""
    received: list[tuple[bytes, str]] = []

    async def webhook_route(request: web.Request) -> web.Response:
        received.append((await request.read(), request.headers["Stripe-Signature"]))
        return web.Response()

    app = web.Application()
    app.router.add_post("/webhooks/stripe", webhook_route)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    provider = stripe_at(localstripe_base)
    endpoint = uuid.uuid4().hex
    try:
        async with httpx.AsyncClient(base_url=localstripe_base) as client:
            registered = await client.post(
                f"/_config/webhooks/{endpoint}",
                data={
                    "url": f"http://127.0.0.1:{port}/webhooks/stripe",
                    "secret": WEBHOOK_SECRET,
                    "events[]": "payment_intent.succeeded",
                },
            )
            registered.raise_for_status()
        intent = await new_intent(provider, "pm_card_visa")
        await provider.confirm_payment_intent(intent.id, idempotency_key=key("pay"))
        ours = []
        for _ in range(100):  # localstripe waits a second before it sends
            events = [provider.parse_webhook(body, header) for body, header in received]
            ours = [event for event in events if event.object_id == intent.id]
            if ours:
                break
            await asyncio.sleep(0.1)
        assert [event.type for event in ours] == ["payment_intent.succeeded"]
        assert ours[0].object["metadata"]["order_id"] == intent.order_id
        body, header = next(
            (body, header) for body, header in received if intent.id in body.decode()
        )
        forged = json.dumps({**json.loads(body), "type": "payment_intent.canceled"}).encode()
        with pytest.raises(WebhookSignatureInvalid):
            provider.parse_webhook(forged, header)
        elsewhere = StripeProvider(
            secret_key="sk_test_estuary", webhook_secrets=["whsec_other"], api_base=None
        )
        with pytest.raises(WebhookSignatureInvalid):
            elsewhere.parse_webhook(body, header)
        await elsewhere.aclose()
    finally:
        async with httpx.AsyncClient(base_url=localstripe_base) as client:
            # localstripe cannot forget an endpoint: point it where nothing listens.
            await client.post(
                f"/_config/webhooks/{endpoint}",
                data={"url": f"http://127.0.0.1:{free_port()}/", "secret": WEBHOOK_SECRET},
            )
        await provider.aclose()
        await runner.cleanup()
