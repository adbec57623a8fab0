"""What payments does when other services' events arrive: booking's new paid bookings are
what checkout charges, its cancellations and unpayable payments are refunded, its completions
make earnings; streams' new tier prices are billed to the tiers' subscribers from their next
renewal; identity's account statuses are followed like every service's, and an erased
account is billed no more."""

from __future__ import annotations

from typing import Any

from chassis.accounts import USER_DELETED, account_status_subscription
from chassis.bus.consumer import Subscription
from chassis.bus.envelope import ReceivedEvent
from chassis.ids import is_uuid
from chassis.money import money_from_proto
from chassis.wire import instant
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.streams.v1 import events_pb2 as streams_pb
from services.payments.domain.earnings import CompletedBooking
from services.payments.domain.orders import PayableBooking, PayableStatus
from services.payments.domain.stream_subscriptions import tier_name
from services.payments.events import (
    BOOKING_CANCELLED,
    BOOKING_COMPLETED,
    BOOKING_CONFIRMED,
    BOOKING_CREATED,
    BOOKING_EXPIRED,
    BOOKING_NO_SHOW,
    BOOKING_REFUND_REQUESTED,
    STREAM_TIER_REPRICED,
)
from services.payments.provider.port import PaymentProvider
from services.payments.sale_terms import StreamCatalogue
from services.payments.service_layer.checkout import refund_booking, release_order
from services.payments.service_layer.earnings import record_earning
from services.payments.service_layer.erasures import stop_billing_erased_user
from services.payments.service_layer.stream_subscriptions import reprice_stream_tier
from services.payments.settings import PaymentsSettings
from services.payments.uow import PaymentsUnitOfWork


def completed_booking(event: ReceivedEvent[Any]) -> CompletedBooking | None:
    """What a booking.completed, or a booking.no_show, says about the booking and its
    payment (None for a booking nothing was paid for: a free one earns nothing). A client who
    did not come keeps nothing back: the practitioner kept the time for them and earns as
    for a session that took place, from the moment it was marked. A message that names no
    booking or practitioner, or money that is not money, is refused (retried, then
    dead-lettered), never guessed at."""
    message: booking_pb.BookingCompleted | booking_pb.BookingNoShow = event.message
    booking = message.booking
    for field in ("booking_id", "practitioner_user_id"):
        if not is_uuid(getattr(booking, field)):
            raise ValueError(f"{event.type} {event.id}: booking.{field} is not an id")
    if message.amount_paid.amount_minor == 0:
        return None
    paid = money_from_proto(message.amount_paid, "amount_paid")
    when = "mark_time" if isinstance(message, booking_pb.BookingNoShow) else "complete_time"
    completed_at = instant(getattr(message, when)) if message.HasField(when) else event.time
    return CompletedBooking(
        booking_id=booking.booking_id,
        practitioner_user_id=booking.practitioner_user_id,
        practitioner_id=booking.practitioner_id,
        service_id=booking.service_id,
        client_id=booking.client_id,
        amount_paid=paid,
        completed_at=completed_at,
    )


def payable_booking(event: ReceivedEvent[Any]) -> PayableBooking | None:
    """What a booking.created says is owed: its price and client, for a booking that waits
    for payment (None for one confirmed at once: free, or a redemption)."""
    message: booking_pb.BookingCreated = event.message
    booking = message.booking
    if not message.HasField("hold_expire_time") or message.booking.price.amount_minor <= 0:
        return None
    for field in ("booking_id", "client_id"):
        if not is_uuid(getattr(booking, field)):
            raise ValueError(f"booking.created {event.id}: booking.{field} is not an id")
    return PayableBooking(
        booking.booking_id,
        booking.client_id,
        money_from_proto(booking.price, "booking.price"),
        PayableStatus.PENDING_PAYMENT,
    )


