"""Partner webhooks: staff subscribe a partner's endpoint to event types; each event of a
subscribed type reaches it once, signed the Standard Webhooks way (checked with the official
package by a real HTTP receiver), retried with back-off until it is taken; an endpoint that
keeps failing is switched off; staff read the delivery log and replay a delivery; the secret
shows once and is never logged."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa

from chassis.auth.principal import Role
from chassis.bus.consumer import EventConsumer
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from chassis.ids import new_id
from chassis.logging import quieten_libraries
from chassis.tables import outbox
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.payments.v1 import events_pb2 as payments_pb
from services.messaging import events
from services.messaging.domain.webhooks import (
    DISABLED_FAILING,
    DeliveryState,
    PartnerWebhook,
)
from services.messaging.partner_deliveries import PartnerWebhookSender
from services.messaging.tables import partner_webhook_deliveries
from services.messaging.uow import MessagingUnitOfWork
from tests.builders import person
from tests.infrastructure import free_port
from tests.integration.messaging.world import OneDelivery, World, snapshot, wire_event, world
from tests.partner_receiver import HANG, PartnerReceiver, partner_receiver
from tests.races import race
from tests.scrape import metrics_on, scrape, value

STAFF = person(new_id(), Role.STAFF)
# The receiver checks signatures with the real clock (five minutes' tolerance): the world's
# frozen clock starts now and is moved by seconds only.
FAST = {"partner_webhooks_allow_loopback": True, "partner_webhook_retry_jitter": 0.0}


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def on_sqlite(tmp_path: Any) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/messaging.db"


@asynccontextmanager
async def partnered(url: str, **settings: Any) -> AsyncIterator[tuple[PartnerReceiver, World]]:
    """A partner's receiver and messaging on `url`, its clock starting now."""
    async with (
        partner_receiver() as receiver,
        world(url, start=now(), **{**FAST, **settings}) as w,
    ):
        yield receiver, w


def wanted(url: str, *event_types: str, description: str = "Acme Wellness") -> PartnerWebhook:
    return PartnerWebhook("", url, description, event_types, True, now(), now())


def confirmed() -> booking_pb.BookingConfirmed:
    return booking_pb.BookingConfirmed(booking=snapshot(new_id(), new_id()))


async def subscribe(w: World, receiver: PartnerReceiver, *event_types: str) -> PartnerWebhook:
    made = await w.service.partner_webhooks.create(
        STAFF, wanted(receiver.url, *(event_types or ("booking.confirmed",)))
    )
    receiver.secret = made.secret
    return made


async def publish(w: World, event_type: Any, message: Any) -> Any:
    """An event delivered to the partner-webhooks queue once; returned to deliver again."""
    event = wire_event(event_type, message)
    delivery = OneDelivery(event)
    await w.partners.handle(delivery)
    assert delivery.settled == ["ack"]
    return event


async def send(w: World) -> int:
    return await w.service.webhook_sender.send_due()


def second_replica(w: World) -> PartnerWebhookSender:
    """Another replica's delivery job: its own sender over the same database."""
    return PartnerWebhookSender(
        w.service.runtime.unit_of_work(MessagingUnitOfWork), w.service.runtime.settings, w.clock
    )


async def log_of(w: World, webhook: PartnerWebhook) -> list[Any]:
    page = await w.service.partner_webhooks.deliveries(
        STAFF, f"partnerWebhooks/{webhook.id}", 0, ""
    )
    return list(page.items)


