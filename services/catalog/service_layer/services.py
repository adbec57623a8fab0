"""Services: put on sale within the tier's limit, changed, archived, read, and quoted to the
services that sell them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chassis.audit import StaffAction
from chassis.auth.principal import Principal
from chassis.errors import NotFound
from chassis.idempotency import IdempotentRequest
from chassis.ids import is_uuid, new_id
from chassis.pagination import KeyPart, Page, page_request
from services.catalog.domain.discovery import check_batch
from services.catalog.domain.practitioners import Practitioner, may_manage, not_a_seller
from services.catalog.domain.services import Quote, Service
from services.catalog.search import ServiceView
from services.catalog.service_layer.base import (
    Handlers,
    managed_service,
    own_practitioner,
    service_view,
)
from services.catalog.uow import CatalogUnitOfWork


class ServiceHandlers(Handlers):
    async def create_service(
        self, principal: Principal, draft: Service, request_id: str = ""
    ) -> ServiceView:
        """An approved practitioner puts a service on sale, within their tier's limit."""
        idempotent = IdempotentRequest.of("CreateService", principal, request_id, repr(draft))
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            if earlier is not None:
                return await service_view(uow, earlier)
            found = await uow.practitioners.get_by_user(principal.user_id)
            if found is None:
                raise not_a_seller()
            found.check_may_sell()
            # Locked: a practitioner's creations run one at a time, so the tier limit holds,
            # and none slips past the erasure of a deleted account (see follow_account).
            practitioner = await uow.practitioners.get(found.id, lock=True)
            assert practitioner is not None
            practitioner.check_owner_may_act()
            context = await self._service_context(uow, draft, practitioner)
            service, published = Service.publish(draft, new_id(), context)
            practitioner.check_service_limit(
                self._limits, await uow.services.count_active(practitioner.id)
            )
            await uow.services.add(service)
            await uow.listings.index_service(service, practitioner)
            if practitioner.mark_first_service(context.now):
                await uow.practitioners.save_onboarding(practitioner)
            uow.record(published)
            await uow.remember(idempotent, service.id)
            await uow.commit()
            return await service_view(uow, service.id)

    async def get_service(self, principal: Principal | None, service_id: str) -> ServiceView:
        """A service: public while on sale; always for its practitioner and staff."""
        async with self._uow(write=False) as uow:
            view = await service_view(uow, service_id)
        if not view.on_sale and not may_manage(principal, view.practitioner_user_id):
            raise NotFound("no such service")
        return view

    async def update_service(
        self, principal: Principal, service_id: str, paths: Sequence[str], values: Service
    ) -> ServiceView:
        """Changes fields of a service its practitioner (or staff) manages."""
        async with self._uow() as uow:
            service, practitioner = await managed_service(uow, principal, service_id)
            before = _service_view(service)
            context = await self._service_context(uow, service.changed(paths, values), practitioner)
            uow.record(service.update(paths, values, context))
            await uow.services.save(service)
            await _record_if_staff(uow, principal, "service.update", before, service, practitioner)
            await uow.listings.index_service(service, practitioner)
            await uow.commit()
            return await service_view(uow, service.id)

    async def archive_service(self, principal: Principal, service_id: str) -> ServiceView:
        """Withdraws a service from sale."""
        async with self._uow() as uow:
            service, practitioner = await managed_service(uow, principal, service_id)
            before = _service_view(service)
            in_use = await uow.services.referencing(service.id)
            uow.record(service.archive(self._clock.now(), in_use=in_use))
            await uow.services.save(service)
            await _record_if_staff(uow, principal, "service.archive", before, service, practitioner)
            await uow.commit()
            return await service_view(uow, service.id)

    async def list_own_services(
        self, principal: Principal, page_size: int, page_token: str
    ) -> Page[ServiceView]:
        """The caller's services, archived ones too, newest first."""
        page = page_request(
            page_size, page_token, query={"own": principal.subject}, key=(KeyPart.ID,)
        )
        async with self._uow(write=False) as uow:
            practitioner = await own_practitioner(uow, principal)
            ids, total = await uow.services.own_ids(
                practitioner.id,
                after_id=page.after[0] if page.after else None,
                limit=page.fetch,
            )
            served = page.page(ids, total, key=lambda service_id: [service_id])
            views = await uow.listings.by_id(served.items)
        return Page(views, served.next_page_token, served.total)

    async def batch_get_services(self, ids: Sequence[str]) -> list[ServiceView]:
        """Services by id, whatever their status, in the order asked; the unknown left out."""
        check_batch("names", ids)
        async with self._uow(write=False) as uow:
            views = await uow.listings.by_id(list(dict.fromkeys(ids)))
        by_id = {view.service.id: view for view in views}
        return [by_id[i] for i in ids if i in by_id]

    async def quote(self, service_id: str, quantity: int) -> Quote:
        """The price to charge for a service on sale now; never a figure from a client."""
        if not is_uuid(service_id):
            raise NotFound("no such service")
        async with self._uow(write=False) as uow:
            found = await uow.services.get_with_seller(service_id)
        if found is None:
            raise NotFound("no such service")
        service, practitioner = found
        return service.quote(practitioner, quantity)


async def _record_if_staff(
    uow: CatalogUnitOfWork,
    principal: Principal,
    action: str,
    before: dict[str, Any],
    after: Service,
    practitioner: Practitioner,
) -> None:
    """A change to a service by staff rather than its practitioner is a staff action."""
    if principal.user_id == practitioner.user_id:
        return
    await uow.record_staff_action(
        StaffAction(
            principal,
            action,
            f"services/{after.id}",
            practitioner.user_id,
            before,
            _service_view(after),
        )
    )


def _service_view(service: Service) -> dict[str, Any]:
    """A service as the audit log shows it before and after."""
    return {
        "status": service.status.value,
        "title": service.title,
        "price_minor": service.price_minor,
        "currency": service.currency,
    }
