"""Domain errors, and the one mapping from them to gRPC status and from gRPC status to HTTP.

A servicer never aborts by hand: it raises a DomainError and the error interceptor turns it
into a google.rpc.Status with ErrorInfo and BadRequest details. The gateway turns that status
back into an RFC 9457 problem+json body with per-field violations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"
ERROR_DOMAIN = "estuary.dev"


@dataclass(frozen=True)
class FieldViolation:
    """One field of a request and what is wrong with it."""

    field: str
    message: str
    code: str = "invalid"


class DomainError(Exception):
    """A failure the caller can understand; carries its gRPC code and a stable reason."""

    grpc_code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    default_reason = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        violations: Iterable[FieldViolation] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.violations = tuple(violations)
        self.metadata = dict(metadata or {})


class InvalidArgument(DomainError):
    """The request is malformed or breaks a rule about its own content."""

    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    @classmethod
    def field(cls, field: str, message: str, code: str = "invalid") -> InvalidArgument:
        """An error about exactly one field."""
        return cls(f"{field}: {message}", violations=[FieldViolation(field, message, code)])


class NotFound(DomainError):
    grpc_code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    """The target is not in a state that allows this (read as 409 Conflict over HTTP)."""

    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class Aborted(DomainError):
    """A concurrency conflict; retrying the whole operation may succeed."""

    grpc_code = grpc.StatusCode.ABORTED
    default_reason = "ABORTED"


class Unauthenticated(DomainError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class ResourceExhausted(DomainError):
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    grpc_code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


# The field violations a status carries at most, and the longest message: the status travels
# in the call's trailers, which gRPC refuses past 8 KiB (the caller would read
# RESOURCE_EXHAUSTED instead of the refusal); the first ones name what to fix.
MAX_REPORTED_VIOLATIONS = 20
MAX_MESSAGE_LENGTH = 1000


def to_rpc_status(error: DomainError) -> status_pb2.Status:
    """The google.rpc.Status for a domain error, with ErrorInfo and, if any, BadRequest (the
    first MAX_REPORTED_VIOLATIONS of its violations)."""
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata
    )
    details = [_pack(info)]
    if error.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.message, reason=v.code
                )
                for v in error.violations[:MAX_REPORTED_VIOLATIONS]
            ]
        )
        details.append(_pack(bad_request))
    return status_pb2.Status(
        code=error.grpc_code.value[0], message=error.message[:MAX_MESSAGE_LENGTH], details=details
    )


def _pack(message: error_details_pb2.ErrorInfo | error_details_pb2.BadRequest) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


@dataclass(frozen=True)
class RpcFailure:
    """What a client learns from a failed call: code, message, reason and field violations."""

    code: grpc.StatusCode
    message: str
    reason: str
    violations: tuple[FieldViolation, ...] = ()
    metadata: Mapping[str, str] | None = None


def rpc_failure(error: grpc.aio.AioRpcError | grpc.RpcError) -> RpcFailure:
    """Reads the rich status details out of a failed call's trailing metadata."""
    code = error.code()  # type: ignore[attr-defined]
    message = error.details() or ""  # type: ignore[attr-defined]
    reason = code.name
    violations: list[FieldViolation] = []
    metadata: dict[str, str] = {}
    for key, value in error.trailing_metadata() or ():  # type: ignore[attr-defined]
        if key != STATUS_DETAILS_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
                metadata = dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(
                    FieldViolation(v.field, v.description, v.reason or "invalid")
                    for v in bad.field_violations
                )
    return RpcFailure(code, message, reason, tuple(violations), metadata)


# google/rpc/code.proto's HTTP mapping, except that FAILED_PRECONDITION reads as 409: in this
# platform it always means "the resource is in the wrong state", a conflict to the client.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}


def http_status_for(code: grpc.StatusCode) -> int:
    """The HTTP status a gRPC status code reads as at the gateway."""
    return HTTP_STATUS.get(code, 500)
