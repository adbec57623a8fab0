"""Payments built on a database of the test's own, on a frozen clock, with booking's
events delivered through the real consumers (their inbox) as the bus would, and the
sandbox's webhooks kept for the test to hand to the webhook handler."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.message import Message

from chassis.bus.consumer import EventConsumer
from chassis.bus.embedded import IN_MEMORY, EmbeddedBroker, EmbeddedTransport
from chassis.bus.envelope import EventType, encode_event
from chassis.bus.transport import Delivery
from chassis.clock import FrozenClock
from chassis.errors import NotFound
from chassis.ids import new_id
from chassis.migrations import upgrade
from chassis.money import Money
from chassis.wire import timestamp
from estuary.booking.v1 import events_pb2 as booking_events
from estuary.streams.v1 import events_pb2 as streams_events
from services.payments import bootstrap
from services.payments.bootstrap import PaymentsService
from services.payments.domain.stream_orders import SaleTerms
from services.payments.domain.stream_subscriptions import TierTerms
from services.payments.events import BOOKING_COMPLETED, STREAM_TIER_REPRICED
from services.payments.provider.port import (
    ChangeTiming,
    PaymentIntent,
    ProviderRejected,
    ProviderUnavailable,
    Subscription,
    Transfer,
)
from services.payments.provider.sandbox import SandboxProvider
from services.payments.provider.stripe_format import sign_webhook
from services.payments.service_layer import Treasury
from services.payments.settings import PaymentsSettings
from services.payments.uow import PaymentsUnitOfWork
from tests.builders import outbox_messages

COMPLETED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
M = TypeVar("M", bound=Message)


class HeldDelivery(Delivery):
    """One delivery of a message, remembering how it was settled."""

    def __init__(self, headers: dict[str, object], content_type: str | None, body: bytes):
        self.headers = headers
        self.content_type = content_type
        self.body = body
        self.previous_deliveries = 0
        self.settled = ""

    async def ack(self) -> None:
        self.settled = "ack"

    async def retry(self) -> None:
        self.settled = "retry"

    async def dead_letter(self) -> None:
        self.settled = "dead_letter"


@dataclass
class Shelf:
    """Streams as payments asks it what it sells: the terms a test put up, by name."""

    offered: dict[str, SaleTerms] = field(default_factory=dict)
    tiers: dict[str, TierTerms] = field(default_factory=dict)

    def stream(self, owner_user_id: str, currency: str = "EUR") -> str:
        """A stream of the owner's, its name."""
        stream_id = new_id()
        self.offered[f"streams/{stream_id}"] = SaleTerms(
            stream_id, "", owner_user_id, currency, None
        )
        return f"streams/{stream_id}"

    def post(self, stream: str, unlock_price: Money | None = None) -> str:
        """A published post of the stream, sold alone at unlock_price (None: not), its name."""
        post_id = new_id()
        terms = self.offered[stream]
        name = f"{stream}/posts/{post_id}"
        self.offered[name] = SaleTerms(
            terms.stream_id, post_id, terms.owner_user_id, terms.currency, unlock_price
        )
        return name

    def paid_tier(self, stream: str, level: int, price: Money) -> str:
        """A paid tier of the stream sold monthly at price (put up again: its new price),
        its name."""
        terms = self.offered[stream]
        made = TierTerms(terms.stream_id, level, terms.owner_user_id, f"Level {level}", price)
        self.tiers[made.name] = made
        return made.name

    async def terms(self, name: str) -> SaleTerms:
        if name not in self.offered:
            raise NotFound(f"{name} was not found", reason="NOT_FOR_SALE")
        return self.offered[name]

    async def tier(self, name: str) -> TierTerms:
        if name not in self.tiers:
            raise NotFound(f"{name} was not found", reason="NOT_FOR_SALE")
        return self.tiers[name]


