"""What a stream or post is sold for, asked of streams over gRPC with payments' own service
token: who the money goes to, in which currency, and a post's unlock price. Payments never
takes a client's word for any of it."""

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

DEADLINE_SECONDS = 3.0


class StreamCatalogue(Protocol):
    async def terms(self, name: str) -> SaleTerms:
        """The terms of "streams/{id}" or "streams/{id}/posts/{id}"; NotFound if streams
        sells no such thing, Unavailable if it does not answer."""
        ...


class StreamSaleTerms:
    """Streams' GetSaleTerms, as payments' service identity."""

    def __init__(self, channel: grpc.aio.Channel, tokens: ServiceTokens) -> None:
        self._stub = retrying(streams_pb2_grpc.StreamsServiceStub(channel))
        self._tokens = tokens

    async def terms(self, name: str) -> SaleTerms:
        try:
            found = await self._stub.GetSaleTerms(
                pb.GetSaleTermsRequest(name=name),
                timeout=DEADLINE_SECONDS,
                metadata=call_metadata(await self._tokens.token()),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound(f"{name} was not found", reason="NOT_FOR_SALE") from None
            raise Unavailable(f"streams did not answer: {error.details()}") from error
        unlock = found.unlock_price if found.HasField("unlock_price") else None
        return SaleTerms(
            stream_id=found.stream.removeprefix("streams/"),
            post_id=found.post.rsplit("/", 1)[-1] if found.post else "",
            owner_user_id=found.owner_user_id,
            currency=found.currency,
            unlock_price=None if unlock is None else Money(unlock.amount_minor, unlock.currency),
        )
