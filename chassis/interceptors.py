"""Server interceptors: request context and logging, error mapping, authentication.

Each wraps a method's handler once and caches it, so the per-call cost is one coroutine
frame per layer. Order, outermost first: context (request id, access log), errors (domain
errors to google.rpc.Status), authentication (token to Principal, access from the proto).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pool

from chassis import metrics
from chassis.accounts import AccountStatuses
from chassis.auth.principal import Principal, TokenType
from chassis.auth.tokens import TokenVerifier
from chassis.context import (
    REQUEST_ID_HEADER,
    is_valid_request_id,
    new_request_id,
    principal_var,
    request_id_var,
)
from chassis.errors import (
    STATUS_DETAILS_KEY,
    DomainError,
    PermissionDenied,
    Unauthenticated,
    to_rpc_status,
)
from estuary.api.v1 import annotations_pb2

log = logging.getLogger("estuary.grpc")

Behavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
HandlerWrapper = Callable[[Behavior, str], Behavior]

# Methods that only read, by AIP's standard method names: a suspended or deleted user may
# still call these while their token lives; every other method changes something.
READ_METHOD_PREFIXES = ("Get", "List", "BatchGet", "Search")

# Infrastructure services anyone may call: health probes and reflection.
OPEN_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)

_STATUS_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class _WrappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps each unary-request method's behavior once, then serves the cached handler."""

    def __init__(self) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    def wrap(self, behavior: Behavior, method: str) -> Behavior:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        cached = self._handlers.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        if handler.response_streaming:
            wrapped = grpc.unary_stream_rpc_method_handler(
                self.wrap(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        else:
            wrapped = grpc.unary_unary_rpc_method_handler(
                self.wrap(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        self._handlers[method] = wrapped
        return wrapped


def _metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode()
    return None


class RequestContextInterceptor(_WrappingInterceptor):
    """Takes the caller's request id (or makes one), logs each call with its outcome and
    records its duration (rpc.server.duration, by method and status code).

    The call log is INFO (WARNING when a call ends INTERNAL); health checks and reflection,
    which probes call every few seconds, log at DEBUG.
    """

    def wrap(self, behavior: Behavior, method: str) -> Behavior:
        service, _, name = method.lstrip("/").partition("/")
        base = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
        # One attribute dict per status code, made once: the hot path allocates none.
        by_code = {
            code: {**base, "rpc.grpc.status_code": code.value[0]} for code in grpc.StatusCode
        }
        quiet = service in OPEN_SERVICES
        record = metrics.rpc_server_duration.record

        async def with_context(request: Any, context: grpc.aio.ServicerContext) -> Any:
            offered = _metadata_value(context, REQUEST_ID_HEADER)
            request_id = offered if offered and is_valid_request_id(offered) else new_request_id()
            token = request_id_var.set(request_id)
            started = time.perf_counter()
            try:
                return await behavior(request, context)
            finally:
                code = context.code() or grpc.StatusCode.OK
                if not isinstance(code, grpc.StatusCode):
                    code = _STATUS_BY_NUMBER.get(code, grpc.StatusCode.UNKNOWN)
                elapsed_ms = (time.perf_counter() - started) * 1000
                record(elapsed_ms, by_code[code])
                level = (
                    logging.WARNING
                    if code is grpc.StatusCode.INTERNAL
                    else logging.DEBUG
                    if quiet
                    else logging.INFO
                )
                if log.isEnabledFor(level):
                    log.log(
                        level,
                        "rpc %s %s %.1f ms",
                        method,
                        code.name,
                        elapsed_ms,
                        extra={
                            "rpc_method": method,
                            "grpc_status": code.name,
                            "duration_ms": round(elapsed_ms, 2),
                        },
                    )
                request_id_var.reset(token)

        return with_context


class ErrorInterceptor(_WrappingInterceptor):
    """Turns domain errors into statuses with details; hides unexpected errors' insides."""

    def wrap(self, behavior: Behavior, method: str) -> Behavior:
        async def mapping_errors(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await behavior(request, context)
            except DomainError as error:
                status = to_rpc_status(error)
                await context.abort(
                    error.grpc_code,
                    error.message,
                    trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),),
                )
            except grpc.aio.AbortError:
                raise
            except Exception:
                log.exception("unhandled error in %s", method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return mapping_errors


def access_policy(service_names: Iterable[str]) -> dict[str, int]:
    """Each method's declared access, read from the (estuary.api.v1.access) option."""
    pool = descriptor_pool.Default()
    policy: dict[str, int] = {}
    for service_name in service_names:
        service = pool.FindServiceByName(service_name)
        for method in service.methods:
            access = method.GetOptions().Extensions[annotations_pb2.access]
            policy[f"/{service.full_name}/{method.name}"] = access
    return policy


def is_read_method(method: str) -> bool:
    """Whether a full method name ("/pkg.Service/GetThing") names a method that only reads."""
    return method.rsplit("/", 1)[-1].startswith(READ_METHOD_PREFIXES)


class AuthInterceptor(_WrappingInterceptor):
    """Verifies the bearer token itself (never trusting a gateway) and enforces access:
    the method's declared access, and no writes by a suspended or deleted account."""

    def __init__(
        self,
        verifier: TokenVerifier,
        policy: dict[str, int],
        accounts: AccountStatuses | None = None,
    ) -> None:
        super().__init__()
        self._verifier = verifier
        self._policy = policy
        self._accounts = accounts

    def wrap(self, behavior: Behavior, method: str) -> Behavior:
        service = method.split("/")[1] if method.count("/") == 2 else ""
        access = (
            annotations_pb2.ACCESS_PUBLIC
            if service in OPEN_SERVICES
            else self._policy.get(method, annotations_pb2.ACCESS_UNSPECIFIED)
        )
        verifier = self._verifier
        accounts = None if is_read_method(method) else self._accounts

        async def authenticating(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if access == annotations_pb2.ACCESS_UNSPECIFIED:
                raise PermissionDenied(f"{method} declares no access and is closed")
            authorization = _metadata_value(context, "authorization")
            principal: Principal | None = None
            if authorization:
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() != "bearer" or not token:
                    raise Unauthenticated("authorization must be 'Bearer <token>'")
                principal = await verifier.verify(
                    token, allowed=frozenset({TokenType.ACCESS, TokenType.SERVICE})
                )
            _check_access(access, principal)
            if accounts is not None and principal is not None and principal.is_user:
                accounts.refuse_if_inactive(principal.user_id)
            reset = principal_var.set(principal)
            try:
                return await behavior(request, context)
            finally:
                principal_var.reset(reset)

        return authenticating


def _check_access(access: int, principal: Principal | None) -> None:
    if access == annotations_pb2.ACCESS_PUBLIC:
        return
    if principal is None:
        raise Unauthenticated("this method needs a bearer token")
    if access == annotations_pb2.ACCESS_SERVICE:
        if not principal.is_service:
            raise PermissionDenied("this method is for Estuary services only")
        return
    if not principal.is_user:
        # A service token is not an access token: services call only SERVICE methods.
        raise Unauthenticated(
            "a service token cannot be used as an access token", reason="WRONG_TOKEN_TYPE"
        )
    if access == annotations_pb2.ACCESS_STAFF and not principal.is_staff:
        raise PermissionDenied("this method is for staff only")
