"""Digests of unread messages: one mail for what someone was sent while away, not one per
message.

A message its recipient has not read `message_digest_delay_minutes` after it was sent is
theirs to be told of; the job gathers each such recipient's messages, from every
conversation, into one mail (their preferences, address and erasure respected as for any
notice), and marks the conversations told up to the newest message it named, in the same
unit of work. A user gets at most one digest per delay, so a busy conversation makes a mail
every quarter of an hour at most. The mail's key is derived from the user and the newest
message told, so two runs (or a run retried after a crash) queue it once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from chassis.clock import Clock
from chassis.jobs import PeriodicJob
from services.messaging.domain.conversations import CONVERSATION_PREFIX
from services.messaging.domain.notifications import Kind, Notice
from services.messaging.service_layer import deliver
from services.messaging.settings import MessagingSettings
from services.messaging.templates import Templates
from services.messaging.uow import MessagingUnitOfWork

# A namespace of our own for the digests' mail keys (uuid5 of user and newest message).
DIGESTS = uuid.UUID("6f3c1d2e-8b4a-5c7d-9e0f-1a2b3c4d5e6f")
BATCH = 100
SNIPPET = 140


class MessageDigests:
    """The digest job: unread messages past the delay, mailed once per recipient."""

    def __init__(
        self,
        unit_of_work: Callable[..., MessagingUnitOfWork],
        templates: Templates,
        settings: MessagingSettings,
        clock: Clock,
    ) -> None:
        self._uow = unit_of_work
        self._templates = templates
        self._settings = settings
        self._clock = clock

    def jobs(self) -> list[PeriodicJob]:
        every = timedelta(seconds=self._settings.message_digest_poll_seconds)
        return [PeriodicJob("messaging.send_message_digests", every, self.send_due)]

    async def send_due(self) -> int:
        """Queues the digest of everyone with messages unread past the delay; how many."""
        delay = timedelta(minutes=self._settings.message_digest_delay_minutes)
        before = self._clock.now() - delay
        async with self._uow(write=False) as uow:
            waiting = await uow.conversations.awaiting_digest(before, BATCH)
        sent = 0
        for user_id in waiting:
            async with self._uow() as uow:
                sent += await self._digest(uow, user_id, delay)
                await uow.commit()
        return sent

    async def _digest(self, uow: MessagingUnitOfWork, user_id: str, delay: timedelta) -> int:
        """One user's digest, unless one went out within the delay; 1 if made."""
        now = uow.clock.now()
        last = await uow.mails.last_queued(user_id, Kind.MESSAGE_DIGEST)
        if last is not None and last > now - delay:
            return 0  # told a moment ago: the rest waits for the next digest
        untold = await uow.conversations.untold(user_id, now - delay)
        if not untold:
            return 0
        lines = []
        for told in untold:
            sender = await uow.recipients.get(told.newest.sender_id)
            text = told.newest.text
            lines.append(
                {
                    # Unnamed: the template says "someone" in the reader's language.
                    "sender": sender.full_name if sender else "",
                    "count": told.count,
                    "latest": text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…",
                }
            )
        newest = max(t.newest.id for t in untold)
        notice = Notice(
            str(uuid.uuid5(DIGESTS, f"{user_id}/{newest}")),
            Kind.MESSAGE_DIGEST,
            user_id,
            CONVERSATION_PREFIX.rstrip("/"),
            {
                "conversations": lines,
                "total": sum(t.count for t in untold),
                "link": f"{self._settings.app_url}/messages",
            },
        )
        await deliver(uow, notice, self._templates, self._settings)
        for told in untold:
            await uow.conversations.mark_told(user_id, told.newest.conversation_id, told.newest.id)
        return 1
