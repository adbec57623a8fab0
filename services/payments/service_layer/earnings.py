"""Earnings: booking.completed makes the practitioner's pending earning and the platform's
commission; the release job makes earnings available once their hold has ended."""

from __future__ import annotations

from datetime import datetime, timedelta

from chassis.ids import new_id
from chassis.jobs import PeriodicJob
from chassis.lifecycle import WrongState
from services.payments.domain.earnings import CompletedBooking, Earning, EarningStatus
from services.payments.service_layer.base import Handlers, commission_schedule
from services.payments.settings import PaymentsSettings
from services.payments.uow import PaymentsUnitOfWork


class UnpaidEarning(RuntimeError):
    """An earning asked for work whose payment the ledger does not hold: a defect, never
    money to make up."""


async def record_earning(
    uow: PaymentsUnitOfWork,
    settings: PaymentsSettings,
    booking: CompletedBooking,
    *,
    reported_paid: bool,
) -> Earning | None:
    """The pending earning of a completed, paid booking, posted with its commission in this
    unit of work (earning.recorded). Nothing again for a booking that already has its
    earning, however often or concurrently its completion arrives: the earning's row is
    claimed by booking first, and the ledger posts each cause once. reported_paid: the
    payment is booking's word (booking.completed), which enters the ledger if payments holds
    no charge for it; otherwise (a stream order) the charge must be there already, and an
    earning without one is refused rather than paid out of nothing."""
    now = uow.clock.now()
    tier = await uow.tiers.tier_at(booking.practitioner_user_id, booking.completed_at)
    earning, recorded = Earning.record(
        new_id(),
        booking,
        tier=tier,
        schedule=commission_schedule(settings),
        hold=timedelta(hours=settings.earning_hold_hours),
        transaction_id=new_id(),
    )
    if not await uow.earnings.add(earning, now):
        return None
    if not await uow.ledger.charged_for(booking.booking_id):
        if not reported_paid:
            raise UnpaidEarning(f"{booking.booking_id} has no payment in the ledger to earn from")
        # Paid before payments kept the ledger (checkout posts the charge from now on):
        # the payment booking.completed reports enters clearing first.
        await uow.ledger.post(earning.charge(new_id(), now))
    await uow.ledger.post(earning.earning_transaction(now))
    uow.record(recorded)
    return earning


class EarningHandlers(Handlers):
    def periodic_jobs(self) -> list[PeriodicJob]:
        every = timedelta(seconds=self._settings.job_interval_seconds)
        return [PeriodicJob("payments.release_earnings", every, lambda: self.release_earnings())]

    async def release_earnings(self, now: datetime | None = None) -> int:
        """Pending earnings whose hold has ended become available (earning.available), each
        once: one reversed or released meanwhile (by a refund, by another replica) is left
        as it is."""
        released = 0
        async with self._uow() as uow:
            now = now or self.now()
            for earning in await uow.earnings.due(now, self._settings.job_batch_size):
                moved, event = earning.release(new_id(), now)
                try:
                    await uow.earnings.move(moved, EarningStatus.PENDING, now)
                except WrongState:
                    continue
                moving = moved.release_transaction(moved.release_transaction_id, now)
                if moving is not None:
                    await uow.ledger.post(moving)
                uow.record(event)
                released += 1
            await uow.commit()
        return released

    async def earning_of(self, booking_id: str) -> Earning | None:
        """The earning a booking made, if any."""
        async with self._uow(write=False) as uow:
            return await uow.earnings.get_by_booking(booking_id)
