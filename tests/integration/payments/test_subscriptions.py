"""Practitioners' platform subscriptions on the sandbox, on both databases: the tier held once
the first month is paid (subscription.tier_changed, the commission of later bookings), an
upgrade held at once, a downgrade and a cancellation only from the next period, a renewal
failing twice back to Free, a refused first payment granting nothing, one live subscription
per practitioner under concurrency, retries and crashes that make nothing twice, webhooks
that find the subscription before the request recorded it, and each paid invoice the
platform's revenue once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.auth.principal import Principal, Role
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from chassis.ids import new_id
from estuary.payments.v1 import events_pb2
from services.payments.domain.earnings import Tier
from services.payments.domain.ledger import PLATFORM, Account, AccountKind
from services.payments.domain.subscriptions import PlatformSubscription, SubscriptionStatus
from services.payments.events import EARNING_RECORDED, SUBSCRIPTION_TIER_CHANGED
from services.payments.provider.port import idempotency_key
from tests.builders import person
from tests.integration.payments.world import World, world
from tests.races import race

VISA, DECLINED = "pm_card_visa", "pm_card_chargeDeclined"
MONTH = timedelta(days=31)
FREE, ENTRY, PREMIUM = (
    events_pb2.PLATFORM_TIER_FREE,
    events_pb2.PLATFORM_TIER_ENTRY,
    events_pb2.PLATFORM_TIER_PREMIUM,
)


def practitioner(w: World) -> Principal:
    return person(w.practitioner_user_id, Role.PRACTITIONER)


async def subscribe(w: World, tier: str = "entry", card: str = VISA) -> PlatformSubscription:
    return await w.treasury.subscribe(practitioner(w), tier, card, new_id())


async def held(w: World) -> Tier:
    """The tier payments holds for the practitioner now (what commissions are taken at)."""
    async with w.uow(write=False) as uow:
        return await uow.tiers.tier_at(w.practitioner_user_id, w.clock.now())


async def changes(w: World) -> list[tuple[int, int]]:
    """Each subscription.tier_changed emitted: (previous tier, tier)."""
    return [(c.previous_tier, c.tier) for c in await w.events(SUBSCRIPTION_TIER_CHANGED)]


async def revenue(w: World) -> int:
    """The platform's revenue in USD; the ledger's invariants checked."""
    async with w.uow(write=False) as uow:
        assert await uow.audit.violations() == []
        return await uow.ledger.balance(Account(PLATFORM, AccountKind.PLATFORM_REVENUE, "USD"))


async def next_period(w: World) -> None:
    """A month passes: the sandbox bills what is due and its webhooks are applied."""
    w.clock.advance(MONTH)
    await w.sandbox.renew_subscriptions()
    await w.apply_webhooks()


async def test_the_tier_is_held_once_the_first_month_is_paid_and_said_once(empty_database_url):
    async with world(empty_database_url) as w:
        made = await subscribe(w, "entry")
        assert (made.status, made.tier, made.granted_tier) == (
            SubscriptionStatus.ACTIVE,
            Tier.ENTRY,
            Tier.ENTRY,
        )
        assert made.current_period_end == w.clock.now() + timedelta(days=30)
        assert await held(w) is Tier.ENTRY
        assert await changes(w) == [(FREE, ENTRY)]
        [change] = await w.events(SUBSCRIPTION_TIER_CHANGED)
        assert change.user_id == w.practitioner_user_id
        assert change.effective_time.ToDatetime().replace(tzinfo=w.clock.now().tzinfo) == (
            w.clock.now()
        )
        # The webhooks of what happened (created, invoice paid) move nothing again, and the
        # first month (29.00 USD by default) is the platform's revenue once, however often
        # its invoice.paid comes.
        sent = await w.sent_webhooks()
        assert {p[0].count(b'"invoice.paid"') for p in sent} >= {1}
        for payload, signature in sent + sent:
            await w.treasury.receive_stripe_event(payload, signature)
        assert await changes(w) == [(FREE, ENTRY)]
        assert await revenue(w) == 2_900
        assert (await w.treasury.platform_subscription(practitioner(w))).id == made.id


async def test_later_bookings_pay_the_commission_of_the_tier_held(empty_database_url):
    async with world(empty_database_url) as w:
        await subscribe(w, "premium")
        await w.deliver(w.delivery(w.completion(10_000, completed_at=w.clock.now())))
        [earning] = await w.events(EARNING_RECORDED)
        assert (earning.commission_rate_bps, earning.commission.amount_minor) == (1_000, 1_000)
        assert earning.tier == PREMIUM


async def test_a_refused_first_payment_grants_nothing_and_a_new_card_may_be_tried(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        with pytest.raises(FailedPrecondition) as refused:
            await subscribe(w, "entry", DECLINED)
        assert refused.value.reason == "PAYMENT_DECLINED"
        failed = await w.treasury.platform_subscription(practitioner(w))
        assert (failed.status, failed.granted_tier) == (SubscriptionStatus.FAILED, Tier.FREE)
        await w.apply_webhooks()
        assert await held(w) is Tier.FREE
        assert await changes(w) == []
        assert await revenue(w) == 0
        # The declined subscription was ended at the provider: it is never billed again.
        w.clock.advance(MONTH)
        await w.sandbox.renew_subscriptions()
        assert await revenue(w) == 0
        again = await subscribe(w, "entry", VISA)
        assert again.id != failed.id and again.status is SubscriptionStatus.ACTIVE
        assert await held(w) is Tier.ENTRY


async def test_an_upgrade_is_held_at_once_and_a_downgrade_from_the_next_period(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        await subscribe(w, "entry")
        w.clock.advance(timedelta(days=15))
        upgraded = await w.treasury.change_platform_tier(practitioner(w), "premium")
        assert (upgraded.tier, upgraded.granted_tier) == (Tier.PREMIUM, Tier.PREMIUM)
        assert await held(w) is Tier.PREMIUM
        await w.apply_webhooks()
        # The rest of the period at the difference: (79 - 29) for 15 of 30 days.
        assert await revenue(w) == 2_900 + 2_500
        downgraded = await w.treasury.change_platform_tier(practitioner(w), "entry")
        assert (downgraded.tier, downgraded.next_tier) == (Tier.PREMIUM, Tier.ENTRY)
        await w.apply_webhooks()
        assert await held(w) is Tier.PREMIUM  # the paid period is kept
        assert await changes(w) == [(FREE, ENTRY), (ENTRY, PREMIUM)]
        await next_period(w)
        now = await w.treasury.platform_subscription(practitioner(w))
        assert (now.tier, now.next_tier, now.status) == (
            Tier.ENTRY,
            None,
            SubscriptionStatus.ACTIVE,
        )
        assert await held(w) is Tier.ENTRY
        assert await changes(w) == [(FREE, ENTRY), (ENTRY, PREMIUM), (PREMIUM, ENTRY)]
        assert await revenue(w) == 2_900 + 2_500 + 2_900  # the renewal at entry's price


async def test_asking_for_the_tier_held_undoes_a_downgrade(empty_database_url):
    async with world(empty_database_url) as w:
        await subscribe(w, "premium")
        await w.treasury.change_platform_tier(practitioner(w), "entry")
        kept = await w.treasury.change_platform_tier(practitioner(w), "premium")
        assert (kept.tier, kept.next_tier) == (Tier.PREMIUM, None)
        await next_period(w)
        assert await held(w) is Tier.PREMIUM
        assert await revenue(w) == 7_900 * 2


async def test_a_cancelled_subscription_keeps_its_tier_until_the_period_ends(empty_database_url):
    async with world(empty_database_url) as w:
        await subscribe(w, "entry")
        cancelled = await w.treasury.cancel_platform_subscription(practitioner(w))
        assert cancelled.cancel_at_period_end and cancelled.granted_tier is Tier.ENTRY
        assert (await w.treasury.cancel_platform_subscription(practitioner(w))).id == cancelled.id
        with pytest.raises(FailedPrecondition) as ending:
            await w.treasury.change_platform_tier(practitioner(w), "premium")
        assert ending.value.reason == "SUBSCRIPTION_ENDING"
        await w.apply_webhooks()
        assert await held(w) is Tier.ENTRY
        await next_period(w)
        ended = await w.treasury.platform_subscription(practitioner(w))
        assert (ended.status, ended.granted_tier) == (SubscriptionStatus.ENDED, Tier.FREE)
        assert await held(w) is Tier.FREE
        assert await changes(w) == [(FREE, ENTRY), (ENTRY, FREE)]
        assert await revenue(w) == 2_900  # nothing billed after the end
        assert (await subscribe(w, "premium")).granted_tier is Tier.PREMIUM


async def test_moving_to_free_cancels_at_the_period_end(empty_database_url):
    async with world(empty_database_url) as w:
        await subscribe(w, "premium")
        to_free = await w.treasury.change_platform_tier(practitioner(w), "free")
        assert to_free.cancel_at_period_end and to_free.granted_tier is Tier.PREMIUM


async def test_a_renewal_refused_twice_falls_back_to_free(empty_database_url):
    async with world(empty_database_url) as w:
        made = await subscribe(w, "entry")
        await w.sandbox.update_subscription_payment_method(made.provider_subscription_id, DECLINED)
        await next_period(w)
        late = await w.treasury.platform_subscription(practitioner(w))
        assert (late.status, late.granted_tier) == (SubscriptionStatus.PAST_DUE, Tier.ENTRY)
        assert await held(w) is Tier.ENTRY  # kept while the renewal is retried
        await w.sandbox.renew_subscriptions()
        await w.apply_webhooks()
        lapsed = await w.treasury.platform_subscription(practitioner(w))
        assert (lapsed.status, lapsed.granted_tier) == (SubscriptionStatus.ENDED, Tier.FREE)
        assert await held(w) is Tier.FREE
        assert await changes(w) == [(FREE, ENTRY), (ENTRY, FREE)]
        assert await revenue(w) == 2_900


async def test_one_live_subscription_per_practitioner(empty_database_url):
    async with world(empty_database_url) as w:
        await subscribe(w, "entry")
        with pytest.raises(FailedPrecondition) as exists:
            await subscribe(w, "premium")
        assert exists.value.reason == "SUBSCRIPTION_EXISTS"
        assert await w.sandbox.count("subscription") == 1


async def test_ten_concurrent_subscriptions_make_one_and_charge_once(empty_database_url):
    async with world(empty_database_url) as w:
        outcome = await race([lambda: subscribe(w, "entry")] * 10)
        assert outcome.wins, outcome.outcomes
        # A request that finds another's subscription still being made sends it again
        # under its keys (the same one); the rest are refused.
        assert {made.id for made in outcome.wins} == {outcome.wins[0].id}
        assert all(
            isinstance(e, FailedPrecondition) and e.reason == "SUBSCRIPTION_EXISTS"
            for e in outcome.losses
        ), outcome.losses
        assert await w.sandbox.count("subscription") == 1
        await w.apply_webhooks()
        assert await changes(w) == [(FREE, ENTRY)]
        assert await revenue(w) == 2_900


async def test_the_same_request_id_answers_the_first_subscription(empty_database_url):
    async with world(empty_database_url) as w:
        key = new_id()
        first = await w.treasury.subscribe(practitioner(w), "entry", VISA, key)
        again = await w.treasury.subscribe(practitioner(w), "entry", VISA, key)
        assert again.id == first.id
        assert await w.sandbox.count("subscription") == 1
        with pytest.raises(InvalidArgument):
            await w.treasury.subscribe(practitioner(w), "premium", VISA, key)


async def test_a_crash_before_the_provider_heard_is_sent_again_once(
    empty_database_url, monkeypatch
):
    async with world(empty_database_url) as w:

        async def crash(subscription: PlatformSubscription) -> PlatformSubscription:
            return subscription  # the process died before the provider was asked

        with monkeypatch.context() as patched:
            patched.setattr(w.treasury, "_start", crash)
            pending = await subscribe(w, "entry")
        assert pending.status is SubscriptionStatus.PENDING
        assert await held(w) is Tier.FREE
        assert await w.sandbox.count("subscription") == 0
        resumed = await subscribe(w, "entry")
        assert (resumed.id, resumed.status) == (pending.id, SubscriptionStatus.ACTIVE)
        assert await w.sandbox.count("subscription") == 1
        assert await held(w) is Tier.ENTRY


async def test_a_crash_after_the_provider_charged_is_settled_by_its_webhooks(
    empty_database_url, monkeypatch
):
    async with world(empty_database_url) as w:

        async def charged_then_crash(subscription: PlatformSubscription) -> PlatformSubscription:
            customer = await w.sandbox.create_customer(
                user_id=subscription.user_id, email=None, name=None, idempotency_key=new_id()
            )
            await w.sandbox.create_subscription(
                customer_id=customer.id,
                price_id=await w.treasury._price_id(subscription.tier),
                idempotency_key=idempotency_key("platform_subscription", subscription.id),
                payment_method=subscription.payment_method,
                metadata={"subscription_id": subscription.id, "user_id": subscription.user_id},
            )
            return subscription  # the answer was lost with the process

        with monkeypatch.context() as patched:
            patched.setattr(w.treasury, "_start", charged_then_crash)
            pending = await subscribe(w, "entry")
        assert await held(w) is Tier.FREE
        await w.apply_webhooks()
        settled = await w.treasury.platform_subscription(practitioner(w))
        assert (settled.id, settled.status) == (pending.id, SubscriptionStatus.ACTIVE)
        assert settled.provider_subscription_id
        assert await held(w) is Tier.ENTRY
        assert await changes(w) == [(FREE, ENTRY)]
        assert await revenue(w) == 2_900


async def test_only_a_practitioner_subscribes_to_a_paid_tier_with_a_card(empty_database_url):
    async with world(empty_database_url) as w:
        client = person(new_id(), Role.CLIENT)
        with pytest.raises(PermissionDenied):
            await w.treasury.subscribe(client, "entry", VISA, new_id())
        for tier, card, field in (
            ("free", VISA, "tier"),
            ("gold", VISA, "tier"),
            ("", VISA, "tier"),
            ("entry", "", "payment_method"),
            ("entry", "pm_" + "x" * 100, "payment_method"),
        ):
            with pytest.raises(InvalidArgument) as bad:
                await w.treasury.subscribe(practitioner(w), tier, card, new_id())
            assert [v.field for v in bad.value.violations] == [field], (tier, card)
        with pytest.raises(NotFound):
            await w.treasury.platform_subscription(practitioner(w))
        with pytest.raises(NotFound):
            await w.treasury.change_platform_tier(practitioner(w), "premium")
        with pytest.raises(NotFound):
            await w.treasury.cancel_platform_subscription(practitioner(w))
        assert await w.sandbox.count("subscription") == 0


async def test_a_subscription_is_its_practitioners_alone(empty_database_url):
    async with world(empty_database_url) as w:
        await subscribe(w, "entry")
        rival = person(new_id(), Role.PRACTITIONER)
        with pytest.raises(NotFound):
            await w.treasury.platform_subscription(rival)
        with pytest.raises(NotFound):
            await w.treasury.cancel_platform_subscription(rival)
        assert not (await w.treasury.platform_subscription(practitioner(w))).cancel_at_period_end