async def test_an_event_reaches_a_subscribed_partner_once_signed_across_redeliveries(
    empty_database_url,
):
    async with partnered(empty_database_url) as (receiver, w):
        webhook = await subscribe(w, receiver, "booking.confirmed", "payment.succeeded")
        other = await w.service.partner_webhooks.create(
            STAFF, wanted(receiver.url, "payout.paid", description="Payouts only")
        )
        message = confirmed()
        event = await publish(w, events.BOOKING_CONFIRMED, message)
        # Redelivered to the queue, and once more through a second queue of the same purpose
        # (its own inbox rows): only the unique (endpoint, event) stands in the way there.
        again = OneDelivery(event)
        await w.partners.handle(again)
        replay = EventConsumer(
            replace(w.partners.subscription, queue="messaging.partner-webhooks-replay"),
            unit_of_work=w.service.runtime.unit_of_work(MessagingUnitOfWork),
            transport=w.service.runtime.transport,
        )
        await replay.handle(OneDelivery(event))
        assert await w.count(partner_webhook_deliveries, webhook_id=webhook.id) == 1
        assert await w.count(partner_webhook_deliveries, webhook_id=other.id) == 0

        assert await send(w) == 1
        assert await send(w) == 0
        [got] = receiver.received
        assert got.verified
        assert got.headers["content-type"] == "application/json"
        [delivery] = await log_of(w, webhook)
        assert got.webhook_id == delivery.id
        assert got.headers["webhook-timestamp"] == str(int(w.clock.now().timestamp()))
        assert got.payload == {
            "type": "booking.confirmed",
            "timestamp": "2026-12-01T09:00:00Z",  # the event's time, as its producer said
            "data": {
                "booking": {
                    **got.payload["data"]["booking"],
                    "booking_id": message.booking.booking_id,
                    "client_id": message.booking.client_id,
                    "service_title": "Deep tissue massage",
                }
            },
        }
        assert delivery.state is DeliveryState.DELIVERED
        assert (delivery.attempts, delivery.last_status_code) == (1, 200)
        assert delivery.delivered_at == w.clock.now()


async def test_a_failing_partner_is_retried_with_doubling_waits_until_it_takes_the_delivery(
    tmp_path,
):
    settings = {"partner_webhook_retry_seconds": 10, "partner_webhook_timeout_seconds": 0.2}
    async with partnered(on_sqlite(tmp_path), **settings) as (receiver, w):
        webhook = await subscribe(w, receiver)
        await publish(w, events.BOOKING_CONFIRMED, confirmed())
        receiver.answers = [HANG, 500, 302, 200]

        assert await send(w) == 0
        [delivery] = await log_of(w, webhook)
        assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
            DeliveryState.PENDING,
            1,
            0,
        )
        assert "Timeout" in delivery.last_error
        assert delivery.next_attempt_at == w.clock.now() + timedelta(seconds=10)

        w.clock.advance(timedelta(seconds=9))
        assert await send(w) == 0
        assert len(receiver.received) == 1
        w.clock.advance(timedelta(seconds=1))
        assert await send(w) == 0
        [delivery] = await log_of(w, webhook)
        assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (
            2,
            500,
            "HTTP 500",
        )
        assert delivery.next_attempt_at == w.clock.now() + timedelta(seconds=20)

        # A redirect is not followed: a failed attempt like any other answer but a 2xx.
        w.clock.advance(timedelta(seconds=20))
        assert await send(w) == 0
        [delivery] = await log_of(w, webhook)
        assert (delivery.attempts, delivery.last_error) == (3, "HTTP 302")
        assert delivery.next_attempt_at == w.clock.now() + timedelta(seconds=40)

        w.clock.advance(timedelta(seconds=40))
        assert await send(w) == 1
        [delivery] = await log_of(w, webhook)
        assert (delivery.state, delivery.attempts, delivery.last_error) == (
            DeliveryState.DELIVERED,
            4,
            "",
        )
        # One message to the partner: the same webhook-id on every attempt, each signed anew.
        assert len(receiver.received) == 4
        assert {r.webhook_id for r in receiver.received} == {delivery.id}
        assert [r.verified for r in receiver.received] == [True] * 4
        assert len({r.headers["webhook-timestamp"] for r in receiver.received}) == 4


