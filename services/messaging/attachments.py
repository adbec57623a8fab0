"""Attachments' URLs for a conversation's participants, and the deletion of attachments'
objects from the media store (the chassis's sweep): of deleted messages, of erased users and
of upload slots no message took in time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta

from chassis.clock import Clock
from chassis.media import MediaStore
from chassis.media.sweeper import MediaSweeper
from services.messaging.domain.conversations import Message
from services.messaging.settings import MessagingSettings
from services.messaging.uow import MessagingUnitOfWork


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


class AttachmentSweeper(MediaSweeper[MessagingUnitOfWork]):
    """Deletes the objects of discarded attachments: of deleted messages, of erased users and
    of upload slots no message took within ESTUARY_ATTACHMENT_PENDING_HOURS."""

    def __init__(
        self,
        unit_of_work: Callable[..., MessagingUnitOfWork],
        media: MediaStore,
        settings: MessagingSettings,
        clock: Clock,
    ) -> None:
        super().__init__(
            unit_of_work,
            lambda uow: uow.attachments,
            media,
            clock,
            job="messaging.sweep_attachments",
            pending=timedelta(hours=settings.attachment_pending_hours),
            interval=timedelta(seconds=settings.attachment_sweep_seconds),
        )
