"""What every handler module shares: the unit of work each use case opens, the clock, the
settings, and who the caller is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from chassis.auth.principal import Principal
from chassis.clock import Clock
from chassis.errors import Unauthenticated
from services.payments.domain.earnings import CommissionRates, CommissionSchedule, Tier
from services.payments.provider.port import PaymentProvider
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
    ) -> None:
        self._uow = unit_of_work
        self._settings = settings
        self._clock = clock
        self._provider = provider

    def now(self) -> datetime:
        return self._clock.now()


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
