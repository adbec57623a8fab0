"""Entitlements: what a client's packages and bundles still give them."""

from __future__ import annotations

from chassis.auth.principal import Principal
from chassis.pagination import KeyPart, Page, page_request
from services.booking.domain.entitlements import Entitlement
from services.booking.service_layer.base import Handlers, caller


class EntitlementHandlers(Handlers):
    async def list_entitlements(
        self, principal: Principal | None, page_size: int, page_token: str
    ) -> Page[Entitlement]:
        """The caller's entitlements with their progress, newest first."""
        user = caller(principal)
        page = page_request(
            page_size, page_token, query={"entitlements": user.subject}, key=(KeyPart.ID,)
        )
        async with self._uow(write=False) as uow:
            found, total = await uow.entitlements.page_of_client(
                user.user_id, after_id=page.after[0] if page.after else None, limit=page.fetch
            )
        return page.page(found, total, key=lambda entitlement: [entitlement.id])
