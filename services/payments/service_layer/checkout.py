"""Money coming in: checkout (credits first, the rest by a payment intent), the provider's
webhooks applied once and only forward, and refunds of cancelled or unpayable bookings."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from chassis.auth.principal import Principal
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from chassis.idempotency import IdempotentRequest
from chassis.ids import is_uuid, new_id
from chassis.jobs import PeriodicJob
from chassis.lifecycle import WrongState
from chassis.money import Money
from services.payments.domain.ledger import Account, AccountKind, TransactionKind
from services.payments.domain.orders import (
    Order,
    OrderStatus,
    PayableStatus,
    PaymentFailed,
    PaymentSucceeded,
    RefundIssued,
)
from services.payments.provider.port import (
    PaymentIntent,
    PaymentProvider,
    PaymentStatus,
    ProviderError,
    ProviderRejected,
    Refund,
    WebhookRejected,
    idempotency_key,
)
from services.payments.provider.sandbox import SandboxProvider
from services.payments.service_layer.base import Handlers, caller
from services.payments.service_layer.credits import (
    CreditPurchaseView,
    apply_purchase_intent,
    purchase_of,
    spendable_lots,
    take_from_lots,
)
from services.payments.service_layer.payouts import apply_connect_object, fetch_connect_object
from services.payments.service_layer.stream_orders import (
    StreamOrderView,
    apply_stream_order_intent,
    stream_order_of,
)
from services.payments.service_layer.stream_subscriptions import apply_stream_subscription_event
from services.payments.service_layer.subscriptions import (
    apply_subscription_event,
    fetch_subscription,
)
from services.payments.uow import PaymentsUnitOfWork

STRIPE = "stripe"
INTENT_SUCCEEDED = "payment_intent.succeeded"
INTENT_FAILED = "payment_intent.payment_failed"


@dataclass(frozen=True)
class CheckoutView:
    """An order and where its payment stands."""

    order: Order
    status: PaymentStatus


class WebhookRefused(InvalidArgument):
    """A webhook that is not Stripe's, or too old to trust (nothing applied)."""

    default_reason = "WEBHOOK_REFUSED"