async def test_an_endpoint_failing_delivery_after_delivery_is_disabled_until_staff_enable_it(
    tmp_path,
):
    settings = {
        "partner_webhook_retry_seconds": 1,
        "partner_webhook_max_attempts": 2,
        "partner_webhook_disable_after_failures": 2,
    }
    async with partnered(on_sqlite(tmp_path), **settings) as (receiver, w):
        webhook = await subscribe(w, receiver)
        desk = w.service.partner_webhooks
        name = f"partnerWebhooks/{webhook.id}"
        receiver.answers = [503] * 4
        await publish(w, events.BOOKING_CONFIRMED, confirmed())
        await publish(w, events.BOOKING_CONFIRMED, confirmed())
        assert await send(w) == 0
        # A run of one failed delivery does not switch it off; the second in a row does.
        found = await desk.get(STAFF, name)
        assert (found.enabled, found.consecutive_failures) == (True, 0)
        w.clock.advance(timedelta(seconds=1))
        assert await send(w) == 0
        found = await desk.get(STAFF, name)
        assert (found.enabled, found.disabled_reason, found.consecutive_failures) == (
            False,
            DISABLED_FAILING,
            2,
        )
        assert {d.state for d in await log_of(w, webhook)} == {DeliveryState.FAILED}
        assert len(receiver.received) == 4

        # Disabled: new events make no delivery, and nothing is sent, until staff enable it.
        await publish(w, events.BOOKING_CONFIRMED, confirmed())
        assert len(await log_of(w, webhook)) == 2
        with pytest.raises(FailedPrecondition, match="disabled"):
            await desk.replay(STAFF, f"{name}/deliveries/{(await log_of(w, webhook))[0].id}")
        enabled = await desk.update(STAFF, replace(found, enabled=True), ["enabled"])
        assert (enabled.enabled, enabled.disabled_reason, enabled.consecutive_failures) == (
            True,
            "",
            0,
        )
        await publish(w, events.BOOKING_CONFIRMED, confirmed())
        assert await send(w) == 1
        assert len(receiver.received) == 5


async def test_staff_page_through_the_delivery_log_and_replay_a_delivery(tmp_path):
    async with partnered(on_sqlite(tmp_path)) as (receiver, w):
        webhook = await subscribe(w, receiver, "booking.confirmed", "payment.succeeded")
        desk = w.service.partner_webhooks
        parent = f"partnerWebhooks/{webhook.id}"
        await publish(w, events.BOOKING_CONFIRMED, confirmed())
        await publish(
            w, events.PAYMENT_SUCCEEDED, payments_pb.PaymentSucceeded(payment_id=new_id())
        )
        await publish(w, events.BOOKING_CONFIRMED, confirmed())
        assert await send(w) == 3

        first = await desk.deliveries(STAFF, parent, 2, "")
        rest = await desk.deliveries(STAFF, parent, 2, first.next_page_token)
        assert (first.total, len(first.items), len(rest.items), rest.next_page_token) == (
            3,
            2,
            1,
            "",
        )
        listed = [*first.items, *rest.items]
        assert [d.id for d in listed] == sorted((d.id for d in listed), reverse=True)
        assert [d.event_type for d in listed] == [
            "booking.confirmed",
            "payment.succeeded",
            "booking.confirmed",
        ]

        paid = listed[1]
        replayed = await desk.replay(STAFF, f"{parent}/deliveries/{paid.id}")
        assert (replayed.state, replayed.attempts, replayed.delivered_at) == (
            DeliveryState.PENDING,
            0,
            None,
        )
        assert await send(w) == 1
        assert [r.webhook_id for r in receiver.received[3:]] == [paid.id]
        assert receiver.received[3].body == receiver.received[1].body
        assert receiver.received[3].verified

        # A delivery is found under its own endpoint only.
        other = await desk.create(STAFF, wanted(receiver.url, "booking.confirmed"))
        with pytest.raises(NotFound):
            await desk.replay(STAFF, f"partnerWebhooks/{other.id}/deliveries/{paid.id}")
        with pytest.raises(InvalidArgument, match="name"):
            await desk.replay(STAFF, f"{parent}/deliveries/nope")


