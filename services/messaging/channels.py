"""Text messages and push notifications: a port per channel, the adapters behind them, and
the job that sends the queued ones.

Only a logging adapter exists so far (a provider's would implement the same port): it
writes that a message went out, to whom in part, and never its words, which may one day
carry something a log must not hold. A delivery is marked sent only after the provider
took it, as mail is; each carries its delivery id, a provider's idempotency key, so a
retry after a crash between the two is a copy the provider can recognise."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from opentelemetry import metrics

from chassis.clock import Clock
from chassis.jobs import PeriodicJob
from services.messaging import events
from services.messaging.domain.notifications import Channel, Kind
from services.messaging.domain.webhooks import RetrySchedule
from services.messaging.repository import ChannelDeliveries, QueuedDelivery
from services.messaging.settings import PUSH_PROVIDERS, SMS_PROVIDERS, MessagingSettings
from services.messaging.uow import MessagingUnitOfWork

log = logging.getLogger(__name__)

_meter = metrics.get_meter("estuary")
channel_sent = _meter.create_counter(
    "estuary.notifications.channel_sent",
    unit="{message}",
    description="Text messages and pushes a provider took, by channel.",
)
channel_failed = _meter.create_counter(
    "estuary.notifications.channel_failed",
    unit="{attempt}",
    description="Attempts at a text message or push that failed, by channel.",
)


@dataclass(frozen=True)
class TextMessage:
    """One SMS: its delivery id (the provider's idempotency key), where and what."""

    delivery_id: str
    kind: Kind
    to: str
    text: str


@dataclass(frozen=True)
class PushMessage:
    """One push notification, to every device of its recipient."""

    delivery_id: str
    kind: Kind
    device_tokens: tuple[str, ...]
    title: str
    body: str
    # What a tap opens, e.g. "bookings/{id}".
    subject: str


class SmsProvider(Protocol):
    """Who sends text messages; raises when the message was not taken."""

    async def send(self, message: TextMessage) -> None: ...


class PushProvider(Protocol):
    """Who sends push notifications; raises when the notification was not taken."""

    async def send(self, message: PushMessage) -> None: ...


def masked_number(number: str) -> str:
    """A phone number as a log may hold it: its country prefix and last two digits."""
    return f"{number[:3]}{'*' * max(len(number) - 5, 0)}{number[-2:]}"


def token_fingerprint(token: str) -> str:
    """A device token as a log may hold it: enough of its hash to tell devices apart."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class LoggingSms:
    """Writes each text message's delivery to the log: no provider, no words."""

    async def send(self, message: TextMessage) -> None:
        log.info(
            "sms %s (%s) to %s: %d characters",
            message.delivery_id,
            message.kind.value,
            masked_number(message.to),
            len(message.text),
        )


class LoggingPush:
    """Writes each push's delivery to the log: no provider, no words."""

    async def send(self, message: PushMessage) -> None:
        log.info(
            "push %s (%s) to %s",
            message.delivery_id,
            message.kind.value,
            ", ".join(token_fingerprint(t) for t in message.device_tokens),
        )


_SMS: Mapping[str, Callable[[], SmsProvider]] = {"log": LoggingSms}
_PUSH: Mapping[str, Callable[[], PushProvider]] = {"log": LoggingPush}
if tuple(_SMS) != SMS_PROVIDERS or tuple(_PUSH) != PUSH_PROVIDERS:
    raise ValueError("the settings' providers and channels.py's adapters differ")


def sms_provider_for(settings: MessagingSettings) -> SmsProvider:
    """The adapter ESTUARY_MESSAGING_SMS_PROVIDER names (the settings refused others)."""
    return _SMS[settings.messaging_sms_provider]()


def push_provider_for(settings: MessagingSettings) -> PushProvider:
    """The adapter ESTUARY_MESSAGING_PUSH_PROVIDER names (the settings refused others)."""
    return _PUSH[settings.messaging_push_provider]()


class ChannelSender:
    """The job that sends queued text messages and pushes to where each user can be reached
    now: each due delivery once per run, failures retried with back-off up to a bound."""

    def __init__(
        self,
        unit_of_work: Callable[..., MessagingUnitOfWork],
        sms: SmsProvider,
        push: PushProvider,
        settings: MessagingSettings,
        clock: Clock,
    ) -> None:
        self._unit_of_work = unit_of_work
        self.sms = sms
        self.push = push
        self._settings = settings
        self._clock = clock
        # Partner webhooks' schedule, without their jitter: one user's texts hit no
        # provider all at once.
        self.schedule = RetrySchedule(
            timedelta(seconds=settings.channel_retry_seconds),
            timedelta(seconds=settings.channel_retry_max_seconds),
            jitter=0.0,
            max_attempts=settings.channel_max_attempts,
        )

    async def send_due(self) -> int:
        """Sends what is due; how many the providers took."""
        s = self._settings
        # Longer than a provider's call may take, so no other run takes one still being sent.
        hold = timedelta(minutes=2)
        async with self._unit_of_work() as uow:
            claimed = await uow.channel_deliveries.claim_due(
                self._clock.now(), s.channel_batch_size, hold
            )
            await uow.commit()
        sent = 0
        for delivery in claimed:
            sent += await self._send(delivery)
        return sent

    async def _send(self, delivery: QueuedDelivery) -> int:
        async with self._unit_of_work(write=False) as uow:
            recipient = await uow.recipients.get(delivery.recipient_user_id)
            devices = await uow.push_devices.of(delivery.recipient_user_id)
        try:
            if delivery.channel is Channel.SMS:
                if recipient is None or not recipient.phone_number:
                    return await self._settle(delivery, ChannelDeliveries.DROPPED, "no number")
                await self.sms.send(
                    TextMessage(
                        delivery.id,
                        delivery.kind,
                        recipient.phone_number,
                        f"{delivery.title}\n{delivery.body}",
                    )
                )
            else:
                if not devices:
                    return await self._settle(delivery, ChannelDeliveries.DROPPED, "no device")
                await self.push.send(
                    PushMessage(
                        delivery.id,
                        delivery.kind,
                        tuple(d.token for d in devices),
                        delivery.title,
                        delivery.body,
                        delivery.subject,
                    )
                )
        except Exception as error:
            await self._failed(delivery, error)
            return 0
        channel_sent.add(1, {"channel": delivery.channel.value})
        return await self._settle(delivery, ChannelDeliveries.SENT)

    async def _settle(self, delivery: QueuedDelivery, state: str, note: str = "") -> int:
        """Marks a delivery done; a sent one is told as notification.delivered with it."""
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            await uow.channel_deliveries.finished(delivery.id, state, now, note)
            if state == ChannelDeliveries.SENT:
                uow.emit(
                    events.NOTIFICATION_DELIVERED,
                    events.notification_delivered(
                        delivery.id,
                        delivery.recipient_user_id,
                        delivery.kind,
                        delivery.channel,
                        delivery.event_id,
                        now,
                    ),
                    subject=f"users/{delivery.recipient_user_id}",
                )
            await uow.commit()
        return int(state == ChannelDeliveries.SENT)

    async def _failed(self, delivery: QueuedDelivery, error: Exception) -> None:
        attempts = delivery.attempts + 1
        channel_failed.add(1, {"channel": delivery.channel.value})
        reason = f"{type(error).__name__}: {error}"
        if self.schedule.gives_up(attempts):
            log.warning(
                "%s %s given up after %d attempts: %s",
                delivery.channel.value,
                delivery.id,
                attempts,
                reason,
            )
            await self._settle(delivery, ChannelDeliveries.FAILED, reason)
            return
        retry_at = self._clock.now() + self.schedule.delay(attempts)
        log.warning(
            "%s %s not sent (attempt %d), retried at %s: %s",
            delivery.channel.value,
            delivery.id,
            attempts,
            retry_at.isoformat(),
            reason,
        )
        async with self._unit_of_work() as uow:
            await uow.channel_deliveries.retry_later(delivery.id, retry_at, reason)
            await uow.commit()

    async def trim_finished(self) -> int:
        """Forgets deliveries settled longer ago than mail is kept."""
        before = self._clock.now() - timedelta(hours=self._settings.mail_retention_hours)
        async with self._unit_of_work() as uow:
            trimmed = await uow.channel_deliveries.forget_finished(before)
            await uow.commit()
        return trimmed

    def jobs(self) -> list[PeriodicJob]:
        interval = timedelta(seconds=self._settings.channel_poll_seconds)
        return [
            PeriodicJob("messaging.send_channels", interval, self.send_due),
            PeriodicJob("messaging.trim_channels", timedelta(hours=1), self.trim_finished),
        ]
