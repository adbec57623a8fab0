"""Readers' subscriptions to streams' paid tiers: subscribing at the tier's price as streams
gives it (never the client's word), upgrading (charged at once), downgrading (from the next
period), cancelling (at the period's end), a tier's new price billed from each subscriber's
next renewal (stream.tier_repriced), and the provider's word on them
(customer.subscription.*, invoice.paid, invoice.payment_failed).

Built as platform subscriptions are (and on their helpers): recorded PENDING before the
provider is asked, every provider call keyed by the subscription's id, the provider's
subscription naming ours in its metadata ("stream_subscription_id") so its webhooks find the
row whenever they come, and one forward-only `following` of the provider's state. Every
change of what a subscription grants, its status, period or cancellation is said once
(stream_subscription.changed, its `sequence` moved under the row's lock) in the unit of work
that changes it. Each paid invoice is one stream order of kind SUBSCRIPTION (unique by
invoice), its card charge posted and its creator's earning recorded as for a tip, in the
unit of work that claims the provider's event."""

from __future__ import annotations

from dataclasses import replace

from chassis.auth.principal import Principal
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from chassis.idempotency import IdempotentRequest
from chassis.ids import is_uuid, new_id
from chassis.money import Money
from chassis.pagination import KeyPart, Page, page_request
from services.payments.domain.stream_orders import StreamOrder, StreamOrderKind, StreamOrderStatus
from services.payments.domain.stream_subscriptions import (
    STREAM_SUBSCRIPTION_PREFIX,
    PricedLevel,
    StreamSubscription,
    StreamSubscriptionChanged,
    tier_name,
)
from services.payments.domain.subscriptions import ProviderView, SubscriptionStatus
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
from services.payments.sale_terms import StreamCatalogue
from services.payments.service_layer.base import caller
from services.payments.service_layer.stream_orders import earn_stream_order
from services.payments.service_layer.subscriptions import (
    INVOICE_PAID,
    METADATA_KEYS,
    PAYMENT_METHOD_MAX_LENGTH,
    STATUS_OF,
    SubscriptionHandlers,
    first_payment_refused,
    provider_price,
)
from services.payments.settings import PaymentsSettings
from services.payments.uow import PaymentsUnitOfWork

METADATA_KEY = METADATA_KEYS["stream_subscription"]


