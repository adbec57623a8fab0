"""What every handler module shares: the unit of work each use case opens, the clock, the
settings' rules, and how a request's names are found (or refused) in the unit of work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from chassis.auth.principal import Principal
from chassis.clock import Clock
from chassis.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from chassis.ids import is_uuid
from services.catalog.domain.practitioners import Practitioner, Tier
from services.catalog.domain.services import RefundRule, Service, ServiceContext
from services.catalog.search import ServiceView
from services.catalog.settings import CatalogSettings
from services.catalog.uow import CatalogUnitOfWork


class Handlers:
    """The use cases' shared dependencies; each module adds the use cases of one aggregate."""

    def __init__(
        self,
        *,
        unit_of_work: Callable[..., CatalogUnitOfWork],
        settings: CatalogSettings,
        clock: Clock,
    ) -> None:
        self._uow = unit_of_work
        self._clock = clock
        self._limits = {
            Tier.FREE: settings.free_tier_service_limit,
            Tier.ENTRY: settings.entry_tier_service_limit,
            Tier.PREMIUM: settings.premium_tier_service_limit,
        }
        self._default_policy = [RefundRule(h, p) for h, p in settings.default_cancellation_policy]
        self._review_window = (
            timedelta(days=settings.review_window_days) if settings.review_window_days else None
        )

    async def _service_context(
        self, uow: CatalogUnitOfWork, service: Service, practitioner: Practitioner
    ) -> ServiceContext:
        """What checking a service needs to read: its category, and the practitioner's own
        services a package or bundle is made of."""
        wanted = [i for i in service.referenced_ids if is_uuid(i)]
        referenced = {
            s.id: s
            for s in await uow.services.get_many(wanted)
            if s.practitioner_id == practitioner.id and s.id != service.id
        }
        return ServiceContext(
            practitioner=practitioner,
            category_exists=is_uuid(service.category_id)
            and await uow.categories.get(service.category_id) is not None,
            referenced=referenced,
            now=self._clock.now(),
            default_policy=self._default_policy,
        )


async def own_practitioner(
    uow: CatalogUnitOfWork, principal: Principal, *, changing: bool = False
) -> Practitioner:
    """The caller's practitioner profile. To change it (or what hangs on it), `changing`
    locks its row for the transaction and refuses a suspended or deleted owner: the account
    status consumer takes the same lock, so no change slips past an erasure."""
    practitioner = await uow.practitioners.get_by_user(principal.user_id, lock=changing)
    if practitioner is None:
        raise NotFound(
            "you have no practitioner profile; apply first", reason="NO_PRACTITIONER_PROFILE"
        )
    if changing:
        practitioner.check_owner_may_act()
    return practitioner


async def practitioner_named(uow: CatalogUnitOfWork, name: str) -> Practitioner:
    """A practitioner by resource name, practitioners/{id}."""
    ident = name.removeprefix("practitioners/")
    practitioner = await uow.practitioners.get(ident) if is_uuid(ident) else None
    if practitioner is None:
        raise NotFound("no such practitioner")
    return practitioner


async def practitioner_or_me(
    uow: CatalogUnitOfWork, principal: Principal | None, name: str
) -> Practitioner:
    """A practitioner by name, where practitioners/me is the caller's own."""
    prefix, _, ident = name.partition("/")
    if prefix != "practitioners" or not ident:
        raise InvalidArgument.field("name", "must be practitioners/{id} or practitioners/me")
    if ident == "me":
        if principal is None or not principal.is_user:
            raise Unauthenticated("practitioners/me needs a signed-in user")
        return await own_practitioner(uow, principal)
    return await practitioner_named(uow, name)


async def managed_service(
    uow: CatalogUnitOfWork, principal: Principal, service_id: str
) -> tuple[Service, Practitioner]:
    """A service the caller may change (its practitioner, or staff), with its practitioner."""
    service = await uow.services.get(service_id) if is_uuid(service_id) else None
    if service is None:
        raise NotFound("no such service")
    practitioner = await uow.practitioners.get(service.practitioner_id, lock=True)
    assert practitioner is not None
    if not practitioner.may_be_managed_by(principal):
        raise PermissionDenied("only the service's practitioner or staff can change it")
    if principal.user_id == practitioner.user_id:
        practitioner.check_owner_may_act()
    return service, practitioner


async def service_view(uow: CatalogUnitOfWork, service_id: str) -> ServiceView:
    """A service as a listing, whatever its status."""
    found = await uow.listings.by_id([service_id]) if is_uuid(service_id) else []
    if not found:
        raise NotFound("no such service")
    return found[0]
