"""A practitioner's places of work: added, changed, removed while no active service uses them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from chassis.auth.principal import Principal
from chassis.errors import NotFound
from chassis.idempotency import IdempotentRequest
from chassis.ids import new_id
from chassis.validation import Violations
from services.catalog.domain.practitioners import Location, check_location
from services.catalog.service_layer.base import Handlers, own_practitioner


class LocationHandlers(Handlers):
    async def create_location(
        self, principal: Principal, place: Location, request_id: str = ""
    ) -> Location:
        """Adds a place of work to the caller's profile."""
        v = Violations()
        checked = check_location(replace(place, id=new_id()), v)
        v.raise_if_any()
        idempotent = IdempotentRequest.of("CreateLocation", principal, request_id, repr(place))
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            practitioner = await own_practitioner(uow, principal, changing=True)
            if earlier is not None:
                found = next((p for p in practitioner.locations if p.id == earlier), None)
                if found is None:
                    raise NotFound("the location made by this request no longer exists")
                return found
            practitioner.add_location(checked)
            await uow.practitioners.add_location(practitioner.id, checked)
            await uow.remember(idempotent, checked.id)
            await uow.commit()
        return checked

    async def update_location(
        self, principal: Principal, location_id: str, paths: Sequence[str], values: Location
    ) -> Location:
        """Changes an address or its coordinates (services there move with it)."""
        async with self._uow() as uow:
            practitioner = await own_practitioner(uow, principal, changing=True)
            place = practitioner.update_location(location_id, paths, values)
            await uow.practitioners.save_location(place)
            await uow.commit()
        return place

    async def delete_location(self, principal: Principal, location_id: str) -> None:
        """Removes a place no active service takes place at."""
        async with self._uow() as uow:
            practitioner = await own_practitioner(uow, principal, changing=True)
            in_use = await uow.practitioners.location_in_use(location_id)
            place = practitioner.remove_location(location_id, self._clock.now(), in_use=in_use)
            await uow.practitioners.save_location(place)
            await uow.commit()
