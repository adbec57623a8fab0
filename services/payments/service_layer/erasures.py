"""An erased user (identity's user.deleted) is never billed again, nor are readers for the
streams of an erased creator.

As a reader, every live stream subscription they hold, and their live platform
subscription, ends at once at the provider: they are gone, so nothing of the paid period
is refunded or prorated (nobody is left to give it to). The rows end as after any ending,
following the provider's answer: stream_subscription.changed says ENDED with nothing
granted, and a platform subscription's end puts the practitioner back on Free
(subscription.tier_changed). As a creator, every live subscription to their streams is set
to cancel when its period ends: readers keep the level they paid for until then, and are
not billed again for a stream whose creator is gone.

This runs in the consumer's unit of work, whose inbox row commits with what it records (as
every consumer that calls the provider does; a second unit of work would wait on SQLite's
one writer, which the consumer holds). The subscriptions are read first, unlocked; then the
provider is asked, each change keyed by the subscription's own id (an ending happens once,
so the id alone names it; a creator's erasure asks the reader's own cancellation, under its
key), so a redelivery after a crash between the calls and the commit gets the first
answers back; then each answer is followed, its row locked, only forward, as the readers'
own cancellations are. A subscription already ended is not live and is not read; one
already set to cancel is left as it is when its creator is erased; one whose provider
subscription is not made yet (a first payment in flight) has nothing to cancel."""

from __future__ import annotations

from services.payments.provider.port import PaymentProvider, ProviderRejected, idempotency_key
from services.payments.provider.port import Subscription as ProviderSubscription
from services.payments.provider.port import SubscriptionStatus as ProviderStatus
from services.payments.service_layer.stream_subscriptions import follow_stream_provider
from services.payments.service_layer.subscriptions import follow_provider
from services.payments.uow import PaymentsUnitOfWork


async def stop_billing_erased_user(
    uow: PaymentsUnitOfWork, provider: PaymentProvider, user_id: str
) -> None:
    """Ends what an erased user is billed for at once, and sets what readers are billed for
    their streams to cancel at the period's end; recorded as the provider answers."""
    streams_ended: list[ProviderSubscription] = []
    for held in await uow.stream_subscriptions.live_of_reader(user_id):
        if held.provider_subscription_id:
            streams_ended.append(
                await _cancel(
                    provider,
                    held.provider_subscription_id,
                    at_period_end=False,
                    key=idempotency_key("stream_subscription_end", held.id),
                )
            )
    platform_ended: ProviderSubscription | None = None
    platform = await uow.subscriptions.live_of(user_id)
    if platform is not None and platform.provider_subscription_id:
        platform_ended = await _cancel(
            provider,
            platform.provider_subscription_id,
            at_period_end=False,
            key=idempotency_key("platform_subscription_end", platform.id),
        )
    streams_ending: list[ProviderSubscription] = []
    for sold in await uow.stream_subscriptions.live_of_creator(user_id):
        if sold.provider_subscription_id and not sold.cancel_at_period_end:
            streams_ending.append(
                await _cancel(
                    provider,
                    sold.provider_subscription_id,
                    at_period_end=True,
                    # The reader's own cancellation: the same change, the same key.
                    key=idempotency_key("stream_subscription_cancel", sold.id),
                )
            )
    for seen in (*streams_ended, *streams_ending):
        await follow_stream_provider(uow, seen)
    if platform_ended is not None:
        await follow_provider(uow, platform_ended)


async def _cancel(
    provider: PaymentProvider, subscription_id: str, *, at_period_end: bool, key: str
) -> ProviderSubscription:
    """The provider's subscription cancelled as asked; or, if the provider ended it already
    (a lapse, or this erasure's earlier call replayed after its key expired, whose webhook is
    not applied yet), as it is."""
    try:
        return await provider.cancel_subscription(
            subscription_id, at_period_end=at_period_end, idempotency_key=key
        )
    except ProviderRejected:
        found = await provider.retrieve_subscription(subscription_id)
        if found.status is not ProviderStatus.CANCELED:
            raise
        return found
