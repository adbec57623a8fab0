"""Stream orders: a client's tip to a creator (on a stream or a post) and a post's one-off
unlock. What is sold, to whom the money goes and an unlock's price are streams' word (asked
over gRPC), never the client's; a tip's amount is the client's, within configured bounds.

An order is paid as a booking's checkout is: the client's credits first (spent in the unit
of work that records the order), the rest by one payment intent keyed by the order's id and
naming it in its metadata. The webhook that says the intent succeeded moves the order to PAID
(guarded), posts the card's charge, and records the creator's earning less the platform's
commission (the same rules and hold as a booking's) with stream_order.paid, all in the unit
of work that claims the provider's event: once, however often it is delivered."""

from __future__ import annotations

from dataclasses import dataclass, replace

from chassis.auth.principal import Principal
from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.idempotency import IdempotentRequest
from chassis.ids import is_uuid, new_id
from chassis.lifecycle import WrongState
from chassis.money import Money
from services.payments.domain.ledger import Account, AccountKind
from services.payments.domain.stream_orders import (
    SaleTerms,
    StreamOrder,
    StreamOrderKind,
    StreamOrderPaid,
    StreamOrderStatus,
)
from services.payments.provider.port import PaymentIntent, PaymentStatus, idempotency_key
from services.payments.service_layer.base import Handlers, caller, paid_by
from services.payments.service_layer.credits import spendable_lots, take_from_lots
from services.payments.service_layer.earnings import record_earning
from services.payments.settings import PaymentsSettings
from services.payments.uow import PaymentsUnitOfWork


@dataclass(frozen=True)
class StreamOrderView:
    """A stream order and where its payment stands."""

    order: StreamOrder
    status: PaymentStatus


class StreamOrderHandlers(Handlers):
    async def create_stream_order(
        self,
        principal: Principal | None,
        kind: StreamOrderKind | None,
        target: str,
        amount: Money | None,
        request_id: str,
    ) -> StreamOrderView:
        """A tip or an unlock by the caller, made once whatever the retries: the terms
        streams gives, the caller's credits applied first, then one payment intent."""
        user = caller(principal)
        if kind is None:
            raise InvalidArgument.field("kind", "must be tip or unlock", "required")
        _target_ids(target, kind)
        idempotent = IdempotentRequest.of(
            "CreateStreamOrder",
            user,
            request_id,
            kind.value,
            target,
            "" if amount is None else f"{amount.amount_minor} {amount.currency}",
        )
        terms = await self._stream_catalogue().terms(target)
        if terms.owner_user_id == user.user_id:
            raise FailedPrecondition(
                "this is your own stream: you cannot tip it or buy its posts",
                reason="OWN_STREAM",
            )
        price = self._price(kind, terms, amount)
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            order = await uow.stream_orders.get(earlier) if earlier else None
            if order is None:
                order = await self._open(uow, user, kind, terms, price)
            await uow.remember(idempotent, order.id)
            await uow.commit()
        return await self._with_stream_intent(order)

    def _price(self, kind: StreamOrderKind, terms: SaleTerms, amount: Money | None) -> Money:
        """An unlock's price is streams'; a tip's amount the client's, in the stream's
        currency and within the configured bounds."""
        if kind is StreamOrderKind.UNLOCK:
            if terms.unlock_price is None:
                raise FailedPrecondition(
                    "this post is not sold on its own: subscribe to its tier to read it",
                    reason="NOT_FOR_SALE",
                )
            return terms.unlock_price
        if amount is None:
            raise InvalidArgument.field("amount", "is required for a tip", "required")
        if amount.currency != terms.currency:
            raise InvalidArgument.field(
                "amount.currency", f"must be the stream's currency, {terms.currency}", "invalid"
            )
        least, most = self._settings.tip_bounds(terms.currency)
        if not least.amount_minor <= amount.amount_minor <= most.amount_minor:
            raise InvalidArgument.field(
                "amount.amount_minor",
                f"must be between {least.amount_minor} and {most.amount_minor} minor units of "
                f"{terms.currency}",
                "out_of_range",
            )
        return amount

    async def _open(
        self,
        uow: PaymentsUnitOfWork,
        user: Principal,
        kind: StreamOrderKind,
        terms: SaleTerms,
        price: Money,
    ) -> StreamOrder:
        if kind is StreamOrderKind.UNLOCK:
            # One unlock order per buyer and post: asking again answers it, paid or not.
            earlier = await uow.stream_orders.unlock_of(user.user_id, terms.post_id)
            if earlier is not None:
                return earlier
        now = self.now()
        # The client's expiring credit is locked before their balance is read, as checkout.
        lots = await spendable_lots(uow, user.user_id, price.currency, now)
        credit = Account(user.user_id, AccountKind.CLIENT_CREDIT, price.currency)
        order = StreamOrder.open(
            new_id(), user.user_id, kind, terms, price, await uow.ledger.balance(credit), now
        )
        if not await uow.stream_orders.add(order, now):
            # A concurrent unlock of the same post by the same buyer made it: theirs it is.
            found = await uow.stream_orders.unlock_of(user.user_id, terms.post_id)
            assert found is not None
            return found
        if order.credit_minor:
            await uow.ledger.post(order.credit_spend(new_id(), now))
            await take_from_lots(uow, lots, order.credit_minor, now)
        if order.status is StreamOrderStatus.PAID:
            await earn_stream_order(uow, self._settings, order)
        return order

    async def _with_stream_intent(self, order: StreamOrder) -> StreamOrderView:
        """The order with its payment intent, made now under the order's key if it has none
        yet (the same intent for every retry)."""
        if order.card_minor == 0:
            return StreamOrderView(order, PaymentStatus.SUCCEEDED)
        intent = await self._payment_intent(
            order.payment_intent_id,
            amount=order.card,
            # Not a booking's order: the webhook finds this one by the metadata below.
            order_id="",
            key=idempotency_key("stream_order", order.id),
            metadata={"stream_order_id": order.id, "client_id": order.client_id},
        )
        if order.payment_intent_id is None:
            async with self._uow() as uow:
                await uow.stream_orders.attach_intent(order.id, intent.id, intent.client_secret)
                await uow.commit()
            order = replace(order, payment_intent_id=intent.id, client_secret=intent.client_secret)
        return StreamOrderView(order, intent.status)