async def test_staff_alone_manage_partner_webhooks_in_the_service(tmp_path):
    async with world(on_sqlite(tmp_path), **FAST) as w:
        desk = w.service.partner_webhooks
        made = await desk.create(STAFF, wanted("https://partner.example/hooks", "review.created"))
        name = f"partnerWebhooks/{made.id}"
        for caller in (person(), person(new_id(), Role.PRACTITIONER)):
            attempts = [
                partial(desk.create, caller, wanted("https://evil.example/", "review.created")),
                partial(desk.page, caller, 0, ""),
                partial(desk.get, caller, name),
                partial(desk.update, caller, replace(made, enabled=False), ["enabled"]),
                partial(desk.delete, caller, name),
                partial(desk.rotate_secret, caller, name),
                partial(desk.deliveries, caller, name, 0, ""),
                partial(desk.replay, caller, f"{name}/deliveries/{new_id()}"),
            ]
            for attempt in attempts:
                with pytest.raises(PermissionDenied):
                    await attempt()
        found = await desk.get(STAFF, name)
        assert (found.enabled, found.secret) == (True, made.secret)
        assert (await desk.page(STAFF, 0, "")).total == 1


@pytest.mark.parametrize(
    ("url", "event_types", "field"),
    [
        ("http://partner.example/hooks", ["booking.confirmed"], "url"),
        ("ftp://partner.example/hooks", ["booking.confirmed"], "url"),
        ("https://user:pw@partner.example/hooks", ["booking.confirmed"], "url"),
        ("partner.example/hooks", ["booking.confirmed"], "url"),
        ("https://partner.example/a hook", ["booking.confirmed"], "url"),
        ("https://partner.example/hooks", [], "event_types"),
        (
            "https://partner.example/hooks",
            ["booking.confirmed", "user.registered"],
            "event_types[1]",
        ),
    ],
)
async def test_bad_endpoints_are_refused_naming_the_field_and_nothing_is_made(
    tmp_path, url, event_types, field
):
    async with world(on_sqlite(tmp_path), **FAST) as w:
        desk = w.service.partner_webhooks
        with pytest.raises(InvalidArgument) as refused:
            await desk.create(STAFF, wanted(url, *event_types))
        assert [v.field for v in refused.value.violations] == [field]
        assert (await desk.page(STAFF, 0, "")).total == 0


async def test_plain_http_to_loopback_only_where_the_operator_allows_it(tmp_path):
    async with world(on_sqlite(tmp_path)) as w:
        with pytest.raises(InvalidArgument, match="https"):
            await w.service.partner_webhooks.create(
                STAFF, wanted("http://127.0.0.1:9/hooks", "booking.confirmed")
            )
    async with world(f"sqlite+aiosqlite:///{tmp_path}/other.db", **FAST) as w:
        for loopback in ("http://127.0.0.1:9/hooks", "http://[::1]:9/", "http://localhost/"):
            await w.service.partner_webhooks.create(STAFF, wanted(loopback, "booking.confirmed"))


async def test_an_update_changes_only_what_it_may(tmp_path):
    async with world(on_sqlite(tmp_path), **FAST) as w:
        desk = w.service.partner_webhooks
        made = await desk.create(STAFF, wanted("https://partner.example/hooks", "review.created"))
        changed = replace(made, url="https://elsewhere.example/", event_types=("payout.paid",))
        with pytest.raises(InvalidArgument) as refused:
            await desk.update(STAFF, changed, ["url", "event_types"])
        assert [v.field for v in refused.value.violations] == ["url"]
        with pytest.raises(InvalidArgument, match="update_mask"):
            await desk.update(STAFF, changed, [])
        updated = await desk.update(STAFF, changed, ["event_types"])
        assert (updated.url, updated.event_types) == (made.url, ("payout.paid",))
        with pytest.raises(NotFound):
            await desk.update(STAFF, replace(changed, id=new_id()), ["event_types"])


