"""What every handler module shares: the unit of work each use case opens, the clock, the
settings, and who the caller is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Protocol, TypeVar

from chassis.auth.principal import Principal, Role
from chassis.clock import Clock
from chassis.errors import FailedPrecondition, PermissionDenied, Unauthenticated, Unavailable
from chassis.money import Money
from services.payments.domain.earnings import CommissionRates, CommissionSchedule, Tier
from services.payments.provider.port import (
    PaymentIntent,
    PaymentProvider,
    ProviderError,
    ProviderRejected,
)
from services.payments.sale_terms import StreamCatalogue
from services.payments.settings import PaymentsSettings
from services.payments.uow import PaymentsUnitOfWork


class Handlers:
    """The use cases' shared dependencies (the payment provider among them); each module
    adds the use cases of one aggregate."""

    def __init__(
        self,
        *,
        unit_of_work: Callable[..., PaymentsUnitOfWork],
        settings: PaymentsSettings,
        clock: Clock,
        provider: PaymentProvider,
        streams: StreamCatalogue | None = None,
    ) -> None:
        self._uow = unit_of_work
        self._settings = settings
        self._clock = clock
        self._provider = provider
        self._streams = streams

    def _stream_catalogue(self) -> StreamCatalogue:
        """Streams, which says what it sells (tips, unlocks) and to whom the money goes."""
        if self._streams is None:
            raise Unavailable("payments was built without streams to ask what it sells")
        return self._streams

    def now(self) -> datetime:
        return self._clock.now()

    async def _payment_intent(
        self,
        known_id: str | None,
        *,
        amount: Money,
        order_id: str,
        key: str,
        metadata: Mapping[str, str],
    ) -> PaymentIntent:
        """The intent known by its id, else the one made under key (the same one for every
        retry); a payment the provider will not take is a conflict, its silence Unavailable."""
        try:
            if known_id:
                return await self._provider.retrieve_payment_intent(known_id)
            return await self._provider.create_payment_intent(
                amount=amount.amount_minor,
                currency=amount.currency,
                order_id=order_id,
                idempotency_key=key,
                metadata=metadata,
            )
        except ProviderRejected as refused:
            raise FailedPrecondition(
                f"the payment provider refused the payment: {refused.message}",
                reason="PAYMENT_PROVIDER_REFUSED",
            ) from refused
        except ProviderError as error:
            raise Unavailable(f"the payment provider did not answer: {error.message}") from error


class PaidByIntent(Protocol):
    @property
    def payment_intent_id(self) -> str | None: ...


P = TypeVar("P", bound=PaidByIntent)


async def paid_by(
    intent: PaymentIntent,
    by_intent: Callable[[str], Awaitable[P | None]],
    by_id: Callable[[str], Awaitable[P | None]],
    metadata_key: str,
) -> P | None:
    """What an intent pays (a top-up, a stream order): found by the intent's id, or by the
    id its metadata names for an intent whose creation's answer never reached the row; None
    for a row another intent pays (not one of ours to apply)."""
    found = await by_intent(intent.id)
    named = intent.metadata.get(metadata_key, "")
    if found is None and named:
        found = await by_id(named)
        if found is not None and found.payment_intent_id not in (None, intent.id):
            return None
    return found


def commission_schedule(settings: PaymentsSettings) -> CommissionSchedule:
    """The configured commission rates, in the order they take effect."""
    return CommissionSchedule(
        [
            CommissionRates(
                rates.effective_from,
                {
                    Tier.FREE: rates.free_bps,
                    Tier.ENTRY: rates.entry_bps,
                    Tier.PREMIUM: rates.premium_bps,
                },
            )
            for rates in settings.commission_rates
        ]
    )


def caller(principal: Principal | None) -> Principal:
    if principal is None or not principal.is_user:
        raise Unauthenticated("this needs a signed-in user")
    return principal


def practitioner(principal: Principal | None, refusal: str) -> Principal:
    """The signed-in practitioner calling, or PermissionDenied saying what only they do."""
    user = caller(principal)
    if Role.PRACTITIONER not in user.roles:
        raise PermissionDenied(refusal)
    return user


def staff(principal: Principal | None, refusal: str) -> Principal:
    """The signed-in staff member calling, or PermissionDenied saying what only staff do."""
    user = caller(principal)
    if not user.is_staff:
        raise PermissionDenied(refusal)
    return user
