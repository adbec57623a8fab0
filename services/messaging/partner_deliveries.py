"""Sending partner webhook deliveries: the job POSTs each due delivery, signed the Standard
Webhooks way, and records how it went. A 2xx is delivered; anything else (another status,
a redirect, a timeout, a refused connection) is tried again after a growing, jittered wait,
until the attempts run out; an endpoint that fails delivery after delivery is switched off.

A delivery is marked delivered only after the partner answered. If this process dies between
the two, the delivery is sent again once its claim lapses: with the same webhook-id, by which
the partner tells the copy (the Standard Webhooks way to be idempotent)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import httpx
from opentelemetry import metrics

from chassis.clock import Clock
from chassis.jobs import PeriodicJob
from chassis.metrics import SCOPE
from services.messaging.domain.webhooks import DeliveryState, Outcome, RetrySchedule, signature
from services.messaging.repository import DueDelivery
from services.messaging.settings import MessagingSettings
from services.messaging.uow import MessagingUnitOfWork

log = logging.getLogger(__name__)

_meter = metrics.get_meter(SCOPE)
webhook_attempts = _meter.create_counter(
    "estuary.partner_webhooks.attempts",
    unit="{attempt}",
    description="Attempts to deliver a partner webhook, by outcome: delivered, retrying "
    "(failed, tried again later) or failed (the last attempt failed: given up).",
)
_OUTCOMES = {state: {"outcome": state} for state in ("delivered", "retrying", "failed")}


def schedule_of(settings: MessagingSettings) -> RetrySchedule:
    """The retry schedule the settings describe."""
    return RetrySchedule(
        first=timedelta(seconds=settings.partner_webhook_retry_seconds),
        longest=timedelta(seconds=settings.partner_webhook_retry_max_seconds),
        jitter=settings.partner_webhook_retry_jitter,
        max_attempts=settings.partner_webhook_max_attempts,
    )


class PartnerWebhookSender:
    """The job that sends due deliveries, concurrently, each once per run."""

    def __init__(
        self,
        unit_of_work: Callable[..., MessagingUnitOfWork],
        settings: MessagingSettings,
        clock: Clock,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._settings = settings
        self._clock = clock
        self.schedule = schedule_of(settings)

    async def send_due(self) -> int:
        """Sends what is due; how many the partners took."""
        s = self._settings
        # Held well past one attempt's timeout (the batch is sent at once), so no other run
        # takes a delivery still being sent.
        hold = timedelta(seconds=s.partner_webhook_timeout_seconds * 3)
        async with self._unit_of_work() as uow:
            claimed = await uow.deliveries.claim_due(
                self._clock.now(), s.partner_webhook_batch_size, hold
            )
            await uow.commit()
        if not claimed:
            return 0
        async with httpx.AsyncClient(
            timeout=s.partner_webhook_timeout_seconds, follow_redirects=False
        ) as client:
            outcomes = await asyncio.gather(*(self._attempt(client, d) for d in claimed))
        for delivery, outcome in zip(claimed, outcomes, strict=True):
            await self._record(delivery, outcome)
        return sum(o.delivered for o in outcomes)

    async def _attempt(self, client: httpx.AsyncClient, delivery: DueDelivery) -> Outcome:
        body = delivery.body.encode()
        stamp = int(self._clock.now().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature(delivery.secret, delivery.id, stamp, body),
        }
        started = time.perf_counter()
        limit = self._settings.partner_webhook_timeout_seconds

        def elapsed() -> int:
            return round((time.perf_counter() - started) * 1000)

        try:
            # One bound on the whole attempt (httpx's own bounds each phase), so a claim
            # always outlives it; the answer's body is never read.
            async with asyncio.timeout(limit):
                async with client.stream(
                    "POST", delivery.url, content=body, headers=headers
                ) as answer:
                    status = answer.status_code
        except TimeoutError:
            return Outcome(0, elapsed(), f"TimeoutError: no answer within {limit} s")
        except Exception as error:
            # Whatever stopped it (refused, reset, TLS, a URL httpx will not take) is a failed
            # attempt on the delivery's record, never a run that dies with its claims held.
            return Outcome(0, elapsed(), f"{type(error).__name__}: {error}"[:500])
        outcome = Outcome(status, elapsed())
        return outcome if outcome.delivered else replace(outcome, error=f"HTTP {status}")

    async def _record(self, delivery: DueDelivery, outcome: Outcome) -> None:
        now = self._clock.now()
        attempts = delivery.attempts + 1
        async with self._unit_of_work() as uow:
            if outcome.delivered:
                await uow.deliveries.attempted(
                    delivery.id, now, outcome, DeliveryState.DELIVERED, None
                )
                await uow.partner_webhooks.succeeded(delivery.webhook_id, now)
                webhook_attempts.add(1, _OUTCOMES["delivered"])
            elif not self.schedule.gives_up(attempts):
                retry_at = now + self.schedule.delay(attempts)
                await uow.deliveries.attempted(
                    delivery.id, now, outcome, DeliveryState.PENDING, retry_at
                )
                webhook_attempts.add(1, _OUTCOMES["retrying"])
                log.warning(
                    "webhook delivery %s to %s failed (attempt %d), retried at %s: %s",
                    delivery.id,
                    delivery.webhook_id,
                    attempts,
                    retry_at.isoformat(),
                    outcome.error,
                )
            else:
                await uow.deliveries.attempted(
                    delivery.id, now, outcome, DeliveryState.FAILED, None
                )
                disabled = await uow.partner_webhooks.gave_up_once_more(
                    delivery.webhook_id, now, self._settings.partner_webhook_disable_after_failures
                )
                webhook_attempts.add(1, _OUTCOMES["failed"])
                log.warning(
                    "webhook delivery %s to %s given up after %d attempts: %s%s",
                    delivery.id,
                    delivery.webhook_id,
                    attempts,
                    outcome.error,
                    "; the endpoint is disabled until staff enable it" if disabled else "",
                )
            await uow.commit()

    async def trim_finished(self) -> int:
        """Forgets deliveries finished longer ago than the retention (the log's old lines,
        and the copies of events they carry)."""
        hours = self._settings.partner_webhook_retention_hours
        before = self._clock.now() - timedelta(hours=hours)
        async with self._unit_of_work() as uow:
            trimmed = await uow.deliveries.forget_finished(before)
            await uow.commit()
        return trimmed

    def jobs(self) -> list[PeriodicJob]:
        every = timedelta(seconds=self._settings.partner_webhook_poll_seconds)
        return [
            PeriodicJob("messaging.send_partner_webhooks", every, self.send_due),
            PeriodicJob("messaging.trim_partner_webhooks", timedelta(hours=1), self.trim_finished),
        ]
