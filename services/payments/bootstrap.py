"""Payments' composition root: builds the service on a chassis runtime and starts it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chassis.auth.remote import ServiceTokens, identity_jwks
from chassis.auth.tokens import KeySet, TokenVerifier
from chassis.bus.consumer import Subscription
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.grpc_client import open_channel
from chassis.grpc_server import ServicerBinding
from chassis.runtime import ServiceRuntime
from estuary.payments.v1 import payments_pb2, payments_pb2_grpc
from services.payments.consumers import subscriptions
from services.payments.events import EMITTED
from services.payments.grpc_api import PaymentsServicer
from services.payments.provider.config import payment_provider
from services.payments.provider.port import PaymentProvider
from services.payments.provider.sandbox import SandboxProvider, WebhookDelivery, posting_to
from services.payments.sale_terms import StreamCatalogue, StreamSaleTerms
from services.payments.service_layer import Treasury
from services.payments.settings import ONBOARDING_ROUTE, PaymentsSettings
from services.payments.uow import PaymentsUnitOfWork

NAME = "payments"
MIGRATIONS = Path(__file__).parent / "migrations"
WEBHOOK_ROUTE = "/api/v1/webhooks/stripe"


class GatewayWebhooks:
    """The sandbox's delivery to the gateway's webhook route, as Stripe delivers to it; the
    embedded suite names its gateway once it listens (its port may be picked then)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __call__(self, payload: bytes, signature: str) -> None:
        await posting_to(self.url)(payload, signature)


@dataclass
class PaymentsService:
    """A built payments service: its runtime, its handlers and what it holds open."""

    runtime: ServiceRuntime
    treasury: Treasury
    verifier: TokenVerifier
    subscriptions: tuple[Subscription, ...]
    provider: PaymentProvider
    webhooks: GatewayWebhooks | None
    channels: list[Any] = field(default_factory=list)
    port: int = 0

    def gateway_started(self, base_url: str) -> None:
        """Where the gateway listens: the sandbox's webhooks go to its route there, and its
        onboarding links to its stand-in for Stripe's hosted pages."""
        if self.webhooks is not None:
            self.webhooks.url = base_url.rstrip("/") + WEBHOOK_ROUTE
        if isinstance(self.provider, SandboxProvider):
            self.provider.onboarding_url = base_url.rstrip("/") + ONBOARDING_ROUTE

    async def start(self) -> int:
        self.port = await self.runtime.start(
            bindings=[
                ServicerBinding(
                    PaymentsServicer(self.treasury),
                    payments_pb2_grpc.add_PaymentsServiceServicer_to_server,
                    payments_pb2.DESCRIPTOR.services_by_name["PaymentsService"].full_name,
                )
            ],
            verifier=self.verifier,
            subscriptions=self.subscriptions,
            unit_of_work=self.runtime.unit_of_work(PaymentsUnitOfWork),
            jobs=self.treasury.periodic_jobs(),
        )
        self.provider.start()
        return self.port

    async def stop(self) -> None:
        await self.runtime.stop()
        await self.provider.aclose()
        for channel in self.channels:
            await channel.close()


def build(
    settings: PaymentsSettings,
    *,
    transport: Transport,
    clock: Clock | None = None,
    deliver: WebhookDelivery | None = None,
    streams: StreamCatalogue | None = None,
) -> PaymentsService:
    """Wires payments' handlers, servicer, consumers and jobs onto a runtime (nothing starts
    yet). The sandbox's webhooks go to the gateway's route unless the caller takes them
    (tests do); streams is asked what it sells over gRPC unless the caller brings its own."""
    runtime = ServiceRuntime(settings, transport=transport, clock=clock, emits=EMITTED)
    webhooks = GatewayWebhooks(settings.sandbox_webhook_url) if deliver is None else None
    # Half a Stripe configuration stops the start here, naming the setting, before anything
    # is opened.
    provider = payment_provider(
        secret_key=settings.stripe_secret_key,
        webhook_secrets_setting=settings.stripe_webhook_secrets,
        api_base=settings.stripe_api_base,
        data_dir=settings.sandbox_folder(),
        deliver=deliver or webhooks,
        clock=runtime.clock,
        sandbox_onboarding_url=settings.sandbox_onboarding_url,
    )
    identity_channel = open_channel(settings.identity_address)
    verifier = TokenVerifier(
        KeySet(identity_jwks(identity_channel)),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        clock=runtime.clock,
    )
    channels = [identity_channel]
    if streams is None:
        streams_channel = open_channel(settings.streams_address)
        channels.append(streams_channel)
        tokens = ServiceTokens(
            identity_channel,
            client_id=settings.service_name,
            client_secret=settings.service_client_secret,
            clock=runtime.clock,
        )
        streams = StreamSaleTerms(streams_channel, tokens)
    treasury = Treasury(
        unit_of_work=runtime.unit_of_work(PaymentsUnitOfWork),
        settings=settings,
        clock=runtime.clock,
        provider=provider,
        streams=streams,
    )
    return PaymentsService(
        runtime,
        treasury,
        verifier,
        subscriptions(settings, provider, streams),
        provider,
        webhooks,
        channels,
    )
