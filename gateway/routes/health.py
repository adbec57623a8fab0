"""Liveness, readiness, metrics and the public signing keys."""

from __future__ import annotations

from fastapi import Depends, Request
from google.protobuf import json_format
from pydantic import BaseModel, Field
from starlette.responses import Response

from chassis.metrics import prometheus_text
from estuary.identity.v1 import identity_pb2 as pb
from gateway.backends import Backends
from gateway.routes.common import GatewayRouter, anonymous, backends, json_response
from gateway.schemas.common import examples
from gateway.schemas.identity import JsonWebKeySet

router = GatewayRouter()


class Health(BaseModel):
    model_config = examples(
        {"status": "ready", "backends": {"identity": "SERVING", "catalog": "SERVING"}}
    )

    status: str = Field(
        description="ok (liveness); ready, degraded (a backend is not serving) or not ready"
    )
    backends: dict[str, str] = Field(
        default={}, description="Each backend's gRPC health status (SERVING, UNAVAILABLE, ...)."
    )


@router.get("/healthz", operation_id="health.live", response_model=Health, tags=["health"])
async def healthz() -> Response:
    """The gateway process is alive."""
    return json_response(Health(status="ok"))


@router.get(
    "/readyz",
    operation_id="health.ready",
    tags=["health"],
    response_model=Health,
    responses={503: {"model": Health, "description": "The gateway is starting or stopping."}},
)
async def readyz(request: Request) -> Response:
    """Whether this gateway can take traffic, with each backend's health.

    200 from the end of its start-up until its shutdown begins, whatever the backends say:
    every gateway replica sees the same backends, so taking them all out of rotation for one
    backend would turn a partial outage into a full one. `status` is "degraded" while a
    backend is not SERVING (its routes answer 503 meanwhile). 503 "not ready" only while the
    gateway itself is starting (its backend channels not open yet) or stopping.
    """
    state = request.app.state
    if not getattr(state, "ready", False):
        return json_response(Health(status="not ready"), 503)
    backends: Backends = state.backends
    found = await backends.health()
    serving = all(status == "SERVING" for status in found.values())
    return json_response(Health(status="ready" if serving else "degraded", backends=found))


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """The process's metrics as Prometheus text (OpenMetrics if the scraper asks for it);
    under `estuary up`, every service's in the process too."""
    body, content_type = prometheus_text(request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type})


@router.get(
    "/.well-known/jwks.json",
    operation_id="auth.get_jwks",
    response_model=JsonWebKeySet,
    tags=["auth"],
)
async def jwks(api: Backends = Depends(backends)) -> Response:
    """The public keys that verify Estuary's access tokens."""
    found = await api.auth.GetJwks(pb.GetJwksRequest(), metadata=anonymous())
    response = json_response(
        JsonWebKeySet(
            keys=[
                json_format.MessageToDict(k, preserving_proto_field_name=True) for k in found.keys
            ]
        )
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