def repriced_tier(event: ReceivedEvent[Any]) -> str:
    """The tier a stream.tier_repriced names, "streams/{id}/tiers/{level}"; a message naming
    no paid tier of a stream is refused (retried, then dead-lettered), never guessed at."""
    message: streams_pb.TierRepriced = event.message
    stream_id = message.stream.removeprefix("streams/")
    if message.stream != f"streams/{stream_id}" or not is_uuid(stream_id) or message.level < 1:
        raise ValueError(f"stream.tier_repriced {event.id}: names no paid tier of a stream")
    if message.tier != tier_name(stream_id, message.level):
        raise ValueError(f"stream.tier_repriced {event.id}: its tier is not its stream's")
    return message.tier


SETTLED = {
    BOOKING_CONFIRMED.name: PayableStatus.CONFIRMED,
    BOOKING_CANCELLED.name: PayableStatus.CANCELLED,
    BOOKING_EXPIRED.name: PayableStatus.EXPIRED,
}


def subscriptions(
    settings: PaymentsSettings | None = None,
    provider: PaymentProvider | None = None,
    streams: StreamCatalogue | None = None,
) -> tuple[Subscription, ...]:
    """Payments' consumers, with its settings, provider and streams (None: the queues and
    events alone, as the declaration lists them)."""
    configured = settings or PaymentsSettings()

    async def follow_booking(uow: PaymentsUnitOfWork, event: ReceivedEvent[Any]) -> None:
        now = uow.clock.now()
        if event.type == BOOKING_CREATED.name:
            payable = payable_booking(event)
            if payable is not None:
                await uow.payable.add(payable, now)
            return
        if event.type == BOOKING_REFUND_REQUESTED.name:
            # A payment booking could not honour (its time was taken, or it was cancelled
            # before the payment arrived): all of it goes back.
            assert provider is not None
            requested = event.message
            await refund_booking(uow, provider, requested.booking_id, 100, requested.payment_id)
            return
        booking_id = event.message.booking.booking_id
        await uow.payable.settle(booking_id, SETTLED[event.type], now)
        if event.type == BOOKING_CONFIRMED.name:
            return
        assert provider is not None
        await release_order(uow, provider, booking_id)
        if event.type == BOOKING_CANCELLED.name:
            await refund_booking(uow, provider, booking_id, event.message.refund_percent)

    async def earn(uow: PaymentsUnitOfWork, event: ReceivedEvent[Any]) -> None:
        booking = completed_booking(event)
        if booking is not None:
            await record_earning(uow, configured, booking, reported_paid=True)

    async def stop_billing(uow: PaymentsUnitOfWork, event: ReceivedEvent[Any]) -> None:
        user_id = event.message.user_id
        if not is_uuid(user_id):
            raise ValueError(f"{event.type} {event.id}: user_id is not an id")
        assert provider is not None
        await stop_billing_erased_user(uow, provider, user_id)

    async def reprice(uow: PaymentsUnitOfWork, event: ReceivedEvent[Any]) -> None:
        tier = repriced_tier(event)
        assert provider is not None and streams is not None
        await reprice_stream_tier(uow, provider, streams, tier)

    return (
        account_status_subscription("payments"),
        # A queue of its own: a provider that does not answer delays the cancellations
        # (retried), never the refusal of the account's writes.
        Subscription(
            queue="payments.erasures",
            events=[USER_DELETED],
            handler=stop_billing,
            description="ends an erased user's subscriptions at the provider, and readers' "
            "of their streams at the period's end",
        ),
        Subscription(
            queue="payments.earnings",
            events=[BOOKING_COMPLETED, BOOKING_NO_SHOW],
            handler=earn,
            description="records the earning and commission of each completed booking, and "
            "of each paid one its client did not come to",
        ),
        Subscription(
            queue="payments.bookings",
            events=[
                BOOKING_CREATED,
                BOOKING_CONFIRMED,
                BOOKING_CANCELLED,
                BOOKING_EXPIRED,
                BOOKING_REFUND_REQUESTED,
            ],
            handler=follow_booking,
            description="keeps what each paid booking costs and refunds what booking says to",
        ),
        Subscription(
            queue="payments.stream-tiers",
            events=[STREAM_TIER_REPRICED],
            handler=reprice,
            description="bills a stream tier's new price to its subscribers from their renewal",
        ),
    )


SUBSCRIPTIONS = subscriptions()
