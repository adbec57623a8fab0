"""RFC 9457 problem+json for every error the gateway answers, with per-field violations."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import grpc
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from chassis.context import current_request_id
from chassis.errors import DomainError, FieldViolation, http_status_for, rpc_failure

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://estuary.dev/problems/"
MEDIA_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal error",
    501: "Not implemented",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class Violation(BaseModel):
    """What is wrong with one field of the request."""

    field: str = Field(description="The field, dotted for nested ones: 'price.currency'.")
    message: str
    code: str = Field(description="A stable machine-readable reason, e.g. 'too_short'.")


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int = Field(ge=100, le=599)
    detail: str
    code: str = Field(description="A stable machine-readable reason, e.g. 'EMAIL_TAKEN'.")
    errors: list[Violation] = Field(default_factory=list)
    request_id: str | None = None


def problem_response(
    status: int,
    code: str,
    detail: str,
    violations: Sequence[FieldViolation] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    """A problem+json response."""
    body = {
        "type": PROBLEM_TYPE_BASE + re.sub(r"[^a-z0-9]+", "-", code.lower()).strip("-"),
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "errors": [{"field": v.field, "message": v.message, "code": v.code} for v in violations],
        "request_id": current_request_id(),
    }
    response = Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="estuary"'
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


class PayloadTooLarge(HTTPException):
    """A request body past its limit; an HTTPException, which FastAPI's body reading lets
    through to the handler rather than calling it a parse error."""

    def __init__(self, limit: int) -> None:
        # The rest of the body is not read: the connection cannot carry another request.
        super().__init__(413, f"must be at most {limit} bytes", headers={"Connection": "close"})
        self.limit = limit


def payload_too_large(error: PayloadTooLarge) -> Response:
    """The 413 for a body past its limit, naming the body as the field at fault."""
    return problem_response(
        413,
        "PAYLOAD_TOO_LARGE",
        f"the request body {error.detail}",
        [FieldViolation("body", error.detail, "too_large")],
        headers=dict(error.headers or {}),
    )


def _location(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _validation_failed(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    violations = [
        FieldViolation(
            # Undecodable JSON is located by character offset; the field at fault is the body.
            "body" if e.get("type") == "json_invalid" else _location(e.get("loc", ())),
            str(e.get("msg", "is invalid")),
            str(e.get("type", "invalid")),
        )
        for e in error.errors()
    ]
    summary = "; ".join(f"{v.field}: {v.message}" for v in violations[:5])
    return problem_response(422, "VALIDATION_FAILED", summary, violations)


async def _rpc_failed(request: Request, error: Exception) -> Response:
    assert isinstance(error, grpc.aio.AioRpcError)
    failure = rpc_failure(error)
    status = http_status_for(failure.code)
    if failure.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        log.warning("backend call failed: %s %s", failure.code.name, failure.message)
        return problem_response(status, failure.code.name, "a backend service is unavailable")
    if status >= 500:
        log.error("backend error: %s %s", failure.code.name, failure.message)
        return problem_response(status, "INTERNAL", "internal error")
    violations = [_in_rest_terms(v) for v in failure.violations]
    detail = failure.message
    if violations != list(failure.violations):
        detail = "; ".join(f"{v.field}: {v.message}" for v in violations)
    return problem_response(status, failure.reason, detail, violations)


# Request fields the gRPC APIs name otherwise than every REST list does (schemas/common.py).
REST_FIELD_NAMES = {
    "page_size": "limit",
    "page_token": "cursor",
    "request_id": "Idempotency-Key",
}


def _in_rest_terms(violation: FieldViolation) -> FieldViolation:
    """A backend's violation named as the REST client named the field."""
    rest_name = REST_FIELD_NAMES.get(violation.field)
    if rest_name is None:
        return violation
    return FieldViolation(rest_name, violation.message, violation.code)


async def _domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, DomainError)
    return problem_response(
        http_status_for(error.grpc_code), error.reason, error.message, error.violations
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(error.status_code, "HTTP_ERROR")
    violations = []
    if error.status_code == 400:
        # FastAPI's one 400 of its own: a body it could not read (e.g. JSON nested past what
        # the parser recurses into).
        code = "MALFORMED_BODY"
        violations = [FieldViolation("body", "could not be read as JSON", "unreadable")]
    return problem_response(
        error.status_code,
        code,
        str(error.detail),
        violations,
        headers=dict(error.headers or {}),
    )


async def _payload_too_large(request: Request, error: Exception) -> Response:
    assert isinstance(error, PayloadTooLarge)
    return payload_too_large(error)


async def _unexpected(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "INTERNAL", "internal error")


def install_problem_handlers(app: FastAPI) -> None:
    """Routes every failure through problem+json."""
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(grpc.aio.AioRpcError, _rpc_failed)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(PayloadTooLarge, _payload_too_large)
    app.add_exception_handler(Exception, _unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The problems of its domain a route declares for the OpenAPI document (a state conflict,
    a rule broken...). What its dependencies imply (a token, a body, a path id, a backend, the
    rate limit) gateway.openapi adds itself; it writes each as problem+json."""
    return {status: {"model": Problem, "description": TITLES[status]} for status in statuses}
