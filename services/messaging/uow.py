"""Messaging's unit of work: the chassis's transaction with messaging's repositories on it."""

from __future__ import annotations

from typing import Self

from chassis.uow import UnitOfWork
from services.messaging.repository import (
    Attachments,
    ChannelDeliveries,
    Conversations,
    Mails,
    Notifications,
    PartnerWebhooks,
    PreferenceRows,
    PushDevices,
    Recipients,
    Relations,
    Reports,
    WebhookDeliveries,
)


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
        return self
