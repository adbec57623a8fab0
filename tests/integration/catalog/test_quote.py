"""A quote on both databases: the service and its seller read together, the seller's tier
as held now, and what is not on sale refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from chassis.auth.principal import AccountStatus
from chassis.clock import FrozenClock
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from chassis.ids import new_id
from services.catalog.bootstrap import CatalogService
from services.catalog.domain.practitioners import Tier
from services.catalog.domain.services import DatedSession
from tests.builders import built_catalog
from tests.integration.catalog.test_handlers import (
    _account,
    fields,
    selling,
    session,
    workshop,
    yoga,
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
async def shop(empty_database_url: str, clock: FrozenClock) -> AsyncIterator[CatalogService]:
    async with built_catalog(empty_database_url, clock=clock) as built:
        yield built


async def test_a_quote_names_the_seller_and_the_tier_they_hold_now(shop, clock):
    catalog = shop.catalog
    ana, practitioner = await selling(catalog, clock, tier=Tier.ENTRY)
    category = await yoga(catalog)
    start = clock.now() + timedelta(days=3)
    dated = (
        await catalog.create_service(ana, workshop(category, [DatedSession(start, 90)]))
    ).service
    quote = await catalog.quote(dated.id, 3)
    assert (quote.practitioner.id, quote.practitioner.user_id) == (practitioner.id, ana.subject)
    assert quote.practitioner.tier is Tier.ENTRY
    assert (quote.service.id, quote.quantity, quote.total_minor) == (dated.id, 3, 3 * 4000)
    assert quote.service.sessions == [DatedSession(start, 90)]
    assert quote.service.updated_at == dated.updated_at
    await catalog.set_tier(ana.subject, Tier.PREMIUM, clock.now() + timedelta(seconds=1))
    assert (await catalog.quote(dated.id, 1)).practitioner.tier is Tier.PREMIUM
    with pytest.raises(InvalidArgument) as refused:
        await catalog.quote(dated.id, 11)
    assert fields(refused) == [("quantity", "out_of_range")]


async def test_a_suspended_sellers_services_and_unknown_ones_are_not_quoted(shop, clock):
    catalog = shop.catalog
    ana, _ = await selling(catalog, clock)
    sold = (await catalog.create_service(ana, session(await yoga(catalog)))).service
    await _account(shop, ana.subject, AccountStatus.SUSPENDED)
    with pytest.raises(FailedPrecondition) as refused:
        await catalog.quote(sold.id, 1)
    assert refused.value.reason == "NOT_ON_SALE"
    await _account(shop, ana.subject, AccountStatus.ACTIVE)
    assert (await catalog.quote(sold.id, 0)).total_minor == 4000
    for unknown in (new_id(), "not-an-id"):
        with pytest.raises(NotFound):
            await catalog.quote(unknown, 1)