class CheckoutHandlers(Handlers):
    async def create_checkout(
        self, principal: Principal | None, booking_name: str, request_id: str
    ) -> CheckoutView:
        """The order for a booking awaiting payment, made once whatever the retries: its
        client's credits applied first, then one payment intent for the rest."""
        user = caller(principal)
        booking_id = booking_name.removeprefix("bookings/")
        if not booking_name.startswith("bookings/") or not is_uuid(booking_id):
            raise InvalidArgument.field("booking", "must be bookings/{booking_id}", "invalid")
        idempotent = IdempotentRequest.of("CreateCheckout", user, request_id, booking_id)
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            order = await uow.orders.get(earlier) if earlier else None
            if order is None:
                order = await self._order_for(uow, user, booking_id)
            await uow.remember(idempotent, order.id)
            await uow.commit()
        return await self._with_intent(order)

    async def _order_for(self, uow: PaymentsUnitOfWork, user: Principal, booking_id: str) -> Order:
        booking = await uow.payable.get(booking_id)
        if booking is None or booking.client_id != user.user_id:
            # Booking's announcement of a new booking may still be on its way: a client
            # retries; anyone else's booking is not theirs to see.
            raise NotFound("no such booking awaiting payment")
        order = await uow.orders.for_booking(booking_id)
        if order is not None:
            # A paid order is answered as it is; one not paid is for a booking still held.
            released = order.status is OrderStatus.RELEASED
            if order.status is not OrderStatus.PAID and (
                released or booking.status is not PayableStatus.PENDING_PAYMENT
            ):
                raise _not_payable(booking.status)
            return order
        if booking.status is not PayableStatus.PENDING_PAYMENT:
            raise _not_payable(booking.status)
        now = self.now()
        currency = booking.price.currency
        # The client's expiring credit is locked before their balance is read (as the expiry
        # job locks a lot before it reads the balance), so neither takes what the other did.
        lots = await spendable_lots(uow, user.user_id, currency, now)
        credit = Account(user.user_id, AccountKind.CLIENT_CREDIT, currency)
        order = Order.open(new_id(), booking, await uow.ledger.balance(credit), now)
        if not await uow.orders.add(order, now):
            # A concurrent checkout of the same booking made it: theirs is the order.
            found = await uow.orders.for_booking(booking_id)
            assert found is not None
            return found
        if order.credit_minor:
            await uow.ledger.post(order.credit_spend(new_id(), now))
            await take_from_lots(uow, lots, order.credit_minor, now)
        if order.status is OrderStatus.PAID:
            uow.record(PaymentSucceeded(order.id, order, now))
        return order

    async def _with_intent(self, order: Order) -> CheckoutView:
        """The order with its payment intent, made now if it has none yet (a crash after
        the order committed is mended by the next checkout: the same key, the same intent)."""
        if order.card_minor == 0:
            return CheckoutView(order, PaymentStatus.SUCCEEDED)
        intent = await self._payment_intent(
            order.payment_intent_id,
            amount=order.card,
            order_id=order.id,
            key=idempotency_key("payment_intent", order.id),
            metadata={"booking_id": order.booking_id, "client_id": order.client_id},
        )
        if order.payment_intent_id is None:
            async with self._uow() as uow:
                await uow.orders.attach_intent(order.id, intent.id, intent.client_secret)
                await uow.commit()
            order = replace(order, payment_intent_id=intent.id, client_secret=intent.client_secret)
        return CheckoutView(order, intent.status)

    async def receive_stripe_event(self, payload: bytes, signature: str) -> tuple[str, bool]:
        """A webhook verified, then applied once: the intent is read again from the provider
        (a late or repeated event's copy may be stale) and the order only moves forward.
        Answers the event id and whether this delivery applied it."""
        try:
            event = self._provider.parse_webhook(payload, signature or None)
        except WebhookRejected as refused:
            raise WebhookRefused(
                f"webhook refused: {refused}", reason=f"WEBHOOK_{refused.reason.upper()}"
            ) from None
        intent: PaymentIntent | None = None
        if event.type in (INTENT_SUCCEEDED, INTENT_FAILED):
            try:
                intent = await self._provider.retrieve_payment_intent(event.object_id)
            except ProviderRejected:
                intent = None  # not an intent this provider knows: nothing of ours
            except ProviderError as error:
                raise Unavailable(
                    f"the payment provider did not answer: {error.message}"
                ) from error
        connect_object = await fetch_connect_object(self._provider, event)
        subscription = await fetch_subscription(self._provider, event)
        async with self._uow() as uow:
            now = self.now()
            if not await uow.external_events.claim(
                STRIPE, event.id, event.type, event.object_id, now
            ):
                return event.id, False
            order = await _order_of(uow, intent) if intent is not None else None
            if intent is not None and order is not None:
                await self._apply_intent(uow, order, intent, event.type)
            elif intent is not None and (purchase := await purchase_of(uow, intent)):
                await apply_purchase_intent(
                    uow, purchase, intent, declined=event.type == INTENT_FAILED
                )
            elif intent is not None and (stream_order := await stream_order_of(uow, intent)):
                await apply_stream_order_intent(uow, self._settings, stream_order, intent)
            await apply_connect_object(uow, self._provider, connect_object)
            await apply_subscription_event(uow, event, subscription)
            await apply_stream_subscription_event(uow, self._settings, event, subscription)
            await uow.commit()
        return event.id, True

    async def _apply_intent(
        self, uow: PaymentsUnitOfWork, order: Order, intent: PaymentIntent, event_type: str
    ) -> None:
        now = self.now()
        if intent.status is PaymentStatus.SUCCEEDED:
            try:
                await uow.orders.close(order.id, OrderStatus.PAID, now)
            except WrongState:
                return  # paid by an earlier event about the same intent
            if order.payment_intent_id is None:
                await uow.orders.attach_intent(order.id, intent.id, intent.client_secret)
            # A succeeded intent received its amount; a server that does not report
            # amount_received (localstripe) is read as having received it.
            received = intent.amount_received or intent.amount
            await uow.ledger.post(order.card_charge(new_id(), intent.id, received, now))
            uow.record(PaymentSucceeded(intent.id, order, now))
        elif (
            event_type == INTENT_FAILED
            and order.status is OrderStatus.OPEN
            and intent.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
        ):
            # Each decline is an event of its own; the intent as it stands now says it failed.
            reason = intent.failure_code or "payment_failed"
            uow.record(PaymentFailed(intent.id, order, reason, now))

    async def trim_external_events(self) -> int:
        """Forgets applied provider events past their retention, a batch at a time; how many."""
        before = self.now() - timedelta(days=self._settings.external_event_retention_days)
        trimmed = 0
        while True:
            async with self._uow() as uow:
                gone = await uow.external_events.trim(before, self._settings.job_batch_size)
                await uow.commit()
            trimmed += gone
            if gone < self._settings.job_batch_size:
                return trimmed

    def webhook_jobs(self) -> list[PeriodicJob]:
        return [
            PeriodicJob(
                "payments.trim_external_events", timedelta(hours=1), self.trim_external_events
            )
        ]

    async def confirm_sandbox_payment(
        self, principal: Principal | None, intent_id: str, payment_method: str
    ) -> CheckoutView | CreditPurchaseView | StreamOrderView:
        """The sandbox's card step, for a client trying the suite without Stripe.js: on the
        intent of a checkout, a credit top-up or a stream order of theirs."""
        user = caller(principal)
        if not isinstance(self._provider, SandboxProvider):
            raise NotFound("there is no sandbox: payments runs on Stripe")
        if not payment_method:
            raise InvalidArgument.field("payment_method", "is required", "required")
        async with self._uow(write=False) as uow:
            order = await uow.orders.for_intent(intent_id) if intent_id else None
            purchase = await uow.credit_purchases.for_intent(intent_id) if intent_id else None
            stream_order = await uow.stream_orders.for_intent(intent_id) if intent_id else None
        payer = next(
            (found.client_id for found in (order, purchase, stream_order) if found is not None),
            None,
        )
        if payer is None or payer != user.user_id:
            raise NotFound("no such payment intent")
        try:
            intent = await self._provider.confirm_payment_intent(
                intent_id,
                idempotency_key=idempotency_key("confirm", intent_id, payment_method),
                payment_method=payment_method,
            )
        except ProviderRejected as refused:
            raise FailedPrecondition(refused.message, reason="PAYMENT_NOT_CONFIRMABLE") from None
        if stream_order is not None:
            return StreamOrderView(stream_order, intent.status)
        if order is None:
            assert purchase is not None
            return CreditPurchaseView(purchase, intent.status)
        return CheckoutView(order, intent.status)


