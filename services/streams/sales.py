"""Streams' side of readers' money: what payments may sell of a stream (its terms, asked by
payments with its service token), each sale payments reports paid, recorded once (the
creator's revenue, a post's tips, a buyer's unlock, a subscription's paid period), and the
revenue its owner reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chassis.auth.principal import Principal
from chassis.bus.envelope import ReceivedEvent
from chassis.errors import InvalidArgument, NotFound, PermissionDenied
from chassis.ids import is_uuid
from chassis.money import Money
from chassis.wire import ProtoEnum, instant
from estuary.payments.v1 import events_pb2 as payments_events
from services.streams.desk import (
    post_name_in,
    post_not_found,
    stream_id_in,
    stream_of,
    tier_name_in,
)
from services.streams.domain.sales import Revenue, Sale, SaleKind, SaleTerms, revenue_of
from services.streams.domain.streams import FREE_LEVEL, STREAM_PREFIX, PostState
from services.streams.uow import StreamsUnitOfWork

SALE_KINDS = ProtoEnum(payments_events.StreamOrderKind, SaleKind, prefix="STREAM_ORDER_KIND_")
ORDER_PREFIX = "streamOrders/"
REVENUE_SUFFIX = "/revenue"


@dataclass
class SalesDesk:
    """What streams tells payments it sells."""

    unit_of_work: Callable[..., StreamsUnitOfWork]

    async def revenue(self, caller: Principal, name: str) -> Revenue:
        """What the stream's readers paid its creator; its owner only."""
        if not name.endswith(REVENUE_SUFFIX):
            raise InvalidArgument.field("name", "must be streams/{id}/revenue", "invalid")
        stream_id = stream_id_in("name", name.removesuffix(REVENUE_SUFFIX))
        async with self.unit_of_work(write=False) as uow:
            stream = await stream_of(uow, stream_id)
            if not stream.owned_by(caller.user_id):
                raise PermissionDenied(
                    "only the stream's owner reads its revenue", reason="NOT_STREAM_OWNER"
                )
            sales = await uow.sales.of_stream(stream_id)
        return revenue_of(stream_id, sales)

    async def sale_terms(self, name: str) -> SaleTerms:
        """The terms of a stream, of one of its published posts (a draft is not sold) or of
        one of its paid tiers (the free tier is not sold)."""
        if "/tiers/" in name:
            return await self._tier_terms(name)
        post_id = None
        if "/posts/" in name:
            stream_id, post_id = post_name_in("name", name)
        else:
            stream_id = stream_id_in("name", name)
        async with self.unit_of_work(write=False) as uow:
            stream = await stream_of(uow, stream_id)
            post = None if post_id is None else await uow.posts.get(stream_id, post_id)
        if post_id is not None and (post is None or post.state is not PostState.PUBLISHED):
            raise post_not_found(stream_id, post_id)
        return SaleTerms.of(stream, post)

    async def _tier_terms(self, name: str) -> SaleTerms:
        stream_id, level = tier_name_in("name", name)
        async with self.unit_of_work(write=False) as uow:
            stream = await stream_of(uow, stream_id)
        tier = next((t for t in stream.tiers if t.level == level), None)
        if tier is None or level == FREE_LEVEL:
            raise NotFound(f"{name} is not a paid tier of the stream", reason="TIER_NOT_FOUND")
        return SaleTerms.of(stream, None, tier)


def sale_of(event: ReceivedEvent[Any]) -> Sale:
    """The sale stream_order.paid reports; a message naming no order, stream, post or buyer
    as it should is refused (retried, then dead-lettered), never guessed at."""
    paid: payments_events.StreamOrderPaid = event.message
    order_id = paid.order.removeprefix(ORDER_PREFIX)
    stream_id = paid.stream.removeprefix(STREAM_PREFIX)
    post_id = paid.post.rsplit("/", 1)[-1] if paid.post else ""
    kind = SALE_KINDS.from_proto(paid.kind)
    named = [order_id, stream_id, paid.user_id] + ([post_id] if post_id else [])
    if kind is None or not all(is_uuid(i) for i in named):
        raise ValueError(f"{event.type} {event.id}: not an order of a stream's this names")
    if kind is SaleKind.UNLOCK and not post_id:
        raise ValueError(f"{event.type} {event.id}: an unlock names no post")
    if kind is SaleKind.SUBSCRIPTION and post_id:
        raise ValueError(f"{event.type} {event.id}: a subscription's period names a post")
    return Sale(
        order_id,
        kind,
        stream_id,
        post_id,
        paid.user_id,
        Money(paid.amount.amount_minor, paid.amount.currency),
        Money(paid.earning.amount_minor, paid.earning.currency),
        instant(paid.paid_time),
    )


async def record_sale(uow: StreamsUnitOfWork, event: ReceivedEvent[Any]) -> None:
    """Records a paid order once, however often it is delivered."""
    await uow.sales.add(sale_of(event))
