"""What every route module uses: the app's backends and the JSON response helper."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from chassis.grpc_client import call_metadata
from gateway.backends import Backends

IDEMPOTENCY_KEY = "Idempotency-Key"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY,
        max_length=100,
        description="Makes a retry safe: a retry with the same key (from the same caller, "
        "with the same body) answers like the first call, and changes nothing again. A key "
        "reused for a different request is refused (400 naming Idempotency-Key).",
    ),
]


async def backends(request: Request) -> Backends:
    """The gateway's gRPC stubs (async, so FastAPI calls it inline rather than in a thread)."""
    return request.app.state.backends


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serializes a response model once, in pydantic's Rust core, skipping re-validation."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def anonymous() -> tuple[tuple[str, str], ...]:
    """Metadata for a call made on behalf of nobody in particular."""
    return call_metadata()
