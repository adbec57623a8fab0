"""Messaging's unit of work: the chassis's transaction with messaging's repositories on it,
and the live updates it logs, written just before COMMIT."""

from __future__ import annotations

from functools import partial
from typing import Any, Self

from chassis.uow import UnitOfWork, lock_key
from services.messaging.domain.live import LoggedUpdate
from services.messaging.repository import (
    Attachments,
    ChannelDeliveries,
    Conversations,
    LiveLog,
    Mails,
    Notifications,
    PartnerWebhooks,
    PostNotices,
    PreferenceRows,
    PushDevices,
    Recipients,
    Relations,
    Reports,
    WebhookDeliveries,
)

# Held from a transaction's first live log row to its COMMIT.
LIVE_LOG_LOCK = "messaging.live_updates"


class MessagingUnitOfWork(UnitOfWork):
    recipients: Recipients
    notifications: Notifications
    preferences: PreferenceRows
    mails: Mails
    push_devices: PushDevices
    channel_deliveries: ChannelDeliveries
    relations: Relations
    conversations: Conversations
    reports: Reports
    attachments: Attachments
    partner_webhooks: PartnerWebhooks
    deliveries: WebhookDeliveries
    live_log: LiveLog
    post_notices: PostNotices

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        connection = self.connection
        self.recipients = Recipients(connection)
        self.notifications = Notifications(connection)
        self.preferences = PreferenceRows(connection)
        self.mails = Mails(connection)
        self.push_devices = PushDevices(connection)
        self.channel_deliveries = ChannelDeliveries(connection)
        self.relations = Relations(connection)
        self.conversations = Conversations(connection)
        self.reports = Reports(connection)
        self.attachments = Attachments(connection)
        self.partner_webhooks = PartnerWebhooks(connection)
        self.deliveries = WebhookDeliveries(connection)
        self.live_log = LiveLog(connection)
        self.post_notices = PostNotices(connection)
        self._logged: list[LoggedUpdate] = []
        return self

    def log_live(self, update: LoggedUpdate) -> LoggedUpdate:
        """Queues a live update to be written to the live log with this transaction; its
        position and time are set once it is written."""
        self._logged.append(update)
        return update

    async def commit(self) -> None:
        """Sends the queued live updates with the COMMIT, which commits everything at once."""
        if self._logged:
            # Positions are taken under a lock held until COMMIT, so they commit in the order
            # they were taken: a stream that has seen one position has seen every earlier one.
            # PostgreSQL takes it in the statement that writes the first, in the COMMIT's
            # round trip; SQLite's one writer already holds its write lock.
            lock = lock_key(LIVE_LOG_LOCK) if self.dialect == "postgresql" else None
            now = self.clock.now()
            for update in self._logged:
                update.created_at = now
                statement, parameters = self.live_log.append(update, lock_first=lock)
                self.write_with_commit(statement, parameters, then=partial(_positioned, update))
                lock = None
            self._logged = []
        await super().commit()

    async def rollback(self) -> None:
        """Discards the change, its events and its live updates."""
        self._logged = []
        await super().rollback()


def _positioned(update: LoggedUpdate, rows: list[tuple[Any, ...]]) -> None:
    [(position,)] = rows
    update.position = int(position)
