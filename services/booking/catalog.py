"""What booking asks of catalog over gRPC, with its own service token: the price of a booking
(never the client's figure), and the terms of a service or the owner of a practitioner
profile booking has not heard of yet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import grpc

from chassis.auth.remote import ServiceTokens
from chassis.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    rpc_failure,
)
from chassis.grpc_client import call_metadata, retrying
from chassis.money import Money
from chassis.wire import instant
from estuary.catalog.v1 import catalog_pb2 as pb
from estuary.catalog.v1 import catalog_pb2_grpc
from services.booking.domain.practitioners import Practitioner
from services.booking.domain.terms import ServiceTerms
from services.booking.wire import terms_from_service

DEADLINE_SECONDS = 3.0


@dataclass(frozen=True)
class Quote:
    """What catalog would charge now, and how new the terms it priced are."""

    total: Money
    service_updated_at: datetime


class Catalog(Protocol):
    async def quote(self, service_id: str, seats: int) -> Quote: ...

    async def services(self, service_ids: Sequence[str]) -> list[ServiceTerms]: ...

    async def practitioner(self, practitioner_id: str) -> Practitioner | None: ...


_ERRORS: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.ABORTED: Aborted,
}


def _as_domain_error(error: grpc.aio.AioRpcError) -> DomainError:
    """Catalog's answer as booking's caller should hear it: its refusals as they are (the
    quantity it refuses is the request's seats), anything else as catalog unavailable."""
    failure = rpc_failure(error)
    kind = _ERRORS.get(failure.code)
    if kind is None:
        if failure.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
            # Booking's own credentials were refused: an operator's problem, not the client's.
            return Unavailable("catalog refused booking's credentials", reason="CATALOG_REFUSED")
        return Unavailable("catalog is unavailable", reason="CATALOG_UNAVAILABLE")
    violations = [
        v.__class__("seats" if v.field == "quantity" else v.field, v.message, v.code)
        for v in failure.violations
    ]
    return kind(
        failure.message, reason=failure.reason, violations=violations, metadata=failure.metadata
    )


class CatalogClient:
    """Catalog over gRPC, as booking's service identity."""

    def __init__(self, channel: grpc.aio.Channel, tokens: ServiceTokens) -> None:
        self._stub = retrying(catalog_pb2_grpc.CatalogServiceStub(channel))
        self._tokens = tokens

    async def _metadata(self) -> tuple[tuple[str, str], ...]:
        try:
            return call_metadata(await self._tokens.token())
        except grpc.aio.AioRpcError as error:
            raise Unavailable(
                "booking could not obtain its service token", reason="SERVICE_TOKEN_UNAVAILABLE"
            ) from error

    async def quote(self, service_id: str, seats: int) -> Quote:
        try:
            answer = await self._stub.QuoteService(
                pb.QuoteServiceRequest(name=f"services/{service_id}", quantity=seats),
                timeout=DEADLINE_SECONDS,
                metadata=await self._metadata(),
            )
        except grpc.aio.AioRpcError as error:
            raise _as_domain_error(error) from error
        return Quote(
            Money(answer.total.amount_minor, answer.total.currency),
            instant(answer.service_update_time),
        )

    async def services(self, service_ids: Sequence[str]) -> list[ServiceTerms]:
        if not service_ids:
            return []
        try:
            metadata = await self._metadata()
            found = await self._stub.BatchGetServices(
                pb.BatchGetServicesRequest(names=[f"services/{i}" for i in service_ids]),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
            owners = sorted({s.practitioner_id for s in found.services})
            people = await self._stub.BatchGetPractitioners(
                pb.BatchGetPractitionersRequest(names=[f"practitioners/{i}" for i in owners]),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
        except grpc.aio.AioRpcError as error:
            raise _as_domain_error(error) from error
        by_id = {p.id: p for p in people.practitioners}
        return [
            terms_from_service(s, by_id[s.practitioner_id])
            for s in found.services
            if s.practitioner_id in by_id
        ]

    async def practitioner(self, practitioner_id: str) -> Practitioner | None:
        try:
            found = await self._stub.BatchGetPractitioners(
                pb.BatchGetPractitionersRequest(names=[f"practitioners/{practitioner_id}"]),
                timeout=DEADLINE_SECONDS,
                metadata=await self._metadata(),
            )
        except grpc.aio.AioRpcError as error:
            raise _as_domain_error(error) from error
        for person in found.practitioners:
            return Practitioner(
                person.id, person.user_id, person.timezone, instant(person.update_time)
            )
        return None
