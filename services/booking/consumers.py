"""What booking does when other services' events arrive: catalog's service terms, payments'
outcomes, identity's account statuses, streams' session-room attendance."""

from __future__ import annotations

from typing import Any

from chassis.accounts import account_status_subscription
from chassis.auth.principal import AccountStatus
from chassis.bus.consumer import Subscription
from chassis.bus.envelope import ReceivedEvent
from chassis.ids import is_uuid
from chassis.money import Money
from chassis.wire import instant
from estuary.catalog.v1 import events_pb2 as catalog_pb
from estuary.payments.v1 import events_pb2 as payments_pb
from services.booking.domain.attendance import Presence
from services.booking.domain.practitioners import Practitioner
from services.booking.events import (
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    SERVICE_ARCHIVED,
    SERVICE_PUBLISHED,
    SERVICE_UPDATED,
)
from services.booking.service_layer.accounts import follow_account
from services.booking.service_layer.attendance import note_presence
from services.booking.service_layer.bookings import apply_payment, payment_failed
from services.booking.settings import BookingSettings
from services.booking.uow import BookingUnitOfWork
from services.booking.wire import terms_from_event


async def keep_terms(uow: BookingUnitOfWork, event: ReceivedEvent[Any]) -> None:
    """service.published / service.updated: the copy of the service's terms follows (a late,
    older announcement changes nothing); service.archived: it is no longer sold."""
    if event.type == SERVICE_ARCHIVED.name:
        archived: catalog_pb.ServiceArchived = event.message
        held = await uow.terms.get(archived.service_id)
        if held is not None:
            await uow.terms.save(held.archived(instant(archived.archive_time)))
        return
    terms = terms_from_event(event.message.service)
    if await uow.terms.save(terms):
        await uow.practitioners.remember(
            Practitioner(
                terms.practitioner_id, terms.practitioner_user_id, terms.time_zone, terms.updated_at
            )
        )


async def keep_attendance(uow: BookingUnitOfWork, event: ReceivedEvent[Any]) -> None:
    """room.participant_joined / left: the mark of who entered or left a booking's room. A
    message that names no booking or person, or no time, is refused (retried, then
    dead-lettered), never guessed at."""
    joined = event.type == PARTICIPANT_JOINED.name
    when = "join_time" if joined else "leave_time"
    message = event.message
    for field in ("booking_id", "user_id"):
        if not is_uuid(getattr(message, field)):
            raise ValueError(f"{event.type} {event.id}: {field} is not an id")
    if not message.HasField(when):
        raise ValueError(f"{event.type} {event.id}: {when} is missing")
    await note_presence(
        uow,
        booking_id=message.booking_id,
        user_id=message.user_id,
        presence=Presence.JOINED if joined else Presence.LEFT,
        at=instant(getattr(message, when)),
    )


def subscriptions(settings: BookingSettings | None = None) -> tuple[Subscription, ...]:
    """Booking's consumers, with its settings (None: the queues and events alone, as the
    declaration lists them)."""
    configured = settings or BookingSettings()

    async def paid(uow: BookingUnitOfWork, event: ReceivedEvent[Any]) -> None:
        payment: payments_pb.PaymentSucceeded = event.message
        if not payment.booking_id:
            return  # a payment for something else (a stream subscription, a tip)
        await apply_payment(
            uow,
            configured,
            booking_id=payment.booking_id,
            payment_id=payment.payment_id,
            amount=Money(payment.amount.amount_minor, payment.amount.currency),
        )

    async def failed(uow: BookingUnitOfWork, event: ReceivedEvent[Any]) -> None:
        payment: payments_pb.PaymentFailed = event.message
        if payment.booking_id:
            await payment_failed(uow, configured, booking_id=payment.booking_id)

    async def account(uow: Any, user_id: str, status: AccountStatus) -> None:
        await follow_account(uow, configured, user_id, status)

    return (
        account_status_subscription("booking", on_change=account),
        Subscription(
            queue="booking.service-terms",
            events=[SERVICE_PUBLISHED, SERVICE_UPDATED, SERVICE_ARCHIVED],
            handler=keep_terms,
            description="keeps booking's copy of each service's terms",
        ),
        Subscription(
            queue="booking.payments",
            events=[PAYMENT_SUCCEEDED, PAYMENT_FAILED],
            handler=_either(paid, failed),
            description="confirms paid bookings; releases those whose payment failed",
        ),
        Subscription(
            queue="booking.attendance",
            events=[PARTICIPANT_JOINED, PARTICIPANT_LEFT],
            handler=keep_attendance,
            description="keeps who joined and left each virtual booking's session room",
        ),
    )


def _either(paid: Any, failed: Any) -> Any:
    async def handle(uow: BookingUnitOfWork, event: ReceivedEvent[Any]) -> None:
        await (paid if event.type == PAYMENT_SUCCEEDED.name else failed)(uow, event)

    return handle


SUBSCRIPTIONS = subscriptions()
