"""What booking does when identity says an account changed (the consumer's unit of work):
a suspended practitioner takes no new bookings (read from the statuses at booking time);
an erased account's notes are erased, its places in line given up and its upcoming
bookings cancelled."""

from __future__ import annotations

from datetime import timedelta

from chassis.auth.principal import AccountStatus
from chassis.lifecycle import WrongState
from services.booking.domain.bookings import Actor
from services.booking.domain.waitlist import WaitlistStatus
from services.booking.service_layer.bookings import release
from services.booking.service_layer.waitlist import pass_on_offer
from services.booking.settings import BookingSettings
from services.booking.uow import BookingUnitOfWork

CLIENT_GONE = "the client's account was deleted"
PRACTITIONER_GONE = "the practitioner's account was deleted"


async def follow_account(
    uow: BookingUnitOfWork, settings: BookingSettings, user_id: str, status: AccountStatus
) -> None:
    if status is not AccountStatus.DELETED:
        return
    now = uow.clock.now()
    lasting = timedelta(minutes=settings.waitlist_offer_minutes)
    await uow.bookings.erase_notes_of(user_id)
    for entry in await uow.waitlist.drop_client(user_id):
        if entry.status is WaitlistStatus.OFFERED:
            entry.lapse(now)
            await uow.waitlist.move(entry, WaitlistStatus.OFFERED)
            uow.record(*await pass_on_offer(uow, entry, now, lasting))
        await uow.waitlist.remove(entry.id)
    # As a client: cancelled as if they had cancelled (their policy's refund); as a
    # practitioner: cancelled by booking, refunded in full.
    for who, actor, reason in (
        ("client", Actor.CLIENT, CLIENT_GONE),
        ("practitioner", Actor.SYSTEM, PRACTITIONER_GONE),
    ):
        ids = await uow.bookings.upcoming_ids(
            now=now,
            client_id=user_id if who == "client" else "",
            practitioner_user_id=user_id if who == "practitioner" else "",
        )
        for booking in await uow.bookings.get_many(ids):
            before = booking.status
            event = booking.cancel(actor, now, reason)
            try:
                await uow.bookings.move(booking, before)
            except WrongState:
                continue
            uow.record(event, *await release(uow, booking, now, settings))