async def refund_booking(
    uow: PaymentsUnitOfWork,
    provider: PaymentProvider,
    booking_id: str,
    percent: int,
    payment_id: str | None = None,
) -> None:
    """Gives back percent of what a booking's order was paid: to the card (the provider's
    refund keyed by the booking, so a retry refunds once) and to credits, posted once per
    booking (refund.issued). Nothing for a booking never paid, nor when the payment named is
    not its order's (one payments never took)."""
    order = await uow.orders.for_booking(booking_id)
    if order is None or order.status is not OrderStatus.PAID:
        return
    if payment_id is not None and payment_id not in (order.payment_intent_id, order.id):
        return
    if await uow.ledger.find(TransactionKind.REFUND, f"bookings/{booking_id}") is not None:
        return
    card_minor, credit_minor = order.refund_shares(percent)
    if card_minor + credit_minor == 0:
        return
    now = uow.clock.now()
    refund_id = f"credit:{order.id}"
    if card_minor:
        refund_id = (await _card_refund(provider, order, card_minor)).id
    if not await uow.ledger.post(order.refund(new_id(), card_minor, credit_minor, now)):
        return  # a concurrent delivery about the booking posted it (and told of it) first
    uow.record(
        RefundIssued(
            refund_id,
            order.payment_intent_id or order.id,
            order,
            Money(card_minor + credit_minor, order.amount.currency),
            now,
        )
    )


async def _card_refund(provider: PaymentProvider, order: Order, card_minor: int) -> Refund:
    """The card's share of a booking's refund, made once: the key answers a retry within
    Stripe's 24 hours; after that (a redelivery that waited, an event replayed from its dead
    letters) the booking id in the metadata of the intent's refunds recognises it."""
    assert order.payment_intent_id is not None
    for made in await provider.refunds_of(order.payment_intent_id):
        if made.metadata.get("booking_id") == order.booking_id:
            return made
    return await provider.create_refund(
        payment_intent_id=order.payment_intent_id,
        idempotency_key=idempotency_key("refund", order.booking_id),
        amount=card_minor,
        metadata={"booking_id": order.booking_id, "order_id": order.id},
    )


async def release_order(
    uow: PaymentsUnitOfWork, provider: PaymentProvider, booking_id: str
) -> None:
    """A booking that ended unpaid (lapsed, declined, cancelled) lets its order go: its
    payment intent is cancelled at the provider, so nobody pays for it later, and the credits
    it held go back to the client (refund.issued), once. An intent the client paid meanwhile
    cannot be cancelled: its webhook pays the order, and booking sends that payment back."""
    order = await uow.orders.for_booking(booking_id)
    if order is None or order.status is not OrderStatus.OPEN:
        return
    if order.payment_intent_id:
        try:
            await provider.cancel_payment_intent(
                order.payment_intent_id, idempotency_key=idempotency_key("cancel", order.id)
            )
        except ProviderRejected:
            intent = await provider.retrieve_payment_intent(order.payment_intent_id)
            if intent.status is not PaymentStatus.CANCELED:
                return  # paid meanwhile: the webhook settles it
    now = uow.clock.now()
    try:
        await uow.orders.close(order.id, OrderStatus.RELEASED, now)
    except WrongState:
        return  # another delivery released it
    if order.credit_minor:
        await uow.ledger.post(order.refund(new_id(), 0, order.credit_minor, now))
        uow.record(RefundIssued(f"credit:{order.id}", order.id, order, order.credit, now))


async def _order_of(uow: PaymentsUnitOfWork, intent: PaymentIntent) -> Order | None:
    """The order an intent pays: by the intent's id, or by the order id in its metadata for
    an intent whose creation's answer never reached the order (a crash, a timeout)."""
    order = await uow.orders.for_intent(intent.id)
    if order is None and intent.order_id:
        order = await uow.orders.get(intent.order_id)
        if order is not None and order.payment_intent_id not in (None, intent.id):
            return None  # another intent is this order's: not one of ours to apply
    return order


def _not_payable(status: PayableStatus) -> FailedPrecondition:
    return FailedPrecondition(
        f"the booking is {status.value}, not awaiting payment",
        reason="BOOKING_NOT_PENDING_PAYMENT",
        metadata={"status": status.value},
    )
