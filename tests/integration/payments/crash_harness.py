"""Payments in a process of its own, killed (SIGKILL) as soon as a named provider call returns.

    ESTUARY_TEST_CRASH_AFTER=create_refund \
        python -m tests.integration.payments.crash_harness '<json>'

The JSON names the database (SQLite file or PostgreSQL URL), the settings (the Stripe adapter
pointed at the test's fake Stripe, which lives in the test process, so what the provider made
outlives this one), the frozen instant and one operation: a checkout, a webhook, a booking's
cancellation through the bookings consumer, or a payout request. Payments is built by its own
composition root (bootstrap.build, as world() does); only the provider object is wrapped, so
when the named call returns the process dies before any unit of work records the answer: the
provider has acted, our database has not. It exits 3 if the call never came.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from chassis.auth.principal import Role
from estuary.booking.v1 import events_pb2 as booking_events
from services.payments.events import BOOKING_CANCELLED
from services.payments.provider.port import PaymentProvider
from tests.builders import person
from tests.integration.payments.world import World, world

CRASH_AFTER = "ESTUARY_TEST_CRASH_AFTER"
NEVER_CALLED = 3


def killed_after(provider: PaymentProvider, method: str) -> None:
    """Makes provider.method kill this process the moment it has returned."""
    call: Callable[..., Coroutine[Any, Any, Any]] = getattr(provider, method)

    async def then_killed(*args: Any, **kwargs: Any) -> Any:
        answer = await call(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return answer

    setattr(provider, method, then_killed)


async def checkout(w: World, asked: dict[str, Any]) -> None:
    client = person(asked["client_id"])
    await w.treasury.create_checkout(client, f"bookings/{asked['booking_id']}", asked["request_id"])


async def webhook(w: World, asked: dict[str, Any]) -> None:
    await w.treasury.receive_stripe_event(asked["payload"].encode(), asked["signature"])


async def cancellation(w: World, asked: dict[str, Any]) -> None:
    cancelled = booking_events.BookingCancelled(
        booking=booking_events.BookingSnapshot(booking_id=asked["booking_id"]),
        refund_percent=asked["refund_percent"],
    )
    await w.booking_event(BOOKING_CANCELLED, cancelled, asked["event_id"])


async def payout(w: World, asked: dict[str, Any]) -> None:
    practitioner = person(asked["practitioner_user_id"], Role.PRACTITIONER)
    await w.treasury.create_payout(practitioner, asked["currency"], asked["request_id"])


OPERATIONS = {
    "checkout": checkout,
    "webhook": webhook,
    "cancellation": cancellation,
    "payout": payout,
}


async def run(spec: dict[str, Any], method: str) -> None:
    async with world(spec["database_url"], **spec["settings"]) as w:
        w.clock.advance(datetime.fromisoformat(spec["now"]) - w.clock.now())
        killed_after(w.service.provider, method)
        await OPERATIONS[spec["operation"]](w, spec["arguments"])


def main() -> int:
    asyncio.run(run(json.loads(sys.argv[1]), os.environ[CRASH_AFTER]))
    print(f"{os.environ[CRASH_AFTER]} was never called", file=sys.stderr)
    return NEVER_CALLED


if __name__ == "__main__":
    sys.exit(main())