class StreamSubscriptionHandlers(SubscriptionHandlers):
    async def subscribe_to_stream(
        self, principal: Principal | None, tier: str, payment_method: str, request_id: str
    ) -> StreamSubscription:
        """Subscribes the caller to a stream's paid tier at streams' price for it now, its
        first month charged to the payment method at once; the level is granted once that
        payment is made. One live subscription per reader and stream; a retry with the same
        request_id answers the first."""
        user = caller(principal)
        stream_id, _ = _tier_ids(tier)
        if not payment_method or len(payment_method) > PAYMENT_METHOD_MAX_LENGTH:
            raise InvalidArgument.field(
                "payment_method",
                "is required: the provider's payment method id (pm_...), at most "
                f"{PAYMENT_METHOD_MAX_LENGTH} characters",
            )
        idempotent = IdempotentRequest.of(
            "CreateStreamSubscription", user, request_id, tier, payment_method
        )
        terms = await self._stream_catalogue().tier(tier)
        if terms.owner_user_id == user.user_id:
            raise FailedPrecondition(
                "this is your own stream: you cannot subscribe to it", reason="OWN_STREAM"
            )
        now = self.now()
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            subscription = await uow.stream_subscriptions.get(earlier) if earlier else None
            if subscription is None:
                subscription = StreamSubscription(
                    new_id(),
                    user.user_id,
                    stream_id,
                    terms.owner_user_id,
                    terms.level,
                    terms.price,
                    SubscriptionStatus.PENDING,
                    payment_method,
                    now,
                    now,
                )
                if not await uow.stream_subscriptions.add(subscription):
                    live = await uow.stream_subscriptions.live_of(user.user_id, stream_id)
                    if live is None or live.status is not SubscriptionStatus.PENDING:
                        raise FailedPrecondition(
                            "you already subscribe to this stream: change its tier instead",
                            reason="SUBSCRIPTION_EXISTS",
                        )
                    # An earlier attempt whose provider calls were interrupted (or a
                    # concurrent one): sent again under its own keys, it makes nothing twice.
                    subscription = live
                await uow.remember(idempotent, subscription.id)
            await uow.commit()
        if subscription.status is SubscriptionStatus.PENDING:
            subscription = await self._start_stream(subscription)
        if subscription.status is SubscriptionStatus.FAILED:
            raise first_payment_refused(subscription.failure_code)
        return subscription

    async def _start_stream(self, subscription: StreamSubscription) -> StreamSubscription:
        """The provider's subscription for a recorded one, keyed by its id."""
        made, refused = await self._open_at_provider(
            "stream_subscription",
            subscription.id,
            subscription.user_id,
            subscription.tier,
            subscription.price,
            subscription.payment_method,
        )
        if refused:
            return await self._fail_stream(subscription, made, refused)
        assert made is not None
        async with self._uow() as uow:
            synced = await follow_stream_provider(uow, made)
            await uow.commit()
        return synced or subscription

    async def _fail_stream(
        self, subscription: StreamSubscription, made: ProviderSubscription | None, code: str
    ) -> StreamSubscription:
        async with self._uow() as uow:
            current = await uow.stream_subscriptions.get(subscription.id, lock=True)
            if current is None or current.status is not SubscriptionStatus.PENDING:
                return current or subscription
            failed = current.failed(code, self.now())
            if made is not None:
                failed = replace(
                    failed, provider_subscription_id=made.id, customer_id=made.customer_id
                )
            failed = _said(uow, current, failed)
            await uow.stream_subscriptions.save(failed)
            await uow.commit()
        return failed

    async def stream_subscription(
        self, principal: Principal | None, name: str
    ) -> StreamSubscription:
        """One of the caller's stream subscriptions; anyone else's does not exist to them."""
        user = caller(principal)
        subscription_id = _subscription_id(name)
        async with self._uow(write=False) as uow:
            found = await uow.stream_subscriptions.get(subscription_id)
        return _owned(found, user)

    async def list_stream_subscriptions(
        self, principal: Principal | None, page_size: int, page_token: str
    ) -> Page[StreamSubscription]:
        """The caller's stream subscriptions, live or ended, newest first."""
        user = caller(principal)
        request = page_request(
            page_size, page_token, query={"user": user.user_id}, key=(KeyPart.ID,)
        )
        async with self._uow(write=False) as uow:
            found, total = await uow.stream_subscriptions.page_of_user(
                user.user_id,
                after=request.after[0] if request.after else None,
                limit=request.fetch,
            )
        return request.page(found, total, lambda subscription: (subscription.id,))

    async def change_stream_level(
        self, principal: Principal | None, name: str, level: int
    ) -> StreamSubscription:
        """Moves the caller's live subscription to another paid tier of its stream: up at
        once (the rest of the period charged now, at that tier's price now), down from the
        next period (the paid level kept); the level held undoes a downgrade asked."""
        user = caller(principal)
        subscription_id = _subscription_id(name)
        if level <= 0:
            raise InvalidArgument.field("level", "must be a paid tier's level (1 or more)")
        async with self._uow(write=False) as uow:
            found = _owned(await uow.stream_subscriptions.get(subscription_id), user)
        terms = await self._stream_catalogue().tier(tier_name(found.stream_id, level))
        # Back to the level held too, the next period is billed the tier's price now: a
        # renewal takes the tier's new price, so undoing a downgrade does not keep an old one.
        price_id = await self._provider_price(terms.name, terms.price)
        async with self._uow() as uow:
            current = _owned(await uow.stream_subscriptions.get(subscription_id, lock=True), user)
            _still_running(current)
            if current.status is SubscriptionStatus.PAST_DUE:
                # The provider would charge an upgrade's difference while the renewal stays
                # unpaid and the subscription past due, granting nothing for it.
                raise FailedPrecondition(
                    "this subscription's renewal is still unpaid: pay it (a card that pays, "
                    "then the next attempt) or cancel; its tier cannot change until then",
                    reason="SUBSCRIPTION_PAST_DUE",
                )
            if level == current.level and current.next_level in (None, level):
                return current
            current = replace(current, revision=current.revision + 1, updated_at=self.now())
            await uow.stream_subscriptions.save(current)
            upgrade = level > current.level
            # Asked with the row locked, so a tier's new price asked for this subscription
            # (payments.stream-tiers, the row locked too) comes wholly before or after this
            # change at the provider, never between its asking and its answer kept. A retry
            # after a failure (rolled back: the same revision) asks under the same key.
            try:
                seen = await self._provider.change_subscription(
                    current.provider_subscription_id,
                    price_id=price_id,
                    timing=ChangeTiming.NOW if upgrade else ChangeTiming.PERIOD_END,
                    idempotency_key=idempotency_key(
                        "stream_subscription_change", current.id, str(current.revision), str(level)
                    ),
                )
            except ProviderRejected as refused:
                raise await self._ended_there(uow, current, refused) from refused
            except ProviderError as error:
                raise Unavailable(
                    f"the payment provider did not answer: {error.message}"
                ) from error
            synced = await follow_stream_provider(uow, seen)
            await uow.commit()
        if upgrade and seen.status is not ProviderStatus.ACTIVE:
            raise FailedPrecondition(
                "the upgrade's payment was refused: your subscription is past due (and grants "
                "nothing) until it is paid",
                reason="PAYMENT_DECLINED",
            )
        return synced or current

    async def cancel_stream_subscription(
        self, principal: Principal | None, name: str
    ) -> StreamSubscription:
        """Ends the caller's subscription when its paid period ends (the level kept until
        then, then the free tier); asking again changes nothing."""
        user = caller(principal)
        subscription_id = _subscription_id(name)
        async with self._uow(write=False) as uow:
            current = _owned(await uow.stream_subscriptions.get(subscription_id), user)
        if current.cancel_at_period_end and current.live:
            return current
        _still_running(current)
        try:
            seen = await self._provider.cancel_subscription(
                current.provider_subscription_id,
                at_period_end=True,
                idempotency_key=idempotency_key("stream_subscription_cancel", current.id),
            )
        except ProviderRejected as refused:
            async with self._uow() as uow:
                raise await self._ended_there(uow, current, refused) from refused
        except ProviderError as error:
            raise Unavailable(f"the payment provider did not answer: {error.message}") from error
        async with self._uow() as uow:
            synced = await follow_stream_provider(uow, seen)
            await uow.commit()
        return synced or current

    async def _ended_there(
        self, uow: PaymentsUnitOfWork, current: StreamSubscription, refused: ProviderRejected
    ) -> Exception:
        """What to answer when the provider refused a change to a subscription: if it has
        ended there before its webhook reached us (the reader erased, a second failed
        renewal), its end is kept now and the change refused as for any ended subscription;
        any other refusal is the provider failing us."""
        try:
            seen = await self._provider.retrieve_subscription(current.provider_subscription_id)
        except ProviderError as error:
            return Unavailable(f"the payment provider did not answer: {error.message}")
        synced = await follow_stream_provider(uow, seen)
        await uow.commit()
        if synced is not None and not synced.live:
            return FailedPrecondition(
                "this subscription is not running: subscribe again", reason="SUBSCRIPTION_ENDING"
            )
        return Unavailable(f"the payment provider did not answer: {refused.message}")


