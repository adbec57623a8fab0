"""What a service other than identity asks identity for, over real gRPC on loopback against
a stand-in identity: the signing keys, and its own service token, renewed a minute early."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from chassis.auth.remote import ServiceTokens, identity_jwks
from chassis.clock import FrozenClock
from chassis.context import request_id_var
from estuary.identity.v1 import identity_pb2, identity_pb2_grpc

# gRPC rounds a deadline up when it writes it on the wire (grpc-timeout) and the server
# reckons it on its own clock, so a 3 s deadline arrives as up to about 3.01 s remaining
# (measured: 284 of 300 calls above 3.0, none above 3.01).
WIRE_ROUNDING = 0.05

KEY = {"kid": "k1", "kty": "OKP", "crv": "Ed25519", "x": "abc", "alg": "EdDSA", "use": "sig"}


class StandInIdentity(identity_pb2_grpc.AuthServiceServicer):
    def __init__(self) -> None:
        self.requests: list[identity_pb2.IssueServiceTokenRequest] = []
        self.deadlines: list[float | None] = []
        self.metadata: list[dict[str, str]] = []
        self.expires_in = 900

    async def GetJwks(self, request, context):
        self.deadlines.append(context.time_remaining())
        self.metadata.append(dict(context.invocation_metadata()))
        return identity_pb2.GetJwksResponse(
            keys=[identity_pb2.JsonWebKey(**KEY), identity_pb2.JsonWebKey(kid="k2", kty="OKP")]
        )

    async def IssueServiceToken(self, request, context):
        self.requests.append(request)
        self.deadlines.append(context.time_remaining())
        self.metadata.append(dict(context.invocation_metadata()))
        return identity_pb2.IssueServiceTokenResponse(
            access_token=f"token-{len(self.requests)}", expires_in=self.expires_in
        )


@pytest.fixture
async def identity() -> AsyncIterator[tuple[StandInIdentity, grpc.aio.Channel]]:
    server = grpc.aio.server()
    stand_in = StandInIdentity()
    identity_pb2_grpc.add_AuthServiceServicer_to_server(stand_in, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield stand_in, channel
    finally:
        await server.stop(None)


async def test_the_keys_are_fetched_as_json_web_keys_with_a_deadline(identity):
    stand_in, channel = identity
    request_id_var.set("req-keys-1")
    keys = await identity_jwks(channel)()
    assert keys == [KEY, {"kid": "k2", "kty": "OKP"}]
    [remaining] = stand_in.deadlines
    assert remaining is not None and 0 < remaining <= 3.0 + WIRE_ROUNDING
    assert stand_in.metadata[0]["x-request-id"] == "req-keys-1"


async def test_a_service_token_is_kept_and_renewed_a_minute_before_it_expires(identity):
    stand_in, channel = identity
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    tokens = ServiceTokens(channel, client_id="catalog", client_secret="s3cret", clock=clock)
    request_id_var.set("req-token-1")
    assert await tokens.token() == "token-1"
    assert [(r.client_id, r.client_secret) for r in stand_in.requests] == [("catalog", "s3cret")]
    assert stand_in.metadata[0]["x-request-id"] == "req-token-1"
    assert all(d is not None and 0 < d <= 3.0 + WIRE_ROUNDING for d in stand_in.deadlines)
    clock.advance(timedelta(seconds=900 - 61))
    assert await tokens.token() == "token-1"
    clock.advance(timedelta(seconds=1))  # 60 s before it expires: renewed
    assert await tokens.token() == "token-2"
    assert await tokens.token() == "token-2"


async def test_a_token_shorter_lived_than_a_minute_is_renewed_after_a_second(identity):
    stand_in, channel = identity
    stand_in.expires_in = 30
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    tokens = ServiceTokens(channel, client_id="catalog", client_secret="s3cret", clock=clock)
    assert await tokens.token() == "token-1"
    clock.advance(timedelta(milliseconds=999))
    assert await tokens.token() == "token-1"
    clock.advance(timedelta(milliseconds=1))
    assert await tokens.token() == "token-2"
