"""Sending the queued mail: over SMTP (aiosmtplib) in the production shape, as files in the
mail folder in the embedded one. A send that fails leaves the mail queued and retried with
back-off, so a server that is down delays mail and never loses it.

A mail is marked sent only after the server accepted it. If this process dies between the
two, the next run sends it again: SMTP has no idempotency key, so each mail carries a
Message-ID made from its own id, by which a mailbox (and a reader) can tell the copy."""

from __future__ import annotations

import email.utils
import logging
import os
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib
from opentelemetry import metrics

from chassis.clock import Clock
from chassis.jobs import PeriodicJob
from services.messaging import events
from services.messaging.domain.notifications import Channel, Kind
from services.messaging.repository import KIND_VALUES, QueuedMail
from services.messaging.settings import MessagingSettings
from services.messaging.uow import MessagingUnitOfWork

log = logging.getLogger(__name__)

_meter = metrics.get_meter("estuary")
mail_sent = _meter.create_counter(
    "estuary.mail.sent", unit="{mail}", description="Mails the SMTP server (or file sink) took."
)
mail_failed = _meter.create_counter(
    "estuary.mail.failed",
    unit="{attempt}",
    description="Attempts to send a mail that failed; the mail stays queued for a retry.",
)


class Mailer(Protocol):
    """Where mail goes."""

    async def send(self, message: EmailMessage) -> None: ...


def message_of(mail: QueuedMail, sender: str) -> EmailMessage:
    """A queued mail as an RFC 5322 message: plain text with an HTML alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Date"] = email.utils.format_datetime(mail.created_at)
    message["Message-ID"] = f"<{mail.id}@estuary.local>"
    message.set_content(mail.text_body)
    message.add_alternative(mail.html_body, subtype="html")
    return message


def mail_id_of(message: EmailMessage) -> str:
    """The queued mail's id a message was made from."""
    return str(message["Message-ID"]).strip("<>").split("@")[0]


class FileMailer:
    """The embedded mode's sink: each mail a file <mail id>.eml in the mail folder. Writing
    the same mail twice leaves one file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{mail_id_of(message)}.eml"
        partial = target.with_suffix(".partial")
        partial.write_bytes(message.as_bytes())
        os.replace(partial, target)


class SmtpMailer:
    """An SMTP server, as configured by ESTUARY_SMTP_*."""

    def __init__(self, settings: MessagingSettings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage) -> None:
        s = self._settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=s.smtp_password or None,
            start_tls=s.smtp_starttls,
            timeout=s.smtp_timeout_seconds,
        )


def mailer_for(settings: MessagingSettings) -> Mailer:
    """SMTP when a host is set, otherwise files in the mail folder."""
    return SmtpMailer(settings) if settings.smtp_host else FileMailer(settings.mail_folder())


class MailSender:
    """The job that sends queued mail: each due mail once per run, failures retried later."""

    def __init__(
        self,
        unit_of_work: Callable[..., MessagingUnitOfWork],
        mailer: Mailer,
        settings: MessagingSettings,
        clock: Clock,
    ) -> None:
        self._unit_of_work = unit_of_work
        self.mailer = mailer
        self._settings = settings
        self._clock = clock

    def retry_delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failure: doubling from the first, capped."""
        s = self._settings
        seconds = min(s.mail_retry_seconds * 2 ** max(attempts - 1, 0), s.mail_retry_max_seconds)
        return timedelta(seconds=seconds)

    async def send_due(self) -> int:
        """Sends what is due; how many the server took."""
        s = self._settings
        # Held for longer than one SMTP conversation may take, so no other run takes a mail
        # that is still being sent.
        hold = timedelta(seconds=s.smtp_timeout_seconds * 2)
        async with self._unit_of_work() as uow:
            claimed = await uow.mails.claim_due(self._clock.now(), s.mail_batch_size, hold)
            await uow.commit()
        sent = 0
        for mail in claimed:
            try:
                await self.mailer.send(message_of(mail, s.mail_from))
            except Exception as error:
                attempts = mail.attempts + 1
                retry_at = self._clock.now() + self.retry_delay(attempts)
                mail_failed.add(1)
                log.warning(
                    "mail %s not sent (attempt %d), retried at %s: %s",
                    mail.id,
                    attempts,
                    retry_at.isoformat(),
                    error,
                )
                async with self._unit_of_work() as uow:
                    await uow.mails.failed(mail.id, retry_at, f"{type(error).__name__}: {error}")
                    await uow.commit()
                continue
            async with self._unit_of_work() as uow:
                now = self._clock.now()
                await uow.mails.sent(mail.id, now)
                if mail.kind in KIND_VALUES:
                    uow.emit(
                        events.NOTIFICATION_DELIVERED,
                        events.notification_delivered(
                            mail.id,
                            mail.recipient_user_id,
                            Kind(mail.kind),
                            Channel.EMAIL,
                            mail.event_id,
                            now,
                        ),
                        subject=f"users/{mail.recipient_user_id}",
                    )
                await uow.commit()
            mail_sent.add(1)
            sent += 1
        return sent

    async def trim_sent(self) -> int:
        """Forgets mail sent longer ago than the retention: its tokens are long spent."""
        before = self._clock.now() - timedelta(hours=self._settings.mail_retention_hours)
        async with self._unit_of_work() as uow:
            trimmed = await uow.mails.forget_sent(before)
            await uow.commit()
        return trimmed

    def jobs(self) -> list[PeriodicJob]:
        interval = timedelta(seconds=self._settings.mail_poll_seconds)
        return [
            PeriodicJob("messaging.send_mail", interval, self.send_due),
            PeriodicJob("messaging.trim_mail", timedelta(hours=1), self.trim_sent),
        ]