async def reprice_stream_tier(
    uow: PaymentsUnitOfWork, provider: PaymentProvider, streams: StreamCatalogue, tier: str
) -> None:
    """A stream's tier whose price changed (stream.tier_repriced): each live subscription
    that renews on it at another price is moved by the provider to the tier's price from its
    next period, never before (`StreamSubscription.repriced_by` says which; the price held
    moves when the provider's period renews). The price is streams' word now, not the
    event's, so changes heard late or out of order end at the last. In the consumer's unit
    of work, the rows locked: each provider call is keyed by the subscription, its revision
    (moved here, committed with the inbox's claim) and the price, so a retry after a failure
    asks the same of the provider and a later change asks anew."""
    try:
        terms = await streams.tier(tier)
    except NotFound:
        return  # streams sells it no longer: nothing renews on it
    price_id = ""
    for current in await uow.stream_subscriptions.live_on_tier(terms.stream_id, terms.level):
        if not current.repriced_by(terms.level, terms.price):
            continue
        price_id = price_id or await provider_price(uow, provider, terms.name, terms.price)
        asked = replace(current, revision=current.revision + 1, updated_at=uow.clock.now())
        await uow.stream_subscriptions.save(asked)
        try:
            seen = await provider.change_subscription(
                asked.provider_subscription_id,
                price_id=price_id,
                timing=ChangeTiming.PERIOD_END,
                idempotency_key=idempotency_key(
                    "stream_subscription_reprice", asked.id, str(asked.revision), price_id
                ),
            )
        except ProviderRejected:
            continue  # ended at the provider meanwhile: its webhook ends ours
        await follow_stream_provider(uow, seen)


