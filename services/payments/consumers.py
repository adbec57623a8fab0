"""What payments does when other services' events arrive: booking's completions make
earnings; identity's account statuses are followed like every service's."""

from __future__ import annotations

from typing import Any

from chassis.accounts import account_status_subscription
from chassis.bus.consumer import Subscription
from chassis.bus.envelope import ReceivedEvent
from chassis.ids import is_uuid
from chassis.money import money_from_proto
from chassis.wire import instant
from estuary.booking.v1 import events_pb2 as booking_pb
from services.payments.domain.earnings import CompletedBooking
from services.payments.events import BOOKING_COMPLETED
from services.payments.service_layer.earnings import record_earning
from services.payments.settings import PaymentsSettings
from services.payments.uow import PaymentsUnitOfWork


def completed_booking(event: ReceivedEvent[Any]) -> CompletedBooking | None:
    """What a booking.completed says about the booking and its payment (None for a booking
    nothing was paid for: a free one earns nothing). A message that names no booking or
    practitioner, or money that is not money, is refused (retried, then dead-lettered),
    never guessed at."""
    message: booking_pb.BookingCompleted = event.message
    booking = message.booking
    for field in ("booking_id", "practitioner_user_id"):
        if not is_uuid(getattr(booking, field)):
            raise ValueError(f"booking.completed {event.id}: booking.{field} is not an id")
    if message.amount_paid.amount_minor == 0:
        return None
    paid = money_from_proto(message.amount_paid, "amount_paid")
    completed_at = (
        instant(message.complete_time) if message.HasField("complete_time") else event.time
    )
    return CompletedBooking(
        booking_id=booking.booking_id,
        practitioner_user_id=booking.practitioner_user_id,
        practitioner_id=booking.practitioner_id,
        service_id=booking.service_id,
        client_id=booking.client_id,
        amount_paid=paid,
        completed_at=completed_at,
    )


def subscriptions(settings: PaymentsSettings | None = None) -> tuple[Subscription, ...]:
    """Payments' consumers, with its settings (None: the queues and events alone, as the
    declaration lists them)."""
    configured = settings or PaymentsSettings()

    async def earn(uow: PaymentsUnitOfWork, event: ReceivedEvent[Any]) -> None:
        booking = completed_booking(event)
        if booking is not None:
            await record_earning(uow, configured, booking)

    return (
        account_status_subscription("payments"),
        Subscription(
            queue="payments.earnings",
            events=[BOOKING_COMPLETED],
            handler=earn,
            description="records each completed booking's earning and commission",
        ),
    )


SUBSCRIPTIONS = subscriptions()