@dataclass
class World:
    """One practitioner whose bookings complete, and payments hearing of it."""

    service: PaymentsService
    clock: FrozenClock
    webhooks: list[tuple[bytes, str]]
    shelf: Shelf
    practitioner_user_id: str = field(default_factory=new_id)
    practitioner_id: str = field(default_factory=new_id)

    @property
    def sandbox(self) -> SandboxProvider:
        assert isinstance(self.service.provider, SandboxProvider)
        return self.service.provider

    async def sent_webhooks(self) -> list[tuple[bytes, str]]:
        """The sandbox's events not yet taken, each signed as Stripe signs them."""
        await self.sandbox.deliver_webhooks()
        sent, self.webhooks[:] = list(self.webhooks), []
        return sent

    @contextmanager
    def intent_answers_lost(self) -> Iterator[list[PaymentIntent]]:
        """While open, the sandbox makes each payment intent asked for but the answer is lost
        (the connection drops): the intents made, for the test to pay behind our back."""
        made: list[PaymentIntent] = []
        create = self.sandbox.create_payment_intent

        async def lost(**asked: Any) -> PaymentIntent:
            made.append(await create(**asked))
            raise ProviderUnavailable("the connection dropped before the answer")

        setattr(self.sandbox, "create_payment_intent", lost)  # noqa: B010
        try:
            yield made
        finally:
            delattr(self.sandbox, "create_payment_intent")

    @contextmanager
    def subscription_changes(self) -> Iterator[list[tuple[str, str, ChangeTiming]]]:
        """While open, each change of a subscription's price asked of the sandbox (made as
        asked): (subscription id, price id, timing), in the order asked."""
        asked: list[tuple[str, str, ChangeTiming]] = []
        change = self.sandbox.change_subscription

        async def recorded(subscription_id: str, **options: Any) -> Subscription:
            asked.append((subscription_id, options["price_id"], options["timing"]))
            return await change(subscription_id, **options)

        setattr(self.sandbox, "change_subscription", recorded)  # noqa: B010
        try:
            yield asked
        finally:
            delattr(self.sandbox, "change_subscription")

    @contextmanager
    def transfers_refused(self) -> Iterator[None]:
        """While open, the sandbox refuses every transfer to a connected account, as Stripe
        does when the platform's own balance is short."""

        async def refused(**_: Any) -> Transfer:
            raise ProviderRejected(
                "Insufficient funds in the platform's balance", code="balance_insufficient"
            )

        setattr(self.sandbox, "create_transfer", refused)  # noqa: B010
        try:
            yield
        finally:
            delattr(self.sandbox, "create_transfer")

    def signed(self, payload: bytes) -> str:
        """The signature the sandbox puts on a delivery of payload made now (each delivery of
        an event, a retry too, is signed when it is sent, as Stripe signs them)."""
        return sign_webhook(payload, self.sandbox.webhook_secret, int(self.clock.now().timestamp()))

    async def apply_webhooks(self) -> int:
        """Hands every webhook the sandbox sent to payments' webhook handler; how many applied."""
        applied = 0
        for payload, signature in await self.sent_webhooks():
            _, done = await self.treasury.receive_stripe_event(payload, signature)
            applied += done
        return applied

    def created(
        self, client_id: str, amount_minor: int = 4_500, currency: str = "EUR"
    ) -> booking_events.BookingCreated:
        """booking.created of a session awaiting payment of amount_minor."""
        message = booking_events.BookingCreated(
            booking=booking_events.BookingSnapshot(
                booking_id=new_id(),
                service_id=new_id(),
                practitioner_id=self.practitioner_id,
                practitioner_user_id=self.practitioner_user_id,
                client_id=client_id,
                price=Money(amount_minor, currency).to_proto(),
            ),
            hold_expire_time=timestamp(self.clock.now()),
        )
        return message

    async def booking_event(
        self, event_type: EventType[Any], message: Message, event_id: str | None = None
    ) -> str:
        """One of booking's events through payments' bookings consumer; how it was settled."""
        delivery = self.delivery(message, event_id, event_type)
        await self.consumer("payments.bookings").handle(delivery)
        return delivery.settled

    async def tier_repriced(
        self, tier: str, price: Money | None = None, event_id: str | None = None
    ) -> str:
        """stream.tier_repriced of a tier "streams/{id}/tiers/{level}" at a price (None: the
        one the shelf puts it up at now), through payments' stream-tiers consumer (the same
        event id twice: a redelivery); how it was settled."""
        stream, level = tier.split("/tiers/")
        message = streams_events.TierRepriced(
            tier=tier,
            stream=stream,
            level=int(level),
            price=(price or (await self.shelf.tier(tier)).price).to_proto(),
            change_time=timestamp(self.clock.now()),
        )
        delivery = self.delivery(message, event_id, STREAM_TIER_REPRICED)
        await self.consumer("payments.stream-tiers").handle(delivery)
        return delivery.settled

    @property
    def treasury(self) -> Treasury:
        return self.service.treasury

    def uow(self, **options: Any) -> PaymentsUnitOfWork:
        return self.service.runtime.unit_of_work(PaymentsUnitOfWork)(**options)

    def completion(
        self,
        amount_minor: int = 10_000,
        currency: str = "EUR",
        *,
        booking_id: str | None = None,
        completed_at: datetime = COMPLETED,
    ) -> booking_events.BookingCompleted:
        """booking.completed of a session paid amount_minor."""
        message = booking_events.BookingCompleted(
            booking=booking_events.BookingSnapshot(
                booking_id=booking_id or new_id(),
                service_id=new_id(),
                practitioner_id=self.practitioner_id,
                practitioner_user_id=self.practitioner_user_id,
                client_id=new_id(),
            ),
            complete_time=timestamp(completed_at),
        )
        if amount_minor or currency:
            message.amount_paid.CopyFrom(Money(amount_minor, currency).to_proto())
        return message

    def delivery(
        self,
        message: Message,
        event_id: str | None = None,
        event_type: EventType[Any] = BOOKING_COMPLETED,
    ) -> HeldDelivery:
        """The message as the bus delivers it (the same event id twice: a redelivery)."""
        event = encode_event(
            event_type,
            message,
            event_id=event_id or new_id(),
            source="/estuary/booking",
            subject="bookings",
            time=self.clock.now(),
        )
        return HeldDelivery(dict(event.headers), event.content_type, event.body)

    def consumer(self, queue: str = "payments.earnings") -> EventConsumer:
        """One of payments' consumers, with its inbox, on no broker."""
        subscription = next(s for s in self.service.subscriptions if s.queue == queue)
        return EventConsumer(
            subscription,
            unit_of_work=self.service.runtime.unit_of_work(PaymentsUnitOfWork),
            transport=self.service.runtime.transport,
            backoff=0,
            backoff_max=0,
        )

    async def deliver(self, delivery: HeldDelivery) -> str:
        """Hands one delivery to the consumer; how it was settled."""
        await self.consumer().handle(delivery)
        return delivery.settled

    async def events(self, event_type: EventType[M]) -> list[M]:
        """The messages of a type payments' outbox holds, oldest first."""
        return await outbox_messages(self.service.runtime.database, event_type)


@asynccontextmanager
async def world(url: str, **settings: Any) -> AsyncIterator[World]:
    """Payments on its migrated database, its sandbox in a folder of its own (delivering
    nowhere unless the test says where); nothing started."""
    await asyncio.to_thread(upgrade, bootstrap.MIGRATIONS, url)
    clock = FrozenClock(COMPLETED)
    settings.setdefault("sandbox_dir", tempfile.mkdtemp(prefix="payments-sandbox-"))
    configured = PaymentsSettings(**settings, database_url=url, grpc_port=0)
    webhooks: list[tuple[bytes, str]] = []

    async def keep(payload: bytes, signature: str) -> None:
        webhooks.append((payload, signature))

    shelf = Shelf()
    service = bootstrap.build(
        configured,
        transport=EmbeddedTransport(EmbeddedBroker(IN_MEMORY)),
        clock=clock,
        deliver=keep,
        streams=shelf,
    )
    try:
        yield World(service, clock, webhooks, shelf)
    finally:
        await service.provider.aclose()
        await service.runtime.database.dispose()
        for channel in service.channels:
            await channel.close()