async def test_the_secret_shows_once_is_never_logged_nor_audited_and_rotation_replaces_it(
    tmp_path, caplog
):
    # Every line the service would write at DEBUG, libraries kept quiet as it keeps them.
    quieten_libraries()
    caplog.set_level(logging.DEBUG)
    settings = {"partner_webhook_retry_seconds": 1}
    async with partnered(on_sqlite(tmp_path), **settings) as (receiver, w):
        desk = w.service.partner_webhooks
        made = await subscribe(w, receiver)
        name = f"partnerWebhooks/{made.id}"
        assert made.secret.startswith("whsec_") and len(made.secret) >= len("whsec_") + 32
        assert made.secret not in repr(made)
        receiver.answers = [500]
        await publish(w, events.BOOKING_CONFIRMED, confirmed())
        await send(w)

        rotated = await desk.rotate_secret(STAFF, name)
        assert rotated.secret != made.secret
        # The old secret verifies nothing from now on; the new one does.
        w.clock.advance(timedelta(seconds=1))
        assert await send(w) == 1
        assert [r.verified for r in receiver.received] == [True, False]
        receiver.secret = rotated.secret
        assert receiver.verifies(receiver.received[1].body, receiver.received[1].headers)

        await desk.update(STAFF, replace(made, description="Acme"), ["description"])
        await desk.delete(STAFF, name)
        async with w.service.runtime.unit_of_work(MessagingUnitOfWork)(write=False) as uow:
            audited = [
                bytes(r.body).decode()
                for r in await uow.connection.execute(sa.select(outbox.c.body))
            ]
    assert len(audited) == 4  # create, rotate, update, delete
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "webhook delivery" in logged  # the failed attempt was logged, without the secret
    for secret in (made.secret, rotated.secret):
        key = secret.removeprefix("whsec_")
        assert key not in logged
        assert not any(key in entry for entry in audited)


async def test_deliveries_are_counted_by_outcome(tmp_path):
    metrics_on()
    settings = {"partner_webhook_retry_seconds": 1, "partner_webhook_max_attempts": 2}
    metric = "estuary_partner_webhooks_attempts_total"
    before = {o: value(scrape(), metric, outcome=o) for o in ("delivered", "retrying", "failed")}
    async with partnered(on_sqlite(tmp_path), **settings) as (receiver, w):
        await subscribe(w, receiver)
        receiver.answers = [500, 500, 500]
        await publish(w, events.BOOKING_CONFIRMED, confirmed())
        await publish(w, events.BOOKING_CONFIRMED, confirmed())
        await send(w)
        w.clock.advance(timedelta(seconds=1))
        await send(w)
    after = {o: value(scrape(), metric, outcome=o) for o in before}
    assert {o: after[o] - before[o] for o in before} == {"delivered": 1, "retrying": 2, "failed": 1}


async def test_two_concurrent_runs_send_each_due_delivery_once(empty_database_url):
    async with partnered(empty_database_url) as (receiver, w):
        webhook = await subscribe(w, receiver)
        for _ in range(6):
            await publish(w, events.BOOKING_CONFIRMED, confirmed())
        other = second_replica(w)
        outcome = await race([w.service.webhook_sender.send_due, other.send_due] * 2)
        assert outcome.losses == []
        assert sum(outcome.wins) == 6
        ids = [r.webhook_id for r in receiver.received]
        assert sorted(ids) == sorted({d.id for d in await log_of(w, webhook)})
        assert all(r.verified for r in receiver.received)


async def test_a_retried_create_answers_the_same_endpoint_and_secret(tmp_path):
    async with world(on_sqlite(tmp_path), **FAST) as w:
        desk = w.service.partner_webhooks
        asked = wanted("https://partner.example/hooks", "review.created")
        first = await desk.create(STAFF, asked, "retry-1")
        again = await desk.create(STAFF, asked, "retry-1")
        assert (again.id, again.secret) == (first.id, first.secret)
        other = await desk.create(STAFF, asked, "retry-2")
        assert other.id != first.id
        assert (await desk.page(STAFF, 0, "")).total == 2


