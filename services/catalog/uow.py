"""Catalog's unit of work: the chassis's transaction with catalog's repositories on it."""

from __future__ import annotations

from typing import Self

from chassis.uow import UnitOfWork
from services.catalog import domain
from services.catalog.repository import Categories, Practitioners, Services


class CatalogUnitOfWork(UnitOfWork):
    practitioners: Practitioners
    categories: Categories
    services: Services

    conflicts = {
        "practitioners.user_id": domain.practitioner_exists,
        "categories.slug": domain.slug_taken,
    }

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.practitioners = Practitioners(self.connection)
        self.categories = Categories(self.connection)
        self.services = Services(self.connection)
        return self
