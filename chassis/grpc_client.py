"""gRPC clients: a deadline on every call, retries on UNAVAILABLE only, context propagated."""

from __future__ import annotations

import json

import grpc
from opentelemetry import propagate

from chassis.context import REQUEST_ID_HEADER, current_request_id

DEFAULT_DEADLINE_SECONDS = 5.0


def open_channel(target: str, *, deadline: float = DEFAULT_DEADLINE_SECONDS) -> grpc.aio.Channel:
    """A channel whose every method has a default deadline and retries only UNAVAILABLE."""
    service_config = {
        # Behind a headless Service every replica is an address: spread calls across them.
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{}],
                "timeout": f"{deadline}s",
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.service_config", json.dumps(service_config)),
            ("grpc.enable_retries", 1),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
        ],
    )


def call_metadata(token: str | None = None) -> tuple[tuple[str, str], ...]:
    """Metadata for an outgoing call: bearer token, request id and trace context."""
    metadata: list[tuple[str, str]] = []
    if token:
        metadata.append(("authorization", f"Bearer {token}"))
    request_id = current_request_id()
    if request_id:
        metadata.append((REQUEST_ID_HEADER, request_id))
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    metadata.extend(carrier.items())
    return tuple(metadata)
