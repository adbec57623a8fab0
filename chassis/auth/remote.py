"""What services other than identity need from it to authenticate: its JWKS, service tokens."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
from google.protobuf import json_format

from chassis.auth.tokens import JwksFetcher
from chassis.clock import Clock
from chassis.grpc_client import call_metadata, retrying
from estuary.identity.v1 import identity_pb2, identity_pb2_grpc

JWKS_DEADLINE_SECONDS = 3.0


def identity_jwks(channel: grpc.aio.Channel) -> JwksFetcher:
    """Fetches the signing keys from identity's public GetJwks method."""
    stub = retrying(identity_pb2_grpc.AuthServiceStub(channel))

    async def fetch() -> list[dict[str, str]]:
        response = await stub.GetJwks(
            identity_pb2.GetJwksRequest(), timeout=JWKS_DEADLINE_SECONDS, metadata=call_metadata()
        )
        return [
            json_format.MessageToDict(key, preserving_proto_field_name=True)
            for key in response.keys
        ]

    return fetch


class ServiceTokens:
    """This service's own token for calling other services' internal methods, kept fresh."""

    def __init__(
        self, channel: grpc.aio.Channel, *, client_id: str, client_secret: str, clock: Clock
    ) -> None:
        self._stub = retrying(identity_pb2_grpc.AuthServiceStub(channel))
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._token = ""
        self._renew_at = clock.now()
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A valid service token, renewed a minute before it would expire."""
        async with self._lock:
            if not self._token or self._clock.now() >= self._renew_at:
                response = await self._stub.IssueServiceToken(
                    identity_pb2.IssueServiceTokenRequest(
                        client_id=self._client_id, client_secret=self._client_secret
                    ),
                    timeout=JWKS_DEADLINE_SECONDS,
                    metadata=call_metadata(),
                )
                self._token = response.access_token
                lifetime = timedelta(seconds=max(response.expires_in - 60, 1))
                self._renew_at = self._clock.now() + lifetime
            return self._token
