"""Liveness, readiness and the public signing keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from google.protobuf import json_format
from pydantic import BaseModel
from starlette.responses import Response

from estuary.identity.v1 import identity_pb2 as pb
from gateway.backends import Backends
from gateway.routes.common import anonymous, backends, json_response
from gateway.schemas.identity import JsonWebKeySet

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str
    backends: dict[str, str] = {}


@router.get("/healthz", response_model=Health)
async def healthz() -> Response:
    """The gateway process is alive."""
    return json_response(Health(status="ok"))


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(api: Backends = Depends(backends)) -> Response:
    """Every backend's gRPC health check answers SERVING."""
    found = await api.health()
    ready = all(status == "SERVING" for status in found.values())
    return json_response(
        Health(status="ready" if ready else "not ready", backends=found), 200 if ready else 503
    )


@router.get("/.well-known/jwks.json", response_model=JsonWebKeySet, tags=["auth"])
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
