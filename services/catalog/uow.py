"""Catalog's unit of work: the chassis's transaction with catalog's repositories on it, and
catalog's domain events recorded as the messages events.py maps them to."""

from __future__ import annotations

from typing import Self

from google.protobuf.message import Message

from chassis.bus.envelope import EventType
from chassis.uow import UnitOfWork
from services.catalog import events
from services.catalog.domain.categories import slug_taken
from services.catalog.domain.practitioners import practitioner_exists
from services.catalog.domain.reviews import already_reviewed
from services.catalog.repository import Categories, Practitioners, Reviews, Services
from services.catalog.search import Listings


class CatalogUnitOfWork(UnitOfWork):
    practitioners: Practitioners
    categories: Categories
    services: Services
    reviews: Reviews
    listings: Listings

    conflicts = {
        "practitioners.user_id": practitioner_exists,
        "categories.slug": slug_taken,
        "reviews.booking_id,client_id": already_reviewed,
    }

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.practitioners = Practitioners(self.connection)
        self.categories = Categories(self.connection)
        self.services = Services(self.connection)
        self.reviews = Reviews(self.connection)
        self.listings = Listings(self.connection)
        return self

    def event_message(self, event: object) -> tuple[EventType[Message], Message, str]:
        return events.event_message(event)
