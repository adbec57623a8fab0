"""Practitioners' platform subscriptions: subscribing to a paid tier, upgrading (charged at
once), downgrading (from the next period), cancelling (at the period's end), and the
provider's word on them (customer.subscription.*, invoice.paid).

A subscription is recorded (PENDING) before the provider is asked, and every provider call is
keyed by its id, so a retry after a crash or a timeout makes nothing twice; the provider's
subscription carries our id in its metadata, so its webhooks find the row even when they
arrive before the request that made it has recorded the answer. The tier a practitioner
holds moves only with the subscription's row, locked, in the unit of work that emits
subscription.tier_changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from chassis.auth.principal import Principal
from chassis.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from chassis.idempotency import IdempotentRequest
from chassis.ids import new_id
from chassis.jobs import PeriodicJob
from chassis.money import Money
from services.payments.domain.earnings import Tier
from services.payments.domain.subscriptions import (
    NotAPaidTier,
    PlatformSubscription,
    ProviderView,
    SubscriptionStatus,
    paid_tier,
    subscription_revenue,
    tier_change,
)
from services.payments.provider.port import (
    ChangeTiming,
    PaymentProvider,
    ProviderError,
    ProviderRejected,
    WebhookEvent,
    idempotency_key,
)
from services.payments.provider.port import Subscription as ProviderSubscription
from services.payments.provider.port import SubscriptionStatus as ProviderStatus
from services.payments.provider.sandbox import SandboxProvider
from services.payments.service_layer.base import Handlers, caller, practitioner
from services.payments.uow import PaymentsUnitOfWork

SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
INVOICE_PAID = "invoice.paid"
INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
PAYMENT_METHOD_MAX_LENGTH = 100
# The metadata key that names our subscription on the provider's, by kind: its webhooks find
# the platform's or the stream's row by it.
METADATA_KEYS = {
    "platform_subscription": "subscription_id",
    "stream_subscription": "stream_subscription_id",
}

# The provider's states in ours: a renewal being retried keeps the tier; an abandoned first
# payment is a failure; any end is the end.
STATUS_OF = {
    ProviderStatus.INCOMPLETE: SubscriptionStatus.PENDING,
    ProviderStatus.INCOMPLETE_EXPIRED: SubscriptionStatus.FAILED,
    ProviderStatus.TRIALING: SubscriptionStatus.ACTIVE,
    ProviderStatus.ACTIVE: SubscriptionStatus.ACTIVE,
    ProviderStatus.PAST_DUE: SubscriptionStatus.PAST_DUE,
    ProviderStatus.UNPAID: SubscriptionStatus.PAST_DUE,
    ProviderStatus.PAUSED: SubscriptionStatus.PAST_DUE,
    ProviderStatus.CANCELED: SubscriptionStatus.ENDED,
}


async def provider_price(
    uow: PaymentsUnitOfWork, provider: PaymentProvider, tier: str, price: Money
) -> str:
    """The provider's monthly price for a tier (a platform tier, or a stream's tier by its
    name) at an amount, made once under a key of these and recorded in the unit of work (a
    retry after it rolled back makes the same price)."""
    known = await uow.tier_prices.price_of(tier, price)
    if known:
        return known
    made = await provider.create_price(
        tier=tier,
        amount=price.amount_minor,
        currency=price.currency,
        idempotency_key=idempotency_key(
            "tier_price", tier, price.currency, str(price.amount_minor)
        ),
    )
    await uow.tier_prices.remember(tier, price, made.id)
    return await uow.tier_prices.price_of(tier, price) or made.id


class SubscriptionHandlers(Handlers):
    async def platform_subscription(self, principal: Principal | None) -> PlatformSubscription:
        """The caller's latest platform subscription, live or not; NOT_FOUND if they never
        subscribed (they are on Free)."""
        user = caller(principal)
        async with self._uow(write=False) as uow:
            found = await uow.subscriptions.latest_of(user.user_id)
        if found is None:
            raise NotFound("no platform subscription: you are on the free tier")
        return found

    async def subscribe(
        self, principal: Principal | None, tier_name: str, payment_method: str, request_id: str
    ) -> PlatformSubscription:
        """Subscribes the calling practitioner to a paid tier, its first month charged to the
        payment method at once; the tier is theirs once that payment is made. One live
        subscription per practitioner; a retry with the same request_id answers the first."""
        user = practitioner(principal, "only a practitioner subscribes to a platform tier")
        tier = _paid_tier_named(tier_name)
        if not payment_method or len(payment_method) > PAYMENT_METHOD_MAX_LENGTH:
            raise InvalidArgument.field(
                "payment_method",
                "is required: the provider's payment method id (pm_...), at most "
                f"{PAYMENT_METHOD_MAX_LENGTH} characters",
            )
        idempotent = IdempotentRequest.of(
            "CreatePlatformSubscription", user, request_id, tier.value, payment_method
        )
        now = self.now()
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            subscription = await uow.subscriptions.get(earlier) if earlier else None
            if subscription is None:
                subscription = PlatformSubscription(
                    new_id(),
                    user.user_id,
                    tier,
                    SubscriptionStatus.PENDING,
                    payment_method,
                    now,
                    now,
                )
                if not await uow.subscriptions.add(subscription):
                    live = await uow.subscriptions.live_of(user.user_id)
                    if live is None or live.status is not SubscriptionStatus.PENDING:
                        raise FailedPrecondition(
                            "you already have a platform subscription: change its tier instead",
                            reason="SUBSCRIPTION_EXISTS",
                        )
                    # An earlier attempt whose provider calls were interrupted: sent again
                    # under its own keys, it makes nothing twice.
                    subscription = live
                await uow.remember(idempotent, subscription.id)
            await uow.commit()
        if subscription.status is SubscriptionStatus.PENDING:
            subscription = await self._start(subscription)
        if subscription.status is SubscriptionStatus.FAILED:
            raise first_payment_refused(subscription.failure_code)
        return subscription

    async def _start(self, subscription: PlatformSubscription) -> PlatformSubscription:
        """The provider's customer and subscription for a recorded one, keyed by its ids."""
        made, refused = await self._open_at_provider(
            "platform_subscription",
            subscription.id,
            subscription.user_id,
            subscription.tier.value,
            self._settings.tier_price(subscription.tier.value),
            subscription.payment_method,
        )
        if refused:
            return await self._fail(subscription, made, refused)
        assert made is not None
        async with self._uow() as uow:
            synced = await follow_provider(uow, made)
            await uow.commit()
        return synced or subscription

    async def _open_at_provider(
        self,
        kind: str,
        subscription_id: str,
        user_id: str,
        tier: str,
        price: Money,
        payment_method: str,
    ) -> tuple[ProviderSubscription | None, str]:
        """The provider's subscription of one of ours of a kind ("platform_subscription",
        "stream_subscription") to a tier at a monthly price, keyed by its id and naming it in
        its metadata, and the failure code if its first payment was refused (then ended at
        the provider, so it is never retried)."""
        try:
            made = await self._provider.create_subscription(
                customer_id=await self._customer_id(user_id),
                price_id=await self._provider_price(tier, price),
                idempotency_key=idempotency_key(kind, subscription_id),
                payment_method=payment_method,
                metadata={METADATA_KEYS[kind]: subscription_id, "user_id": user_id},
            )
            if made.status is ProviderStatus.INCOMPLETE:
                # The first payment did not go through (declined, or awaiting a card check
                # this flow does not offer).
                made = await self._provider.cancel_subscription(
                    made.id,
                    at_period_end=False,
                    idempotency_key=idempotency_key(f"{kind}_void", subscription_id),
                )
                return made, "payment_declined"
        except ProviderRejected as refused:
            return None, refused.code or "payment_declined"
        except ProviderError as error:
            raise Unavailable(f"the payment provider did not answer: {error.message}") from error
        return made, ""

    async def _fail(
        self, subscription: PlatformSubscription, made: ProviderSubscription | None, code: str
    ) -> PlatformSubscription:
        async with self._uow() as uow:
            current = await uow.subscriptions.get(subscription.id, lock=True)
            if current is None or current.status is not SubscriptionStatus.PENDING:
                return current or subscription
            failed = current.failed(code, self.now())
            if made is not None:
                failed = replace(
                    failed, provider_subscription_id=made.id, customer_id=made.customer_id
                )
            await uow.subscriptions.save(failed)
            await uow.commit()
        return failed

    async def _price_id(self, tier: Tier) -> str:
        """The provider's price for a platform tier at its configured amount, made once."""
        return await self._provider_price(tier.value, self._settings.tier_price(tier.value))

    async def _provider_price(self, tier: str, price: Money) -> str:
        """The provider's monthly price for a tier at an amount (see `provider_price`)."""
        async with self._uow(write=False) as uow:
            known = await uow.tier_prices.price_of(tier, price)
        if known:
            return known
        async with self._uow() as uow:
            made = await provider_price(uow, self._provider, tier, price)
            await uow.commit()
        return made

    async def _customer_id(self, user_id: str) -> str:
        """The user's customer at the provider (for their platform and stream
        subscriptions): the one billed before, else one made under a key of their id."""
        async with self._uow(write=False) as uow:
            known = await uow.subscriptions.customer_of(user_id)
        if known:
            return known
        made = await self._provider.create_customer(
            user_id=user_id,
            email=None,
            name=None,
            idempotency_key=idempotency_key("platform_customer", user_id),
        )
        return made.id

    async def change_platform_tier(
        self, principal: Principal | None, tier_name: str
    ) -> PlatformSubscription:
        """Moves the caller's live subscription to another tier: up at once (the rest of the
        period charged now), down from the next period (the paid one kept), to free by
        cancelling at the period's end. Asking for the tier held undoes a downgrade asked."""
        user = practitioner(principal, "only a practitioner subscribes to a platform tier")
        tier = _tier_named(tier_name)
        if tier is Tier.FREE:
            return await self.cancel_platform_subscription(principal)
        async with self._uow() as uow:
            current = await self._live(uow, user.user_id)
            if current.cancel_at_period_end:
                raise FailedPrecondition(
                    "your subscription ends with its period: subscribe again once it has ended",
                    reason="SUBSCRIPTION_ENDING",
                )
            if tier is current.tier and current.next_tier in (None, tier):
                return current
            current = replace(current, revision=current.revision + 1, updated_at=self.now())
            await uow.subscriptions.save(current)
            await uow.commit()
        upgrade = current.is_upgrade(tier)
        try:
            seen = await self._provider.change_subscription(
                current.provider_subscription_id,
                price_id=await self._price_id(tier),
                timing=ChangeTiming.NOW if upgrade else ChangeTiming.PERIOD_END,
                idempotency_key=idempotency_key(
                    "platform_subscription_change", current.id, str(current.revision), tier.value
                ),
            )
        except ProviderError as error:
            raise Unavailable(f"the payment provider did not answer: {error.message}") from error
        async with self._uow() as uow:
            synced = await follow_provider(uow, seen)
            await uow.commit()
        if upgrade and seen.status is not ProviderStatus.ACTIVE:
            raise FailedPrecondition(
                "the upgrade's payment was refused: your subscription is past due until its "
                "payment method is updated",
                reason="PAYMENT_DECLINED",
            )
        return synced or current

    async def cancel_platform_subscription(
        self, principal: Principal | None
    ) -> PlatformSubscription:
        """Ends the caller's subscription when its paid period ends (the tier kept until
        then, then Free); asking again changes nothing."""
        user = practitioner(principal, "only a practitioner subscribes to a platform tier")
        async with self._uow(write=False) as uow:
            current = await self._live(uow, user.user_id)
        if current.cancel_at_period_end:
            return current
        try:
            seen = await self._provider.cancel_subscription(
                current.provider_subscription_id,
                at_period_end=True,
                idempotency_key=idempotency_key("platform_subscription_cancel", current.id),
            )
        except ProviderError as error:
            raise Unavailable(f"the payment provider did not answer: {error.message}") from error
        async with self._uow() as uow:
            synced = await follow_provider(uow, seen)
            await uow.commit()
        return synced or current

    def subscription_jobs(self) -> list[PeriodicJob]:
        """On the sandbox, its billing run (Stripe bills renewals itself): due renewals
        charged, lapsed and ending subscriptions ended, each change sent as a webhook."""
        provider = self._provider
        if not isinstance(provider, SandboxProvider):
            return []
        every = timedelta(seconds=self._settings.job_interval_seconds)
        return [PeriodicJob("payments.sandbox_billing", every, provider.renew_subscriptions)]

    async def _live(self, uow: PaymentsUnitOfWork, user_id: str) -> PlatformSubscription:
        current = await uow.subscriptions.live_of(user_id, lock=True)
        if current is None or current.status is SubscriptionStatus.PENDING:
            raise NotFound("no paid platform subscription: subscribe first")
        return current