async def test_finished_deliveries_are_forgotten_after_the_retention_and_pending_ones_never(
    tmp_path,
):
    settings = {"partner_webhook_retention_hours": 24, "partner_webhook_max_attempts": 1}
    async with partnered(on_sqlite(tmp_path), **settings) as (receiver, w):
        webhook = await subscribe(w, receiver)
        desk = w.service.partner_webhooks
        other = await desk.create(STAFF, wanted(receiver.url, "booking.confirmed"))
        await publish(w, events.BOOKING_CONFIRMED, confirmed())
        # The other endpoint's delivery stays pending, never attempted, while it is off.
        await desk.update(STAFF, replace(other, enabled=False), ["enabled"])
        assert await send(w) == 1
        receiver.answers = [500]
        await publish(w, events.BOOKING_CONFIRMED, confirmed())
        assert await send(w) == 0
        states = sorted(d.state.value for d in await log_of(w, webhook))
        assert states == ["delivered", "failed"]

        w.clock.advance(timedelta(hours=24))
        assert await w.service.webhook_sender.trim_finished() == 0
        w.clock.advance(timedelta(seconds=1))
        assert await w.service.webhook_sender.trim_finished() == 2
        assert await log_of(w, webhook) == []
        assert [d.state for d in await log_of(w, other)] == [DeliveryState.PENDING]


async def test_concurrent_deliveries_of_one_event_make_one_delivery_per_endpoint(
    empty_database_url,
):
    async with partnered(empty_database_url) as (receiver, w):
        webhook = await subscribe(w, receiver)
        event = wire_event(events.BOOKING_CONFIRMED, confirmed())
        replay = EventConsumer(
            replace(w.partners.subscription, queue="messaging.partner-webhooks-replay"),
            unit_of_work=w.service.runtime.unit_of_work(MessagingUnitOfWork),
            transport=w.service.runtime.transport,
        )
        deliveries = [OneDelivery(event) for _ in range(8)]
        consumers = [w.partners if n % 2 else replay for n in range(8)]
        outcome = await race(
            [partial(c.handle, d) for c, d in zip(consumers, deliveries, strict=True)]
        )
        assert outcome.losses == []
        assert [d.settled for d in deliveries] == [["ack"]] * 8
        assert await w.count(partner_webhook_deliveries, webhook_id=webhook.id) == 1


async def test_failures_recorded_at_once_by_two_runs_all_count_towards_disabling(
    empty_database_url,
):
    settings = {
        "partner_webhook_max_attempts": 1,
        "partner_webhook_disable_after_failures": 4,
    }
    async with partnered(empty_database_url, **settings) as (receiver, w):
        webhook = await subscribe(w, receiver)
        receiver.answers = [500] * 4
        for _ in range(4):
            await publish(w, events.BOOKING_CONFIRMED, confirmed())
        other = second_replica(w)
        # Each run takes two of the four; their failures are recorded side by side.
        w.service.runtime.settings.partner_webhook_batch_size = 2
        outcome = await race([w.service.webhook_sender.send_due, other.send_due])
        assert outcome.losses == []
        assert len(receiver.received) == 4
        found = await w.service.partner_webhooks.get(STAFF, f"partnerWebhooks/{webhook.id}")
        assert (found.consecutive_failures, found.enabled) == (4, False)


async def test_an_endpoint_nobody_listens_on_is_a_failed_attempt_tried_again(tmp_path):
    async with world(on_sqlite(tmp_path), start=now(), **FAST) as w:
        closed = f"http://127.0.0.1:{free_port()}/hooks"
        webhook = await w.service.partner_webhooks.create(STAFF, wanted(closed, "payout.paid"))
        await publish(w, events.PAYOUT_PAID, payments_pb.PayoutPaid(payout_id=new_id()))
        assert await send(w) == 0
        [delivery] = await log_of(w, webhook)
        assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
            DeliveryState.PENDING,
            1,
            0,
        )
        assert delivery.last_error.startswith("ConnectError")
