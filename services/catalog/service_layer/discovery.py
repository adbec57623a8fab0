"""Discovery: what clients search for, a page at a time."""

from __future__ import annotations

from dataclasses import replace

from chassis.errors import InvalidArgument
from chassis.pagination import Page, page_request
from services.catalog.search import (
    CURSOR_KEY,
    PractitionerQuery,
    PractitionerView,
    ServiceQuery,
    ServiceView,
)
from services.catalog.service_layer.base import Handlers


class DiscoveryHandlers(Handlers):
    async def list_services(
        self, query: ServiceQuery, page_size: int, page_token: str, *, category: str = ""
    ) -> Page[ServiceView]:
        """Active services of listed practitioners matching a discovery query; `category`
        (an id or a slug) takes in its subcategories."""
        query = replace(query, category=category)
        # The cursor belongs to the query as asked, so new subcategories do not void it.
        page = page_request(page_size, page_token, query=query.fingerprint(), key=CURSOR_KEY)
        async with self._uow(write=False, scan=True) as uow:
            hits, total = await uow.listings.search_services(
                query, after=page.after, limit=page.fetch
            )
            # An unknown category matches nothing; only then is it worth asking which it was.
            if not hits and category and not await uow.categories.exists(category):
                raise InvalidArgument.field(
                    "category", "is not a category id or slug", "unknown_category"
                )
        served = page.page(hits, total, key=lambda hit: hit.key)
        return Page([hit.view for hit in served.items], served.next_page_token, served.total)

    async def list_practitioners(
        self, query: PractitionerQuery, page_size: int, page_token: str
    ) -> Page[PractitionerView]:
        """Listed practitioners matching a discovery query."""
        page = page_request(page_size, page_token, query=query.fingerprint(), key=CURSOR_KEY)
        async with self._uow(write=False, scan=True) as uow:
            hits, total = await uow.listings.search_practitioners(
                query, after=page.after, limit=page.fetch
            )
            served = page.page(hits, total, key=lambda hit: hit.key)
            loaded = {
                p.id: p
                for p in await uow.practitioners.get_many(
                    [hit.practitioner_id for hit in served.items]
                )
            }
        views = [
            PractitionerView(
                loaded[hit.practitioner_id],
                owner_view=False,
                services=[],
                distance_km=hit.distance_km,
            )
            for hit in served.items
        ]
        return Page(views, served.next_page_token, served.total)
