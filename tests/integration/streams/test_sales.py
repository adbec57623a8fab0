"""Streams' side of readers' money, on both databases: the terms payments is told (the
stream's owner and currency; a paid tier's level, name and price; a draft, unknown post or
the free tier not sold), and each stream_order.paid (a tip, an unlock, a subscription's
period) recorded once however often, and however concurrently, it is delivered; a message
that does not name an order as it should is dead-lettered, recording nothing."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message

from chassis.bus.consumer import EventConsumer
from chassis.clock import FrozenClock
from chassis.errors import InvalidArgument, NotFound, PermissionDenied
from chassis.ids import new_id
from chassis.money import Money
from chassis.wire import timestamp
from estuary.payments.v1 import events_pb2 as payments_pb
from services.streams.bootstrap import StreamsService
from services.streams.domain.sales import SaleKind
from services.streams.events import STREAM_ORDER_PAID
from services.streams.uow import StreamsUnitOfWork
from services.streams.wire import revenue_to_proto, sale_terms_to_proto
from tests.builders import person
from tests.integration.messaging.world import OneDelivery, wire_event
from tests.integration.streams.world import START, built_streams, consume, practitioner
from tests.races import race


async def a_stream(service: StreamsService, currency: str = "USD") -> tuple[str, str, str]:
    """A stream with a paid tier, a published post and a draft: their names."""
    desk, owner = service.desk, practitioner()
    stream = await desk.create_stream(owner, "Breath", "")
    parent = f"streams/{stream.id}"
    await desk.create_tier(owner, parent, "Friends", Money(500, currency))
    post = await desk.create_post(owner, parent, "Out", "Read me", 1)
    published = f"{parent}/posts/{post.id}"
    await desk.publish_post(owner, published)
    draft = await desk.create_post(owner, parent, "Soon", "Not yet", 0)
    return parent, published, f"{parent}/posts/{draft.id}"


def paid(
    stream: str, post: str, changed: dict[str, object] | None = None
) -> payments_pb.StreamOrderPaid:
    """stream_order.paid of a tip of 5.00 on the post, with some of its fields changed."""
    message = payments_pb.StreamOrderPaid(
        order=f"streamOrders/{new_id()}",
        kind=payments_pb.STREAM_ORDER_KIND_TIP,
        user_id=person().user_id,
        stream=stream,
        post=post,
        creator_user_id=person().user_id,
        amount=Money(500, "USD").to_proto(),
        earning=Money(400, "USD").to_proto(),
        commission=Money(100, "USD").to_proto(),
        paid_time=timestamp(START),
    )
    for name, value in (changed or {}).items():
        if isinstance(value, Message):
            getattr(message, name).CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


async def sales_of(service: StreamsService, stream: str):
    async with service.runtime.unit_of_work(StreamsUnitOfWork)(write=False) as uow:
        return await uow.sales.of_stream(stream.removeprefix("streams/"))


async def test_payments_is_told_the_owner_currency_and_unlock_price_of_what_is_sold(
    empty_database_url,
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        stream, post, draft = await a_stream(service)
        sales = service.sales
        terms = await sales.sale_terms(stream)
        found = await service.desk.get_stream(stream)
        assert (terms.owner_user_id, terms.currency, terms.post_id) == (
            found.owner_user_id,
            "USD",
            "",
        )
        on_post = await sales.sale_terms(post)
        assert on_post.post_id == post.rsplit("/", 1)[-1]
        assert on_post.unlock_price is None
        for unknown in (draft, f"{stream}/posts/{new_id()}", f"streams/{new_id()}"):
            with pytest.raises(NotFound):
                await sales.sale_terms(unknown)
        for malformed in ("streams/x", f"{stream}/posts/x", "posts/1", ""):
            with pytest.raises(InvalidArgument):
                await sales.sale_terms(malformed)


async def test_payments_is_told_a_paid_tiers_level_name_and_monthly_price(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        stream, _, _ = await a_stream(service)
        owner = person((await service.desk.get_stream(stream)).owner_user_id)
        await service.desk.create_tier(owner, stream, "Circle", Money(900, "USD"))
        terms = await service.sales.sale_terms(f"{stream}/tiers/2")
        assert (terms.owner_user_id, terms.currency, terms.post_id) == (owner.user_id, "USD", "")
        assert terms.tier is not None
        assert (terms.tier.level, terms.tier.display_name, terms.tier.price) == (
            2,
            "Circle",
            Money(900, "USD"),
        )
        wire = sale_terms_to_proto(terms)
        assert (wire.tier, wire.level, wire.tier_display_name) == (
            f"{stream}/tiers/2",
            2,
            "Circle",
        )
        assert wire.tier_price == Money(900, "USD").to_proto()
        # A tier's new price is what the next subscriber is told.
        await service.desk.update_tier(owner, f"{stream}/tiers/1", ["price"], "", Money(700, "USD"))
        assert (await service.sales.sale_terms(f"{stream}/tiers/1")).tier.price == Money(700, "USD")
        # The free tier is not sold; nor is a level the stream does not have.
        for unsold in (f"{stream}/tiers/0", f"{stream}/tiers/3", f"streams/{new_id()}/tiers/1"):
            with pytest.raises(NotFound):
                await service.sales.sale_terms(unsold)
        for malformed in (
            f"{stream}/tiers/x",
            f"{stream}/tiers/-1",
            f"{stream}/tiers/",
            "a/tiers/1",
        ):
            with pytest.raises(InvalidArgument) as refused:
                await service.sales.sale_terms(malformed)
            assert [v.field for v in refused.value.violations] == ["name"]


async def test_a_stream_without_a_paid_tier_is_paid_in_the_free_tiers_currency(
    empty_database_url,
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        stream = await service.desk.create_stream(practitioner(), "Breath", "")
        assert (await service.sales.sale_terms(f"streams/{stream.id}")).currency == "EUR"


async def test_a_paid_order_is_recorded_once_however_often_it_is_delivered(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        stream, post, _ = await a_stream(service)
        message = paid(stream, post)
        event = wire_event(STREAM_ORDER_PAID, message)
        subscription = next(s for s in service.subscriptions if s.queue == "streams.sales")
        consumer = EventConsumer(
            subscription,
            unit_of_work=service.runtime.unit_of_work(StreamsUnitOfWork),
            transport=service.runtime.transport,
        )
        # The same event ten times at once, then under another event id (a replay).
        deliveries = [OneDelivery(event) for _ in range(10)]
        outcome = await race([lambda d=d: consumer.handle(d) for d in deliveries])
        assert outcome.losses == []
        assert {tuple(d.settled) for d in deliveries} <= {("ack",), ("retry",)}
        assert (await consume(service, "streams.sales", STREAM_ORDER_PAID, message)).settled == [
            "ack"
        ]
        [sale] = await sales_of(service, stream)
        assert sale.order_id == message.order.removeprefix("streamOrders/")
        assert (sale.kind, sale.post_id) == (SaleKind.TIP, post.rsplit("/", 1)[-1])
        assert (sale.amount, sale.earning) == (Money(500, "USD"), Money(400, "USD"))


@pytest.mark.parametrize(
    "broken",
    [
        {"order": "streamOrders/nope"},
        {"stream": "streams/nope"},
        {"user_id": ""},
        {"kind": payments_pb.STREAM_ORDER_KIND_UNSPECIFIED},
        {"kind": payments_pb.STREAM_ORDER_KIND_UNLOCK, "post": ""},
        # A subscription's period is of the stream, never of a post.
        {"kind": payments_pb.STREAM_ORDER_KIND_SUBSCRIPTION},
    ],
)
async def test_a_message_that_names_no_order_as_it_should_records_nothing(
    empty_database_url, broken
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        stream, post, _ = await a_stream(service)
        delivery = await consume(
            service, "streams.sales", STREAM_ORDER_PAID, paid(stream, post, broken)
        )
        assert delivery.settled != ["ack"]
        assert await sales_of(service, stream) == []


async def test_a_bought_post_reads_whole_for_its_buyer_only_whatever_their_tier(
    empty_database_url,
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner = service.desk, practitioner()
        stream = await desk.create_stream(owner, "Breath", "")
        parent = f"streams/{stream.id}"
        await desk.create_tier(owner, parent, "Friends", Money(500, "USD"))
        draft = await desk.create_post(
            owner, parent, "Deep", "The whole practice", 1, unlock_price=Money(300, "USD")
        )
        name = f"{parent}/posts/{draft.id}"
        await desk.publish_post(owner, name)
        buyer, other = person(), person()
        for reader in (buyer, other):
            await desk.follow(reader, parent)
        teaser = await desk.get_post(buyer, name)
        assert (teaser.locked, teaser.body, teaser.unlock_price) == (
            True,
            "",
            Money(300, "USD"),
        )
        assert (await service.sales.sale_terms(name)).unlock_price == Money(300, "USD")

        unlock = paid(
            parent,
            name,
            {"kind": payments_pb.STREAM_ORDER_KIND_UNLOCK, "user_id": buyer.user_id},
        )
        assert (await consume(service, "streams.sales", STREAM_ORDER_PAID, unlock)).settled == [
            "ack"
        ]
        whole = await desk.get_post(buyer, name)
        assert (whole.locked, whole.body, whole.unlocked) == (False, "The whole practice", True)
        [listed] = (await desk.list_posts(buyer, parent, 10, "")).items
        [fed] = (await desk.feed(buyer, 10, "")).items
        assert not listed.locked and not fed.locked
        liked = await service.engagement.like(buyer, name)
        assert liked.like_count == 1
        # Someone else at the same level still reads a teaser, and may not like it.
        assert (await desk.get_post(other, name)).locked
        with pytest.raises(PermissionDenied):
            await service.engagement.like(other, name)


async def test_an_unlock_price_is_above_nothing_and_may_be_taken_off(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner = service.desk, practitioner()
        stream = await desk.create_stream(owner, "Breath", "")
        parent = f"streams/{stream.id}"
        for price in (Money(0, "USD"), Money(-1, "USD")):
            with pytest.raises(InvalidArgument) as refused:
                await desk.create_post(owner, parent, "Deep", "Body", 0, unlock_price=price)
            assert [v.field for v in refused.value.violations] == ["post.unlock_price.amount_minor"]
        post = await desk.create_post(
            owner, parent, "Deep", "Body", 0, unlock_price=Money(1, "USD")
        )
        name = f"{parent}/posts/{post.id}"
        taken_off = await desk.update_post(owner, name, ["unlock_price"], "", "", 0)
        assert taken_off.unlock_price is None
        await desk.publish_post(owner, name)
        assert (await service.sales.sale_terms(name)).unlock_price is None
        # Only the owner prices a post.
        with pytest.raises(PermissionDenied):
            await desk.update_post(
                person(), name, ["unlock_price"], "", "", 0, unlock_price=Money(1, "USD")
            )


async def test_the_owner_alone_reads_what_readers_paid_in_all_per_month_and_per_post(
    empty_database_url,
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        stream, post, _ = await a_stream(service)
        owner_id = (await service.desk.get_stream(stream)).owner_user_id
        sales = [
            paid(stream, post),
            paid(stream, "", {"amount": Money(1_000, "USD").to_proto()}),
            paid(stream, post, {"kind": payments_pb.STREAM_ORDER_KIND_UNLOCK}),
            # Two paid periods of a subscription: of the stream, never of a post.
            paid(stream, "", {"kind": payments_pb.STREAM_ORDER_KIND_SUBSCRIPTION}),
            paid(stream, "", {"kind": payments_pb.STREAM_ORDER_KIND_SUBSCRIPTION}),
            paid(
                stream,
                "",
                {
                    "amount": Money(700, "EUR").to_proto(),
                    "paid_time": timestamp(START.replace(month=10)),
                },
            ),
        ]
        for message in sales:
            await consume(service, "streams.sales", STREAM_ORDER_PAID, message)
        revenue = await service.sales.revenue(person(owner_id), f"{stream}/revenue")
        eur, usd = revenue.totals
        assert (eur.currency, eur.tips_minor, eur.tip_count) == ("EUR", 700, 1)
        assert (usd.tips_minor, usd.tip_count, usd.unlocks_minor, usd.unlock_count) == (
            1_500,
            2,
            500,
            1,
        )
        assert (usd.subscriptions_minor, usd.subscription_count) == (1_000, 2)
        assert usd.earning_minor == 2_000
        assert (eur.subscriptions_minor, eur.subscription_count) == (0, 0)
        wire = revenue_to_proto(revenue)
        assert (wire.totals[1].subscriptions.amount_minor, wire.totals[1].subscription_count) == (
            1_000,
            2,
        )
        assert [month for month, _ in revenue.months] == ["2026-11", "2026-10"]
        [(post_id, [on_post])] = revenue.posts
        assert post_id == post.rsplit("/", 1)[-1]
        assert (on_post.tip_count, on_post.unlock_count) == (1, 1)
        with pytest.raises(PermissionDenied):
            await service.sales.revenue(person(), f"{stream}/revenue")
        for malformed in (stream, f"{stream}/revenues", "streams/x/revenue"):
            with pytest.raises(InvalidArgument):
                await service.sales.revenue(person(owner_id), malformed)
        with pytest.raises(NotFound):
            await service.sales.revenue(person(owner_id), f"streams/{new_id()}/revenue")
