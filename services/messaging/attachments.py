"""Deleting attachments' objects from the media store: of deleted messages, of erased users
and of upload slots no message took in time. The rows are marked in the transaction that
decides it; this job deletes each object and then its row, so a store that is down only
delays the deletion (the next run tries again), and nobody is handed a URL meanwhile."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta

from chassis.clock import Clock
from chassis.errors import Unavailable
from chassis.jobs import PeriodicJob
from chassis.media import MediaStore
from services.messaging.domain.conversations import Message
from services.messaging.settings import MessagingSettings
from services.messaging.uow import MessagingUnitOfWork

log = logging.getLogger(__name__)

SWEEP_BATCH = 100


async def readable(media: MediaStore, found: Sequence[Message]) -> list[Message]:
    """The messages with a URL to read each attachment: only ever for a participant."""
    signed_messages = []
    for message in found:
        if message.attachments:
            signed = [
                replace(a, download=await media.download_url(a.reference))
                for a in message.attachments
            ]
            message = replace(message, attachments=tuple(signed))
        signed_messages.append(message)
    return signed_messages


class AttachmentSweeper:
    """Deletes the objects of discarded attachments."""

    def __init__(
        self,
        unit_of_work: Callable[..., MessagingUnitOfWork],
        media: MediaStore,
        settings: MessagingSettings,
        clock: Clock,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._media = media
        self._settings = settings
        self._clock = clock

    async def sweep(self) -> int:
        """Discards upload slots left unsent too long, then deletes the objects of a batch of
        discarded attachments; how many were deleted."""
        unsent_since = self._clock.now() - timedelta(hours=self._settings.attachment_pending_hours)
        async with self._unit_of_work() as uow:
            await uow.attachments.discard_unsent(unsent_since)
            due = await uow.attachments.discarded(SWEEP_BATCH)
            await uow.commit()
        deleted = 0
        for attachment_id, key in due:
            try:
                await self._media.delete(key)
            except (Unavailable, OSError):
                log.warning(
                    "could not delete an attachment's object; retried next run", exc_info=True
                )
                continue
            async with self._unit_of_work() as uow:
                await uow.attachments.forget(attachment_id)
                await uow.commit()
            deleted += 1
        return deleted

    def jobs(self) -> list[PeriodicJob]:
        interval = timedelta(seconds=self._settings.attachment_sweep_seconds)
        return [PeriodicJob("messaging.sweep_attachments", interval, self.sweep)]
