"""Demo money: the demo client holds credit from a welcome promo code, and the practitioner
they saw most has earnings from those completed sessions and one paid payout, all through
payments' handlers.

While seeding nothing runs, so the bus and the gateway are stood in for: booking's
booking.completed events, waiting in its outbox, are handed to payments' earnings consumer
with their inbox rows, as the bus will deliver them (once the suite runs they are
duplicates, and change nothing); the sandbox's webhooks go straight to payments' webhook
handler instead of the gateway's route. The sessions completed days ago, so their earnings'
holds have ended: the release job makes them available now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from chassis.auth.principal import Role
from chassis.bus.consumer import claim_inbox
from chassis.bus.envelope import decode_event
from chassis.ids import new_id
from chassis.money import Money
from chassis.tables import outbox
from services.payments.domain.ledger import AccountKind
from services.payments.events import BOOKING_COMPLETED
from services.payments.service_layer import Treasury
from services.payments.uow import PaymentsUnitOfWork
from suite.demo import STAFF
from suite.demo_bookings import _user

WELCOME_CODE = "WELCOME-DEMO"
WELCOME_CREDIT = Money(1500, "EUR")
# Payments' consumer of booking.completed.
EARNINGS_QUEUE = "payments.earnings"


class WebhooksToHandler:
    """The sandbox's webhooks handed to payments' webhook handler, as the gateway's route
    hands them when the suite runs."""

    treasury: Treasury | None = None

    async def __call__(self, payload: bytes, signature: str) -> None:
        assert self.treasury is not None, "payments is built before its webhooks come"
        await self.treasury.receive_stripe_event(payload, signature)


@dataclass
class PaymentsReport:
    credit: Money | None = None
    earnings: int = 0
    payout: Money | None = None


async def seed_payments(
    payments: Any, booking: Any, *, client_id: str, paid_out_user_id: str
) -> PaymentsReport:
    """The demo client's credit, and the earnings and payout of the practitioner they saw
    most (nothing without a new client: a seeded client keeps what they had)."""
    report = PaymentsReport()
    if not client_id:
        return report
    treasury: Treasury = payments.treasury
    now = treasury.now()
    await treasury.create_promo_code(
        STAFF, WELCOME_CODE, WELCOME_CREDIT, 1000, now + timedelta(days=365)
    )
    report.credit = (await treasury.redeem_promo_code(_user(client_id), WELCOME_CODE)).amount
    report.earnings = await _deliver_completions(payments, booking)
    await treasury.release_earnings()
    if paid_out_user_id:
        report.payout = await _paid_out(payments, treasury, paid_out_user_id)
    return report


async def _deliver_completions(payments: Any, booking: Any) -> int:
    """booking.completed events from booking's outbox through payments' earnings consumer:
    each with its inbox row, in one unit of work; how many."""
    async with booking.runtime.database.engine.connect() as connection:
        rows = await connection.execute(
            sa.select(outbox.c.headers, outbox.c.content_type, outbox.c.body)
            .where(outbox.c.event_type == BOOKING_COMPLETED.name)
            .order_by(outbox.c.position)
        )
    registry: dict[str, Any] = {BOOKING_COMPLETED.name: BOOKING_COMPLETED}
    earnings = next(s for s in payments.subscriptions if s.queue == EARNINGS_QUEUE)
    delivered = 0
    for row in rows:
        event = decode_event(row.headers, row.content_type, row.body, registry)
        async with payments.runtime.unit_of_work(PaymentsUnitOfWork)() as uow:
            if await claim_inbox(uow, earnings.queue, event.id, event.type):
                await earnings.handler(uow, event)
                await uow.commit()
                delivered += 1
    return delivered


async def _paid_out(payments: Any, treasury: Treasury, user_id: str) -> Money | None:
    """The practitioner onboards on the sandbox's Connect pages and asks for a payout of
    their available balance; its provider's payout.paid reaches payments as a webhook."""
    practitioner = _user(user_id, Role.PRACTITIONER)
    _, link = await treasury.create_payout_account(practitioner)
    await payments.provider.complete_onboarding(link)
    async with payments.runtime.unit_of_work(PaymentsUnitOfWork)(write=False) as uow:
        balances = await uow.ledger.balances_of(user_id)
    currency = next(b.currency for b in balances if b.kind is AccountKind.PRACTITIONER_AVAILABLE)
    payout = await treasury.create_payout(practitioner, currency, new_id())
    await payments.provider.deliver_webhooks()
    return payout.amount