async def fetch_subscription(
    provider: PaymentProvider, event: WebhookEvent
) -> ProviderSubscription | None:
    """The subscription a subscription or invoice event is about, as the provider has it now
    (the event's copy may be stale); None for other events and subscriptions not ours (ours
    name a platform or a stream subscription in their metadata)."""
    if event.type in SUBSCRIPTION_EVENTS:
        subscription_id = event.object_id
    elif event.type in (INVOICE_PAID, INVOICE_PAYMENT_FAILED):
        subscription_id = str(event.object.get("subscription") or "")
    else:
        return None
    if not subscription_id:
        return None
    try:
        found = await provider.retrieve_subscription(subscription_id)
    except ProviderError as error:
        if error.code == "resource_missing":
            return None
        raise Unavailable(f"the payment provider did not answer: {error.message}") from error
    ours = any(found.metadata.get(key) for key in METADATA_KEYS.values())
    return found if ours else None


async def apply_subscription_event(
    uow: PaymentsUnitOfWork, event: WebhookEvent, found: ProviderSubscription | None
) -> None:
    """A platform subscription moved forward to what the provider says now; a paid invoice
    of one is the platform's revenue (once per invoice)."""
    if found is None or not found.metadata.get("subscription_id"):
        return
    subscription = await follow_provider(uow, found)
    if subscription is None or event.type != INVOICE_PAID:
        return
    invoice = event.object
    amount = invoice.get("amount_paid", invoice.get("amount_due"))
    currency = str(invoice.get("currency") or "").upper()
    if not isinstance(amount, int) or amount <= 0 or not currency:
        return
    await uow.ledger.post(
        subscription_revenue(new_id(), event.object_id, Money(amount, currency), uow.clock.now())
    )


