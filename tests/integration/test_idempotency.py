"""Idempotency keys on both databases: a retry gets the first answer, another body with the
same key is refused, another caller's key is another request, concurrent retries make one
thing, and a call that failed leaves its key free."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chassis.auth.principal import Role
from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.lifecycle import WrongState
from services.catalog.domain.categories import Category
from services.catalog.domain.practitioners import Tier
from tests.builders import (
    PASSWORD,
    STAFF,
    applicant,
    built_catalog,
    built_identity,
    draft,
    person,
)
from tests.races import race

KEY = "2b0c6a0e-retry-me"


async def seller(catalog):
    user, practitioner = await applicant(catalog)
    await catalog.approve(STAFF, f"practitioners/{practitioner.id}")
    return person(user.subject, Role.PRACTITIONER)


async def test_create_service_keys_are_scoped_by_caller_and_body(empty_database_url):
    async with built_catalog(empty_database_url) as service:
        catalog = service.catalog
        category = await catalog.create_category(STAFF, Category("", "yoga", "Y", "", None, 0, ""))
        ana, ben = await seller(catalog), await seller(catalog)
        offer = draft(category.id)

        first = await catalog.create_service(ana, offer, KEY)
        again = await catalog.create_service(ana, offer, KEY)
        assert again.service.id == first.service.id
        with pytest.raises(InvalidArgument) as reused:
            await catalog.create_service(ana, replace(offer, price_minor=5000), KEY)
        assert [v.field for v in reused.value.violations] == ["request_id"]

        # The same key and body from another practitioner is their own, separate service.
        theirs = await catalog.create_service(ben, offer, KEY)
        assert theirs.service.id != first.service.id
        assert theirs.service.practitioner_id != first.service.practitioner_id
        own = await catalog.list_own_services(ana, 50, "")
        assert [v.service.id for v in own.items] == [first.service.id]


async def test_concurrent_retries_with_one_key_make_one_service(empty_database_url):
    async with built_catalog(empty_database_url) as service:
        catalog = service.catalog
        category = await catalog.create_category(STAFF, Category("", "yoga", "Y", "", None, 0, ""))
        ana = await seller(catalog)
        offer = draft(category.id)
        outcome = await race([lambda: catalog.create_service(ana, offer, KEY)] * 8)
        assert not outcome.losses, outcome.losses
        assert len({view.service.id for view in outcome.wins}) == 1
        assert (await catalog.list_own_services(ana, 50, "")).total == 1


async def test_a_failed_call_leaves_its_key_free_for_the_retry(empty_database_url):
    async with built_catalog(empty_database_url) as service:
        catalog = service.catalog
        category = await catalog.create_category(STAFF, Category("", "yoga", "Y", "", None, 0, ""))
        ana = await seller(catalog)
        await catalog.set_tier(ana.subject, Tier.FREE, datetime.now(UTC))
        for title in ("One", "Two"):
            await catalog.create_service(ana, replace(draft(category.id), title=title))
        third = replace(draft(category.id), title="Three")
        with pytest.raises(FailedPrecondition):
            await catalog.create_service(ana, third, KEY)
        oldest = (await catalog.list_own_services(ana, 50, "")).items[0].service.id
        await catalog.archive_service(ana, oldest)
        made = await catalog.create_service(ana, third, KEY)
        assert made.service.title == "Three"


async def test_a_retried_approval_answers_like_the_first_and_a_new_one_conflicts(
    empty_database_url,
):
    async with built_catalog(empty_database_url) as service:
        catalog = service.catalog
        _, practitioner = await applicant(catalog)
        name = f"practitioners/{practitioner.id}"
        first = await catalog.approve(STAFF, name, KEY)
        retried = await catalog.approve(STAFF, name, KEY)
        assert retried.practitioner.id == first.practitioner.id
        assert retried.practitioner.status is first.practitioner.status
        with pytest.raises(WrongState):
            await catalog.approve(STAFF, name)
        with pytest.raises(WrongState):
            await catalog.approve(person(None, Role.STAFF), name, KEY)


async def test_a_registration_retry_must_know_the_password(empty_database_url):
    async with built_identity(empty_database_url) as service:
        accounts = service.accounts
        made = await accounts.register(
            email="ana@example.com", password=PASSWORD, full_name="Ana", request_id=KEY
        )
        again = await accounts.register(
            email="ana@example.com", password=PASSWORD, full_name="Ana", request_id=KEY
        )
        assert again.id == made.id
        with pytest.raises(InvalidArgument) as guessed:
            await accounts.register(
                email="ana@example.com",
                password="another-good-password-9",
                full_name="Ana",
                request_id=KEY,
            )
        assert [v.field for v in guessed.value.violations] == ["request_id"]
        # Another address with the same key is another caller's registration.
        other = await accounts.register(
            email="ben@example.com", password=PASSWORD, full_name="Ben", request_id=KEY
        )
        assert other.id != made.id


async def test_a_retried_suspension_answers_like_the_first(empty_database_url):
    async with built_identity(empty_database_url) as service:
        accounts, administration = service.accounts, service.administration
        admin = await accounts.create_admin("boss@example.com", PASSWORD, "Boss")
        acting = person(admin.id, Role.STAFF, Role.ADMIN)
        user = await accounts.register(email="cai@example.com", password=PASSWORD, full_name="C")
        first = await administration.suspend(acting, f"users/{user.id}", "spam", KEY)
        retried = await administration.suspend(acting, f"users/{user.id}", "spam", KEY)
        assert retried.id == first.id
        with pytest.raises(WrongState):
            await administration.suspend(acting, f"users/{user.id}", "spam")
