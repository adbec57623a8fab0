"""Who follows a stream, asked of streams over gRPC with messaging's own service token: the
people a new post is news to."""

from __future__ import annotations

from typing import Protocol

import grpc

from chassis.auth.remote import ServiceTokens
from chassis.grpc_client import call_metadata, retrying
from estuary.streams.v1 import streams_pb2 as pb
from estuary.streams.v1 import streams_pb2_grpc

DEADLINE_SECONDS = 3.0
PAGE_SIZE = 100


class Followers(Protocol):
    async def of(self, stream: str, min_level: int) -> list[str]:
        """The user ids of the stream's followers at min_level or above."""
        ...


class StreamFollowers:
    """Streams' ListFollowers, paged to the end, as messaging's service identity. A failure
    raises: the event is redelivered (its notices are made once whenever it succeeds)."""

    def __init__(self, channel: grpc.aio.Channel, tokens: ServiceTokens) -> None:
        self._stub = retrying(streams_pb2_grpc.StreamsServiceStub(channel))
        self._tokens = tokens

    async def of(self, stream: str, min_level: int) -> list[str]:
        metadata = call_metadata(await self._tokens.token())
        found: list[str] = []
        token = ""
        while True:
            page = await self._stub.ListFollowers(
                pb.ListFollowersRequest(
                    parent=stream, min_level=min_level, page_size=PAGE_SIZE, page_token=token
                ),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
            found.extend(page.user_ids)
            token = page.next_page_token
            if not token:
                return found
