"""What a stream, post or paid tier is sold for, asked of streams over gRPC with payments' own
service token: who the money goes to, in which currency, a post's unlock price and a tier's
level and monthly price. Payments never takes a client's word for any of it."""

from __future__ import annotations

from typing import Protocol

import grpc

from chassis.auth.remote import ServiceTokens
from chassis.errors import NotFound, Unavailable
from chassis.grpc_client import call_metadata, retrying
from chassis.money import Money
from estuary.streams.v1 import streams_pb2 as pb
from estuary.streams.v1 import streams_pb2_grpc
from services.payments.domain.stream_orders import SaleTerms
from services.payments.domain.stream_subscriptions import TierTerms

DEADLINE_SECONDS = 3.0


class StreamCatalogue(Protocol):
    async def terms(self, name: str) -> SaleTerms:
        """The terms of "streams/{id}" or "streams/{id}/posts/{id}"; NotFound if streams
        sells no such thing, Unavailable if it does not answer."""
        ...

    async def tier(self, name: str) -> TierTerms:
        """The terms of a paid tier, "streams/{id}/tiers/{level}"; NotFound if streams does
        not sell it (the free tier included), Unavailable if it does not answer."""
        ...


class StreamSaleTerms:
    """Streams' GetSaleTerms, as payments' service identity."""

    def __init__(self, channel: grpc.aio.Channel, tokens: ServiceTokens) -> None:
        self._stub = retrying(streams_pb2_grpc.StreamsServiceStub(channel))
        self._tokens = tokens

    async def _ask(self, name: str) -> pb.SaleTerms:
        try:
            found: pb.SaleTerms = await self._stub.GetSaleTerms(
                pb.GetSaleTermsRequest(name=name),
                timeout=DEADLINE_SECONDS,
                metadata=call_metadata(await self._tokens.token()),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound(f"{name} was not found", reason="NOT_FOR_SALE") from None
            raise Unavailable(f"streams did not answer: {error.details()}") from error
        return found

    async def terms(self, name: str) -> SaleTerms:
        found = await self._ask(name)
        unlock = found.unlock_price if found.HasField("unlock_price") else None
        return SaleTerms(
            stream_id=found.stream.removeprefix("streams/"),
            post_id=found.post.rsplit("/", 1)[-1] if found.post else "",
            owner_user_id=found.owner_user_id,
            currency=found.currency,
            unlock_price=None if unlock is None else Money(unlock.amount_minor, unlock.currency),
        )

    async def tier(self, name: str) -> TierTerms:
        found = await self._ask(name)
        if found.tier != name or found.level <= 0 or not found.HasField("tier_price"):
            # A streams that does not yet sell tiers answers the stream alone.
            raise NotFound(f"{name} was not found", reason="NOT_FOR_SALE")
        price = found.tier_price
        return TierTerms(
            stream_id=found.stream.removeprefix("streams/"),
            level=found.level,
            owner_user_id=found.owner_user_id,
            display_name=found.tier_display_name,
            price=Money(price.amount_minor, price.currency),
        )