async def stream_order_of(uow: PaymentsUnitOfWork, intent: PaymentIntent) -> StreamOrder | None:
    """The stream order an intent pays, by its id or its metadata."""
    return await paid_by(
        intent, uow.stream_orders.for_intent, uow.stream_orders.get, "stream_order_id"
    )


async def apply_stream_order_intent(
    uow: PaymentsUnitOfWork, settings: PaymentsSettings, order: StreamOrder, intent: PaymentIntent
) -> None:
    """A succeeded intent pays its order once: OPEN -> PAID (guarded), the card's charge, and
    the creator's earning with stream_order.paid. A decline changes nothing: the order stays
    open for another card."""
    if intent.status is not PaymentStatus.SUCCEEDED or intent.amount != order.card_minor:
        return
    now = uow.clock.now()
    try:
        await uow.stream_orders.pay(order.id, now)
    except WrongState:
        return  # paid by an earlier event about the same intent
    if order.payment_intent_id is None:
        await uow.stream_orders.attach_intent(order.id, intent.id, intent.client_secret)
    await uow.ledger.post(order.card_charge(new_id(), f"payment_intents/{intent.id}", now))
    await earn_stream_order(uow, settings, replace(order, status=StreamOrderStatus.PAID))


async def earn_stream_order(
    uow: PaymentsUnitOfWork, settings: PaymentsSettings, order: StreamOrder
) -> None:
    """The creator's earning of a paid order (a tip, an unlock, a subscription's invoice),
    less the commission of their platform tier, and stream_order.paid (once: the earning is
    claimed by the order's id)."""
    now = uow.clock.now()
    earning = await record_earning(uow, settings, order.as_paid_work(now), reported_paid=False)
    if earning is not None:
        uow.record(StreamOrderPaid(order, earning, now))


def _target_ids(target: str, kind: StreamOrderKind) -> tuple[str, str]:
    """The stream and post ids a target names; an unlock names a post."""
    parts = target.split("/")
    stream_ok = len(parts) >= 2 and parts[0] == "streams" and is_uuid(parts[1])
    if stream_ok and len(parts) == 2 and kind is StreamOrderKind.TIP:
        return parts[1], ""
    if stream_ok and len(parts) == 4 and parts[2] == "posts" and is_uuid(parts[3]):
        return parts[1], parts[3]
    shape = "streams/{id}/posts/{id}" if kind is StreamOrderKind.UNLOCK else "streams/{id}"
    if kind is StreamOrderKind.TIP:
        shape += " or streams/{id}/posts/{id}"
    raise InvalidArgument.field("target", f"must be {shape}", "invalid")
