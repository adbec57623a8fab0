"""Messaging's composition root: builds the service on a chassis runtime and starts it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from chassis.auth.remote import ServiceTokens, identity_jwks
from chassis.auth.tokens import KeySet, TokenVerifier
from chassis.bus.consumer import Subscription
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.grpc_client import open_channel
from chassis.grpc_server import ServicerBinding
from chassis.media import MediaStore, media_store
from chassis.runtime import ServiceRuntime
from estuary.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from services.messaging.attachments import AttachmentSweeper
from services.messaging.channels import (
    ChannelSender,
    PushProvider,
    SmsProvider,
    push_provider_for,
    sms_provider_for,
)
from services.messaging.consumers import subscriptions
from services.messaging.conversations import ConversationDesk
from services.messaging.digests import MessageDigests
from services.messaging.events import EMITTED
from services.messaging.followers import StreamFollowers
from services.messaging.grpc_api import (
    ConversationServicer,
    LiveServicer,
    NotificationServicer,
    PartnerWebhookServicer,
)
from services.messaging.live import LiveHub, ResumePolicy
from services.messaging.mail import Mailer, MailSender, mailer_for
from services.messaging.partner_deliveries import PartnerWebhookSender
from services.messaging.partner_webhooks import PartnerWebhookDesk
from services.messaging.service_layer import NotificationDesk
from services.messaging.settings import MessagingSettings
from services.messaging.templates import Templates
from services.messaging.uow import MessagingUnitOfWork

NAME = "messaging"
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class MessagingService:
    """A built messaging service: its runtime, its handlers and what it holds open."""

    runtime: ServiceRuntime
    notifications: NotificationDesk
    conversations: ConversationDesk
    mail: MailSender
    channels_out: ChannelSender
    digests: MessageDigests
    partner_webhooks: PartnerWebhookDesk
    webhook_sender: PartnerWebhookSender
    live: LiveHub
    media: MediaStore
    attachments: AttachmentSweeper
    verifier: TokenVerifier
    subscriptions: tuple[Subscription, ...]
    channels: list[Any] = field(default_factory=list)
    port: int = 0

    async def start(self) -> int:
        self.port = await self.runtime.start(
            bindings=[
                ServicerBinding(
                    NotificationServicer(self.notifications),
                    messaging_pb2_grpc.add_NotificationServiceServicer_to_server,
                    messaging_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name,
                ),
                ServicerBinding(
                    ConversationServicer(self.conversations),
                    messaging_pb2_grpc.add_ConversationServiceServicer_to_server,
                    messaging_pb2.DESCRIPTOR.services_by_name["ConversationService"].full_name,
                ),
                ServicerBinding(
                    PartnerWebhookServicer(self.partner_webhooks),
                    messaging_pb2_grpc.add_PartnerWebhookServiceServicer_to_server,
                    messaging_pb2.DESCRIPTOR.services_by_name["PartnerWebhookService"].full_name,
                ),
                ServicerBinding(
                    LiveServicer(self.live),
                    messaging_pb2_grpc.add_LiveServiceServicer_to_server,
                    messaging_pb2.DESCRIPTOR.services_by_name["LiveService"].full_name,
                ),
            ],
            verifier=self.verifier,
            subscriptions=self.subscriptions,
            unit_of_work=self.runtime.unit_of_work(MessagingUnitOfWork),
            jobs=[
                *self.mail.jobs(),
                *self.channels_out.jobs(),
                *self.digests.jobs(),
                *self.webhook_sender.jobs(),
                *self.attachments.jobs(),
                *self.live.jobs(),
            ],
        )
        await self.live.start()
        return self.port

    async def stop(self) -> None:
        await self.runtime.stop()
        await self.media.close()
        for channel in self.channels:
            await channel.close()


def build(
    settings: MessagingSettings,
    *,
    transport: Transport,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    sms: SmsProvider | None = None,
    push: PushProvider | None = None,
) -> MessagingService:
    """Wires messaging's handlers, servicer, consumers and sending jobs onto a runtime
    (nothing starts yet). Mail, text messages and pushes go where the settings say unless
    the caller brings its own mailer or provider."""
    runtime = ServiceRuntime(settings, transport=transport, clock=clock, emits=EMITTED)
    identity_channel = open_channel(settings.identity_address)
    streams_channel = open_channel(settings.streams_address)
    tokens = ServiceTokens(
        identity_channel,
        client_id=settings.service_name,
        client_secret=settings.service_client_secret,
        clock=runtime.clock,
    )
    verifier = TokenVerifier(
        KeySet(identity_jwks(identity_channel)),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        clock=runtime.clock,
    )
    unit_of_work = runtime.unit_of_work(MessagingUnitOfWork)
    media = media_store(settings.media, clock=runtime.clock)
    live = LiveHub(
        runtime.transport,
        runtime.accounts,
        runtime.clock,
        unit_of_work,
        media,
        check_seconds=settings.live_check_seconds,
        streams_per_user=settings.live_streams_per_user,
        resume=ResumePolicy(
            max_updates=settings.live_resume_max_updates,
            retention=timedelta(hours=settings.live_resume_retention_hours),
        ),
    )
    templates = Templates()
    return MessagingService(
        runtime,
        NotificationDesk(
            unit_of_work,
            runtime.clock,
            templates.locales,
            templates.locale_for(settings.default_locale),
            settings.push_devices_per_user,
        ),
        ConversationDesk(unit_of_work, runtime.clock, live, media, settings),
        MailSender(unit_of_work, mailer or mailer_for(settings), settings, runtime.clock),
        ChannelSender(
            unit_of_work,
            sms or sms_provider_for(settings),
            push or push_provider_for(settings),
            settings,
            runtime.clock,
        ),
        MessageDigests(unit_of_work, templates, settings, runtime.clock),
        PartnerWebhookDesk(unit_of_work, runtime.clock, settings.partner_webhooks_allow_loopback),
        PartnerWebhookSender(unit_of_work, settings, runtime.clock),
        live,
        media,
        AttachmentSweeper(unit_of_work, media, settings, runtime.clock),
        verifier,
        subscriptions(settings, templates, live, StreamFollowers(streams_channel, tokens)),
        [identity_channel, streams_channel],
    )
