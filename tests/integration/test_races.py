"""Every state change and uniqueness rule, raced: of N conflicting requests exactly one wins,
the others are told the state (409 at the edge), and one event is emitted. On PostgreSQL this
is what the guarded change (chassis/lifecycle.py), the integrity mapping (chassis/uow.py) and
the advisory lock for the last admin hold; SQLite, with one writer, must agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chassis.auth.principal import Role
from chassis.errors import AlreadyExists, FailedPrecondition, NotFound
from chassis.ids import new_id
from chassis.lifecycle import WrongState
from services.catalog.domain.categories import Category
from services.catalog.domain.practitioners import PractitionerStatus
from services.catalog.domain.reviews import Eligibility, Rating
from services.catalog.domain.services import ServiceStatus
from services.identity.domain.users import UserStatus
from tests.builders import (
    PASSWORD,
    STAFF,
    VIRTUAL,
    applicant,
    built_catalog,
    built_identity,
    draft,
    outbox_events,
    person,
    profile,
)
from tests.races import race

N = 10


async def test_approve_and_reject_of_one_application_let_exactly_one_decision_win(
    empty_database_url,
):
    async with built_catalog(empty_database_url) as service:
        catalog = service.catalog
        _, practitioner = await applicant(catalog)
        name = f"practitioners/{practitioner.id}"
        outcome = await race(
            [lambda: catalog.approve(STAFF, name)] * (N // 2)
            + [lambda: catalog.reject(STAFF, name, "Not yet.")] * (N // 2)
        )
        winner = outcome.one_winner()
        assert all(isinstance(e, WrongState) for e in outcome.losses)
        assert {e.current for e in outcome.losses} == {winner.practitioner.status.value}
        database = service.runtime.database
        subject = f"practitioners/{practitioner.id}"
        approved = await outbox_events(database, "practitioner.approved", subject)
        rejected = await outbox_events(database, "practitioner.rejected", subject)
        assert approved + rejected == 1
        stored = (await catalog.get_practitioner(STAFF, name)).practitioner
        assert stored.status is winner.practitioner.status
        assert (stored.status is PractitionerStatus.APPROVED) == (approved == 1)


async def test_concurrent_reapplications_after_a_rejection_make_one_pending_application(
    empty_database_url,
):
    async with built_catalog(empty_database_url) as service:
        catalog = service.catalog
        user, practitioner = await applicant(catalog)
        await catalog.reject(STAFF, f"practitioners/{practitioner.id}", "Add certifications.")
        outcome = await race([lambda: catalog.apply(user, profile("Ana L."), VIRTUAL)] * N)
        winner = outcome.one_winner()
        assert winner.practitioner.status is PractitionerStatus.PENDING


async def test_concurrent_first_applications_of_one_user_make_one_profile(empty_database_url):
    async with built_catalog(empty_database_url) as service:
        user = person()
        outcome = await race([lambda: service.catalog.apply(user, profile(), VIRTUAL)] * N)
        outcome.one_winner(losers=(AlreadyExists,))
        assert {e.reason for e in outcome.losses} == {"PRACTITIONER_EXISTS"}


async def test_concurrent_archives_of_one_service_archive_it_once(empty_database_url):
    async with built_catalog(empty_database_url) as service:
        catalog = service.catalog
        user, practitioner = await applicant(catalog)
        await catalog.approve(STAFF, f"practitioners/{practitioner.id}")
        owner = person(user.subject, Role.PRACTITIONER)
        category = await catalog.create_category(
            STAFF, Category("", "yoga", "Yoga", "", None, 0, "")
        )
        made = await catalog.create_service(owner, draft(category.id))
        service_id = made.service.id
        outcome = await race([lambda: catalog.archive_service(owner, service_id)] * N)
        assert outcome.one_winner().service.status is ServiceStatus.ARCHIVED
        archived = await outbox_events(
            service.runtime.database, "service.archived", f"services/{service_id}"
        )
        assert archived == 1


async def test_concurrent_categories_with_one_slug_make_one(empty_database_url):
    async with built_catalog(empty_database_url) as service:
        outcome = await race(
            [
                lambda: service.catalog.create_category(
                    STAFF, Category("", "breathwork", "Breathwork", "", None, 0, "")
                )
            ]
            * N
        )
        outcome.one_winner(losers=(AlreadyExists,))
        assert {v.field for e in outcome.losses for v in e.violations} == {"slug"}


async def test_concurrent_registrations_of_one_address_make_one_account(empty_database_url):
    async with built_identity(empty_database_url) as service:
        outcome = await race(
            [
                lambda: service.accounts.register(
                    email="ana@example.com", password=PASSWORD, full_name="Ana"
                )
            ]
            * N
        )
        outcome.one_winner(losers=(AlreadyExists,))
        assert {e.reason for e in outcome.losses} == {"EMAIL_TAKEN"}
        assert {v.field for e in outcome.losses for v in e.violations} == {"email"}


async def test_concurrent_suspensions_and_reactivations_each_happen_once(empty_database_url):
    async with built_identity(empty_database_url) as service:
        accounts, administration = service.accounts, service.administration
        admin = await accounts.create_admin("boss@example.com", PASSWORD, "Boss")
        acting = person(admin.id, Role.STAFF, Role.ADMIN)
        user = await accounts.register(email="cai@example.com", password=PASSWORD, full_name="C")
        name = f"users/{user.id}"
        suspended = await race([lambda: administration.suspend(acting, name, "spam")] * N)
        assert suspended.one_winner().status is UserStatus.SUSPENDED
        reactivated = await race([lambda: administration.reactivate(acting, name, "ok")] * N)
        assert reactivated.one_winner().status is UserStatus.ACTIVE
        database = service.runtime.database
        assert await outbox_events(database, "user.suspended", name) == 1
        assert await outbox_events(database, "user.reactivated", name) == 1


async def test_two_admins_removing_each_other_at_once_leave_an_admin(empty_database_url):
    async with built_identity(empty_database_url) as service:
        accounts, administration = service.accounts, service.administration
        first = await accounts.create_admin("a@example.com", PASSWORD, "A")
        second = await accounts.create_admin("b@example.com", PASSWORD, "B")
        as_first = person(first.id, Role.STAFF, Role.ADMIN)
        as_second = person(second.id, Role.STAFF, Role.ADMIN)
        outcome = await race(
            [
                lambda: administration.suspend(as_first, f"users/{second.id}", "race"),
                lambda: administration.suspend(as_second, f"users/{first.id}", "race"),
                lambda: administration.set_roles(
                    as_first, f"users/{second.id}", ["client"], "race"
                ),
                lambda: administration.set_roles(
                    as_second, f"users/{first.id}", ["client"], "race"
                ),
            ]
        )
        # Removing the same admin twice (suspended, then demoted) may both succeed; what
        # must never happen is that each removes the other.
        assert outcome.wins
        assert all(isinstance(e, FailedPrecondition) for e in outcome.losses), outcome.losses
        assert {e.reason for e in outcome.losses} <= {"LAST_ADMIN", "WRONG_STATUS"}
        users = await accounts.batch_get([first.id, second.id])
        active_admins = [u for u in users if u.is_admin and u.is_active]
        assert len(active_admins) == 1


async def test_concurrent_deletions_of_one_account_delete_it_once(empty_database_url):
    async with built_identity(empty_database_url) as service:
        accounts = service.accounts
        user = await accounts.register(email="dee@example.com", password=PASSWORD, full_name="D")
        me = person(user.id)
        outcome = await race([lambda: accounts.delete_user(me, "users/me")] * N)
        outcome.one_winner(losers=(FailedPrecondition, NotFound))
        assert await outbox_events(service.runtime.database, "user.deleted") == 1


async def _reviewed_practice(catalog, clients: int) -> tuple[Any, str, list[tuple[Any, str]]]:
    """An approved practitioner's service and this many clients whose bookings of it
    completed (opened to review through the handler booking.completed's consumer uses)."""
    user, practitioner = await applicant(catalog)
    await catalog.approve(STAFF, f"practitioners/{practitioner.id}")
    owner = person(user.subject, Role.PRACTITIONER)
    category = await catalog.create_category(STAFF, Category("", "yoga", "Yoga", "", None, 0, ""))
    service_id = (await catalog.create_service(owner, draft(category.id))).service.id
    booked = []
    for _ in range(clients):
        client, booking_id = person(), new_id()
        await catalog.record_completed_booking(
            Eligibility(booking_id, client.user_id, service_id, practitioner.id, datetime.now(UTC))
        )
        booked.append((client, booking_id))
    return owner, service_id, booked


async def test_concurrent_reviews_of_one_booking_make_one_review(empty_database_url):
    async with built_catalog(empty_database_url) as service:
        catalog = service.catalog
        _, service_id, [(client, booking_id)] = await _reviewed_practice(catalog, 1)
        outcome = await race(
            [
                lambda stars=stars: catalog.create_review(client, booking_id, stars, "Mine.")
                for stars in [1, 2, 3, 4, 5] * (N // 5)
            ]
        )
        winner = outcome.one_winner(losers=(AlreadyExists,))
        assert {e.reason for e in outcome.losses} == {"ALREADY_REVIEWED"}
        assert await outbox_events(service.runtime.database, "review.created") == 1
        view = await catalog.get_service(STAFF, service_id)
        assert (view.rating_count, view.rating_average) == (1, float(winner.review.rating))
        assert view.practitioner_rating_count == 1


async def test_concurrent_reviews_of_one_service_all_count(empty_database_url):
    async with built_catalog(empty_database_url) as service:
        catalog = service.catalog
        _, service_id, booked = await _reviewed_practice(catalog, N)
        stars = [5, 4, 4, 3, 5, 5, 1, 4, 5, 2][:N]
        outcome = await race(
            [
                lambda client=client, booking_id=booking_id, given=given: catalog.create_review(
                    client, booking_id, given, "Counted."
                )
                for (client, booking_id), given in zip(booked, stars, strict=True)
            ]
        )
        assert not outcome.losses, outcome.losses
        view = await catalog.get_service(STAFF, service_id)
        expected = Rating(sum(stars), len(stars)).shown
        assert (view.rating_count, view.rating_average) == (N, expected)
        assert (view.practitioner_rating_count, view.practitioner_rating_average) == (N, expected)


async def test_concurrent_replies_and_hides_of_one_review_each_happen_once(empty_database_url):
    async with built_catalog(empty_database_url) as service:
        catalog = service.catalog
        owner, service_id, [(client, booking_id)] = await _reviewed_practice(catalog, 1)
        review = (await catalog.create_review(client, booking_id, 2, "Meh.")).review
        replies = await race(
            [lambda n=n: catalog.reply_to_review(owner, review.id, f"Reply {n}") for n in range(N)]
        )
        replies.one_winner()
        assert {e.reason for e in replies.losses} == {"ALREADY_REPLIED"}
        assert await outbox_events(service.runtime.database, "review.replied") == 1
        hides = await race([lambda: catalog.hide_review(STAFF, review.id, True, "Abuse.")] * N)
        hides.one_winner()
        assert {e.reason for e in hides.losses} == {"ALREADY_HIDDEN"}
        view = await catalog.get_service(STAFF, service_id)
        assert (view.rating_count, view.practitioner_rating_count) == (0, 0)
        shows = await race([lambda: catalog.hide_review(STAFF, review.id, False, "")] * N)
        shows.one_winner()
        view = await catalog.get_service(STAFF, service_id)
        assert (view.rating_count, view.rating_average) == (1, 2.0)