async def follow_provider(
    uow: PaymentsUnitOfWork, seen: ProviderSubscription
) -> PlatformSubscription | None:
    """Our subscription (named in the provider's metadata) moved to the provider's state,
    its row locked; the practitioner's tier and subscription.tier_changed follow when the
    tier held changed. None for a subscription not ours."""
    ours = seen.metadata.get("subscription_id", "")
    current = await uow.subscriptions.get(ours, lock=True) if ours else None
    if current is None or current.user_id != seen.metadata.get("user_id", current.user_id):
        return None
    now = uow.clock.now()
    billed = await uow.tier_prices.tier_of(seen.price_id) or current.tier
    view = ProviderView(
        STATUS_OF[seen.status], billed, seen.current_period_end, seen.cancel_at_period_end
    )
    after = replace(
        current.following(view, now),
        provider_subscription_id=seen.id,
        customer_id=seen.customer_id,
    )
    if replace(after, updated_at=current.updated_at) == current:
        return current
    await uow.subscriptions.save(after)
    change = tier_change(current, after, now)
    if change is not None:
        await uow.tiers.set(change.user_id, change.tier, now)
        uow.record(change)
    return after


def first_payment_refused(failure_code: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"the first payment was refused ({failure_code}): nothing was charged; try again "
        "with another payment method",
        reason="PAYMENT_DECLINED",
        metadata={"failure_code": failure_code},
    )


def _tier_named(name: str) -> Tier:
    try:
        return Tier(name)
    except ValueError:
        raise InvalidArgument.field(
            "tier", "must be one of free, entry, premium", "invalid"
        ) from None


def _paid_tier_named(name: str) -> Tier:
    try:
        return paid_tier(_tier_named(name))
    except NotAPaidTier as error:
        raise InvalidArgument.field("tier", str(error), "invalid") from None