async def apply_stream_subscription_event(
    uow: PaymentsUnitOfWork,
    settings: PaymentsSettings,
    event: WebhookEvent,
    found: ProviderSubscription | None,
) -> None:
    """A stream subscription moved forward to what the provider says now; a paid invoice of
    one is a paid stream order of kind SUBSCRIPTION (once per invoice): its card charge, and
    its creator's earning less the commission with stream_order.paid."""
    if found is None or not found.metadata.get(METADATA_KEY):
        return
    subscription = await follow_stream_provider(uow, found)
    if subscription is None or event.type != INVOICE_PAID:
        return
    invoice = event.object
    amount = invoice.get("amount_paid", invoice.get("amount_due"))
    currency = str(invoice.get("currency") or "").upper()
    if not isinstance(amount, int) or amount <= 0 or not currency:
        return
    now = uow.clock.now()
    order = StreamOrder(
        new_id(),
        subscription.user_id,
        StreamOrderKind.SUBSCRIPTION,
        subscription.stream_id,
        "",
        subscription.creator_user_id,
        Money(amount, currency),
        0,
        StreamOrderStatus.PAID,
        now,
        invoice_id=event.object_id,
    )
    if not await uow.stream_orders.add(order, now):
        return  # the invoice is an order already
    await uow.ledger.post(order.card_charge(new_id(), f"invoices/{event.object_id}", now))
    await earn_stream_order(uow, settings, order)


async def follow_stream_provider(
    uow: PaymentsUnitOfWork, seen: ProviderSubscription
) -> StreamSubscription | None:
    """Our stream subscription (named in the provider's metadata) moved to the provider's
    state, its row locked, and stream_subscription.changed when what it grants, its status,
    period or cancellation moved. None for a subscription not ours."""
    ours = seen.metadata.get(METADATA_KEY, "")
    current = await uow.stream_subscriptions.get(ours, lock=True) if ours else None
    if current is None or current.user_id != seen.metadata.get("user_id", current.user_id):
        return None
    view = ProviderView(
        STATUS_OF[seen.status],
        await _billed(uow, current, seen.price_id),
        seen.current_period_end,
        seen.cancel_at_period_end,
    )
    after = replace(
        current.following(view, uow.clock.now()),
        provider_subscription_id=seen.id,
        customer_id=seen.customer_id,
    )
    if replace(after, updated_at=current.updated_at) == current:
        return current
    after = _said(uow, current, after)
    await uow.stream_subscriptions.save(after)
    return after


async def _billed(
    uow: PaymentsUnitOfWork, current: StreamSubscription, price_id: str
) -> PricedLevel:
    """The level and price a provider price bills (one of the subscription's stream's
    tiers), else what the subscription holds."""
    sold = await uow.tier_prices.sold_by(price_id)
    prefix = tier_name(current.stream_id, 0).removesuffix("0")
    if sold is None or not sold[0].startswith(prefix):
        return PricedLevel(current.level, current.price)
    return PricedLevel(int(sold[0].removeprefix(prefix)), sold[1])


def _said(
    uow: PaymentsUnitOfWork, before: StreamSubscription, after: StreamSubscription
) -> StreamSubscription:
    """after, with its sequence moved and stream_subscription.changed recorded if what
    streams acts on changed (the caller holds the row's lock)."""
    said = after.said_from(before)
    if said is None:
        return after
    uow.record(StreamSubscriptionChanged(said, uow.clock.now()))
    return said


def _still_running(subscription: StreamSubscription) -> None:
    if not subscription.live or subscription.status is SubscriptionStatus.PENDING:
        raise FailedPrecondition(
            "this subscription is not running: subscribe again", reason="SUBSCRIPTION_ENDING"
        )
    if subscription.cancel_at_period_end:
        raise FailedPrecondition(
            "this subscription ends with its period: subscribe again once it has ended",
            reason="SUBSCRIPTION_ENDING",
        )


def _owned(found: StreamSubscription | None, user: Principal) -> StreamSubscription:
    """The subscription if the caller's: another's is not found (never said to exist)."""
    if found is None or found.user_id != user.user_id:
        raise NotFound("no such stream subscription")
    return found


def _subscription_id(name: str) -> str:
    subscription_id = name.removeprefix(STREAM_SUBSCRIPTION_PREFIX)
    if not name.startswith(STREAM_SUBSCRIPTION_PREFIX) or not is_uuid(subscription_id):
        raise InvalidArgument.field("name", "must be streamSubscriptions/{id}")
    return subscription_id


def _tier_ids(tier: str) -> tuple[str, int]:
    """The stream id and level a tier's name holds: "streams/{id}/tiers/{level}"."""
    parts = tier.split("/")
    if (
        len(parts) == 4
        and parts[0] == "streams"
        and is_uuid(parts[1])
        and parts[2] == "tiers"
        and parts[3].isascii()
        and parts[3].isdigit()
        and len(parts[3]) <= 9
        and tier_name(parts[1], int(parts[3])) == tier
    ):
        return parts[1], int(parts[3])
    raise InvalidArgument.field("tier", "must be streams/{stream_id}/tiers/{level}")
