"""Identity's use cases on the real unit of work over a temporary SQLite file, on a frozen
clock, with no process, port or bus started: the rules that reach the database (tokens that
expire, sessions that end, idempotent retries, the audit log, the outbox)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chassis.auth.principal import AccountStatus, Principal, Role
from chassis.clock import FrozenClock
from chassis.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from chassis.lifecycle import WrongState
from services.identity.bootstrap import IdentityService
from services.identity.domain.audit import AuditFilter
from services.identity.domain.users import User, UserStatus
from services.identity.events import (
    USER_DELETED,
    USER_EMAIL_VERIFIED,
    USER_PASSWORD_RESET_REQUESTED,
    USER_REACTIVATED,
    USER_REGISTERED,
    USER_SUSPENDED,
)
from services.identity.service_layer.administration import grant_role
from services.identity.service_layer.sessions import IssuedTokens
from services.identity.uow import IdentityUnitOfWork
from tests.builders import PASSWORD, built_identity, outbox_events, outbox_messages, person

OTHER_PASSWORD = "harbour-lights-77-meadow"
SERVICE_SECRET = "catalog-secret-for-tests"
KEY = "retry-me-7"


def sqlite_file(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/identity.db"


@pytest.fixture
def clock() -> FrozenClock:
    # Whole seconds, as token expiries are; near the wall clock, which PyJWT also reads.
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def identity(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[IdentityService]:
    async with built_identity(
        sqlite_file(tmp_path), clock=clock, service_credentials={"catalog": SERVICE_SECRET}
    ) as service:
        yield service


async def register(identity: IdentityService, email: str = "ana@example.com") -> User:
    return await identity.accounts.register(email=email, password=PASSWORD, full_name="Ana Sousa")


async def an_admin(identity: IdentityService, email: str = "boss@example.com") -> Principal:
    admin = await identity.accounts.create_admin(email, PASSWORD, "Boss")
    return person(admin.id, Role.CLIENT, Role.STAFF, Role.ADMIN)


async def signed_in(identity: IdentityService, email: str = "ana@example.com") -> IssuedTokens:
    return await identity.sessions.login(email, PASSWORD, "pytest")


async def caller(identity: IdentityService, tokens: IssuedTokens) -> Principal:
    """Who an access token stands for, with its session."""
    return await identity.verifier.verify(tokens.access_token)


async def events(identity: IdentityService, name: str, user: User) -> int:
    return await outbox_events(identity.runtime.database, name, f"users/{user.id}")


async def stored(identity: IdentityService, user_id: str) -> User:
    async with identity.runtime.unit_of_work(IdentityUnitOfWork)(write=False) as uow:
        found = await uow.users.get(user_id)
    assert found is not None
    return found


def violation(error: InvalidArgument) -> tuple[str, str]:
    [found] = error.violations
    return found.field, found.code


# Registration and email ------------------------------------------------------------------


async def test_registration_makes_an_active_client_and_announces_a_verification_token(
    identity, clock
):
    user = await register(identity, "Ana@Example.COM")
    assert (user.email, user.status, user.roles) == (
        "Ana@example.com",
        UserStatus.ACTIVE,
        {"client"},
    )
    [announced] = await outbox_messages(
        identity.runtime.database, USER_REGISTERED, f"users/{user.id}"
    )
    assert (announced.user_id, announced.email) == (user.id, "Ana@example.com")
    assert announced.verification_expire_time.ToDatetime(tzinfo=UTC) == clock.now() + timedelta(
        hours=48
    )


async def test_a_registration_replayed_with_its_idempotency_key_makes_one_account(identity):
    first = await identity.accounts.register(
        email="ana@example.com", password=PASSWORD, full_name="Ana", request_id=KEY
    )
    again = await identity.accounts.register(
        email="ana@example.com", password=PASSWORD, full_name="Ana", request_id=KEY
    )
    assert again.id == first.id
    assert await events(identity, "user.registered", first) == 1
    # Someone else guessing the key for that address must also know the password.
    with pytest.raises(InvalidArgument) as guessed:
        await identity.accounts.register(
            email="ana@example.com", password=OTHER_PASSWORD, full_name="Ana", request_id=KEY
        )
    assert violation(guessed.value) == ("request_id", "request_id_reused")
    # Without the key, the same address is taken.
    with pytest.raises(AlreadyExists) as taken:
        await register(identity)
    assert taken.value.reason == "EMAIL_TAKEN"


@pytest.mark.parametrize(
    ("password", "code"),
    [("qwerty12345", "too_common"), ("ana.sousa-2026!", "contains_email")],
)
async def test_registration_refuses_a_common_password_or_one_containing_the_email(
    identity, password, code
):
    with pytest.raises(InvalidArgument) as refused:
        await identity.accounts.register(
            email="ana.sousa@example.com", password=password, full_name="Ana"
        )
    assert violation(refused.value) == ("password", code)


async def test_an_email_is_verified_once_with_its_token(identity):
    user = await register(identity)
    [announced] = await outbox_messages(identity.runtime.database, USER_REGISTERED)
    verified = await identity.accounts.verify_email(announced.verification_token)
    assert verified.email_verified_at is not None
    assert (await stored(identity, user.id)).email_verified_at == verified.email_verified_at
    assert await events(identity, USER_EMAIL_VERIFIED.name, user) == 1
    with pytest.raises(InvalidArgument) as spent:
        await identity.accounts.verify_email(announced.verification_token)
    assert violation(spent.value) == ("token", "invalid_token")


async def test_an_expired_verification_token_is_refused(identity, clock):
    await register(identity)
    [announced] = await outbox_messages(identity.runtime.database, USER_REGISTERED)
    clock.advance(timedelta(hours=48))
    with pytest.raises(InvalidArgument) as expired:
        await identity.accounts.verify_email(announced.verification_token)
    assert violation(expired.value) == ("token", "invalid_token")


# Passwords ---------------------------------------------------------------------------------


async def reset_tokens(identity: IdentityService) -> list[str]:
    found = await outbox_messages(identity.runtime.database, USER_PASSWORD_RESET_REQUESTED)
    return [m.reset_token for m in found]


async def test_a_password_reset_answers_the_same_for_a_suspended_account_as_for_an_unknown_one(
    identity,
):
    boss = await an_admin(identity)
    suspended = await register(identity, "sam@example.com")
    await identity.administration.suspend(boss, f"users/{suspended.id}", "spam")
    for email in ("sam@example.com", "nobody@example.com", "not an email"):
        assert await identity.accounts.request_password_reset(email) is None
    assert await reset_tokens(identity) == []
    await register(identity)
    assert await identity.accounts.request_password_reset("ana@example.com") is None
    assert len(await reset_tokens(identity)) == 1


async def test_a_password_reset_sets_the_password_and_ends_every_session(identity):
    await register(identity)
    session = await signed_in(identity)
    await identity.accounts.request_password_reset("ana@example.com")
    await identity.accounts.request_password_reset("ana@example.com")
    older, newest = await reset_tokens(identity)
    # Only the newest reset token works, and the new password obeys the rules.
    with pytest.raises(InvalidArgument):
        await identity.accounts.confirm_password_reset(older, OTHER_PASSWORD)
    with pytest.raises(InvalidArgument) as weak:
        await identity.accounts.confirm_password_reset(newest, "password123")
    assert violation(weak.value) == ("new_password", "too_common")
    await identity.accounts.confirm_password_reset(newest, OTHER_PASSWORD)
    with pytest.raises(Unauthenticated):
        await identity.sessions.refresh(session.refresh_token)
    with pytest.raises(Unauthenticated):
        await identity.sessions.login("ana@example.com", PASSWORD)
    await identity.sessions.login("ana@example.com", OTHER_PASSWORD)
    with pytest.raises(InvalidArgument):
        await identity.accounts.confirm_password_reset(newest, "yet-another-pass-42")


async def test_an_expired_reset_token_is_refused(identity, clock):
    await register(identity)
    await identity.accounts.request_password_reset("ana@example.com")
    [token] = await reset_tokens(identity)
    clock.advance(timedelta(minutes=60))
    with pytest.raises(InvalidArgument) as expired:
        await identity.accounts.confirm_password_reset(token, OTHER_PASSWORD)
    assert violation(expired.value) == ("token", "invalid_token")


async def test_a_password_change_needs_the_current_one_a_different_one_and_keeps_this_session(
    identity,
):
    await register(identity, "anasousa@example.com")
    this = await signed_in(identity, "anasousa@example.com")
    other = await signed_in(identity, "anasousa@example.com")
    me = await caller(identity, this)
    with pytest.raises(InvalidArgument) as wrong:
        await identity.accounts.change_password(me, OTHER_PASSWORD, "third-good-pass-99")
    assert violation(wrong.value) == ("current_password", "incorrect_password")
    with pytest.raises(InvalidArgument) as same:
        await identity.accounts.change_password(me, PASSWORD, PASSWORD)
    assert violation(same.value) == ("new_password", "unchanged")
    with pytest.raises(InvalidArgument) as contains:
        await identity.accounts.change_password(me, PASSWORD, "x-AnaSousa-2026")
    assert violation(contains.value) == ("new_password", "contains_email")
    await identity.accounts.change_password(me, PASSWORD, OTHER_PASSWORD)
    await identity.sessions.refresh(this.refresh_token)
    with pytest.raises(Unauthenticated):
        await identity.sessions.refresh(other.refresh_token)


# Sessions ----------------------------------------------------------------------------------


async def test_a_wrong_password_and_an_unknown_email_get_one_answer(identity):
    await register(identity)
    answers = set()
    for email, password in (
        ("ana@example.com", OTHER_PASSWORD),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ):
        with pytest.raises(Unauthenticated) as refused:
            await identity.sessions.login(email, password)
        answers.add((refused.value.reason, str(refused.value)))
    assert answers == {("INVALID_CREDENTIALS", "the email or password is incorrect")}


async def test_a_suspended_account_learns_it_only_with_the_right_password(identity):
    boss = await an_admin(identity)
    user = await register(identity)
    await identity.administration.suspend(boss, f"users/{user.id}", "spam")
    with pytest.raises(Unauthenticated):
        await identity.sessions.login("ana@example.com", OTHER_PASSWORD)
    with pytest.raises(PermissionDenied) as suspended:
        await identity.sessions.login("ana@example.com", PASSWORD)
    assert suspended.value.reason == "ACCOUNT_SUSPENDED"


async def test_login_rehashes_a_password_when_the_argon2_parameters_change(tmp_path, clock):
    async with built_identity(sqlite_file(tmp_path), clock=clock) as cheap:
        user = await register(cheap)
        assert ",t=1," in (await stored(cheap, user.id)).password_hash
    async with built_identity(sqlite_file(tmp_path), clock=clock, argon2_time_cost=2) as raised:
        unchanged = (await stored(raised, user.id)).password_hash
        assert ",t=1," in unchanged
        await signed_in(raised)
        upgraded = (await stored(raised, user.id)).password_hash
        assert ",t=2," in upgraded and upgraded != unchanged
        await signed_in(raised)  # the upgraded hash verifies, and is not redone
        assert (await stored(raised, user.id)).password_hash == upgraded


async def test_a_refresh_rotates_and_a_reused_token_ends_the_session(identity):
    await register(identity)
    first = await signed_in(identity)
    second = await identity.sessions.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    with pytest.raises(Unauthenticated) as reused:
        await identity.sessions.refresh(first.refresh_token)
    assert reused.value.reason == "REFRESH_TOKEN_REUSED"
    # The thief's replay killed the session: the legitimate newest token is refused too.
    with pytest.raises(Unauthenticated) as ended:
        await identity.sessions.refresh(second.refresh_token)
    assert ended.value.reason == "INVALID_REFRESH_TOKEN"
    assert not (await identity.sessions.introspect(second.access_token)).active


async def test_a_refresh_token_expires_after_seven_days(identity, clock):
    await register(identity)
    early, late = await signed_in(identity), await signed_in(identity)
    clock.advance(timedelta(days=7, seconds=-1))
    await identity.sessions.refresh(early.refresh_token)
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthenticated) as expired:
        await identity.sessions.refresh(late.refresh_token)
    assert expired.value.reason == "INVALID_REFRESH_TOKEN"


async def suspend_keeping_sessions(identity: IdentityService, user_id: str) -> None:
    """A suspension whose sessions are not revoked (yet): what a refresh or introspection
    racing it sees. The account itself must still be checked."""
    async with identity.runtime.unit_of_work(IdentityUnitOfWork)() as uow:
        user = await uow.users.get(user_id)
        assert user is not None
        seen = user.status
        user.suspend(identity.runtime.clock.now())
        await uow.users.save_status(user, seen)
        await uow.commit()


async def test_a_refresh_for_an_account_no_longer_active_ends_its_session(identity):
    boss = await an_admin(identity)
    user = await register(identity)
    tokens = await signed_in(identity)
    await suspend_keeping_sessions(identity, user.id)
    with pytest.raises(Unauthenticated) as refused:
        await identity.sessions.refresh(tokens.refresh_token)
    assert refused.value.reason == "ACCOUNT_NOT_ACTIVE"
    await identity.administration.reactivate(boss, f"users/{user.id}", "")
    with pytest.raises(Unauthenticated):  # that session stays ended
        await identity.sessions.refresh(tokens.refresh_token)


async def test_logout_ends_this_session_and_logout_all_every_session(identity):
    await register(identity)
    sessions = [await signed_in(identity) for _ in range(3)]
    await identity.sessions.logout(await caller(identity, sessions[0]))
    with pytest.raises(Unauthenticated):
        await identity.sessions.refresh(sessions[0].refresh_token)
    await identity.sessions.refresh(sessions[1].refresh_token)

    assert await identity.sessions.logout_all(await caller(identity, sessions[2])) == 2
    for tokens in sessions:
        with pytest.raises(Unauthenticated):
            await identity.sessions.refresh(tokens.refresh_token)
        assert not (await identity.sessions.introspect(tokens.access_token)).active
    assert await identity.sessions.logout_all(await caller(identity, sessions[2])) == 0


async def test_introspection_refuses_a_revoked_session_or_an_inactive_user(identity):
    boss = await an_admin(identity)
    user = await register(identity)
    kept, revoked = await signed_in(identity), await signed_in(identity)
    found = await identity.sessions.introspect(kept.access_token)
    assert found.active and found.principal is not None and found.principal.user_id == user.id
    await identity.sessions.logout(await caller(identity, revoked))
    assert not (await identity.sessions.introspect(revoked.access_token)).active
    assert (await identity.sessions.introspect(kept.access_token)).active

    await suspend_keeping_sessions(identity, user.id)
    assert not (await identity.sessions.introspect(kept.access_token)).active
    await identity.administration.reactivate(boss, f"users/{user.id}", "")
    assert (await identity.sessions.introspect(kept.access_token)).active
    assert not (await identity.sessions.introspect("not-a-token")).active


async def test_an_access_token_is_accepted_for_30_seconds_past_its_expiry(identity, clock):
    await register(identity)
    tokens = await signed_in(identity)
    assert tokens.expires_in == 3600
    clock.advance(timedelta(minutes=60, seconds=29))
    assert (await identity.sessions.introspect(tokens.access_token)).active
    clock.advance(timedelta(seconds=2))  # 31 s past expiry
    assert not (await identity.sessions.introspect(tokens.access_token)).active


async def test_a_service_proves_its_secret_for_a_service_token(identity):
    token, expires_in = await identity.sessions.issue_service_token("catalog", SERVICE_SECRET)
    assert expires_in == 15 * 60
    found = await identity.sessions.introspect(token)
    assert found.active and found.principal is not None
    assert found.principal.subject == "service:catalog"
    for client, secret in (("catalog", "wrong"), ("payments", SERVICE_SECRET)):
        with pytest.raises(Unauthenticated) as refused:
            await identity.sessions.issue_service_token(client, secret)
        assert refused.value.reason == "INVALID_CLIENT"


async def test_the_purge_job_deletes_only_expired_tokens(identity, clock):
    await register(identity)  # a verification token, valid 48 h
    tokens = await signed_in(identity)  # a refresh token, valid 7 days
    assert await identity.sessions.purge_expired_tokens() == 0
    clock.advance(timedelta(hours=48, seconds=1))
    assert await identity.sessions.purge_expired_tokens() == 1
    rotated = await identity.sessions.refresh(tokens.refresh_token)
    clock.advance(timedelta(days=5))  # the first refresh token is now past its 7 days
    assert await identity.sessions.purge_expired_tokens() == 1
    assert await identity.sessions.purge_expired_tokens() == 0
    await identity.sessions.refresh(rotated.refresh_token)


# Profile and erasure -----------------------------------------------------------------------


async def test_a_profile_is_changed_by_its_owner_only_and_protected_fields_never(identity):
    user = await register(identity)
    me = person(user.id)
    changed = await identity.accounts.update_user(
        me, "users/me", ["phone", "bio"], {"phone": "+351 912 345 678", "bio": "Hi"}
    )
    assert (changed.phone, changed.bio) == ("+351912345678", "Hi")
    assert (await stored(identity, user.id)).phone == "+351912345678"
    with pytest.raises(InvalidArgument) as protected:
        await identity.accounts.update_user(me, "users/me", ["roles"], {})
    assert violation(protected.value) == ("roles", "read_only")
    with pytest.raises(PermissionDenied):
        await identity.accounts.update_user(person(), f"users/{user.id}", ["bio"], {"bio": "x"})
    with pytest.raises(PermissionDenied):
        await identity.accounts.get_user(person(), f"users/{user.id}")


async def test_deleting_an_account_erases_it_everywhere_identity_keeps_it(identity):
    boss = await an_admin(identity)
    user = await register(identity)
    tokens = await signed_in(identity)
    await identity.accounts.delete_user(person(user.id), "users/me")

    gone = await identity.accounts.get_user(boss, f"users/{user.id}")  # staff still see it
    assert (gone.status, gone.full_name, gone.roles) == (UserStatus.DELETED, "Deleted user", set())
    assert gone.email == f"deleted-{user.id}@deleted.invalid"
    with pytest.raises(NotFound):
        await identity.accounts.get_user(person(user.id), "users/me")
    with pytest.raises(Unauthenticated):
        await identity.sessions.login("ana@example.com", PASSWORD)
    with pytest.raises(Unauthenticated):
        await identity.sessions.refresh(tokens.refresh_token)
    # The unpublished registration (with the address) is gone; the erasure is announced.
    assert await events(identity, USER_REGISTERED.name, user) == 0
    assert await events(identity, USER_DELETED.name, user) == 1
    assert identity.runtime.accounts.status_of(user.id) is AccountStatus.DELETED
    # The address is free again.
    assert (await register(identity)).id != user.id


async def test_the_last_active_admin_cannot_delete_their_account(identity):
    boss = await an_admin(identity)
    with pytest.raises(FailedPrecondition) as last:
        await identity.accounts.delete_user(boss, "users/me")
    assert last.value.reason == "LAST_ADMIN"
    await an_admin(identity, "second@example.com")
    await identity.accounts.delete_user(boss, "users/me")


async def test_a_batch_read_keeps_the_order_asked_and_leaves_out_the_unknown(identity):
    ana, ben = await register(identity), await register(identity, "ben@example.com")
    nobody = "0190a000-0000-7000-8000-000000000000"
    found = await identity.accounts.batch_get([f"users/{ben.id}", nobody, ana.id])
    assert [u.id for u in found] == [ben.id, ana.id]


# Administration ----------------------------------------------------------------------------


async def test_a_suspension_ends_sessions_is_announced_audited_and_reversible(identity):
    boss = await an_admin(identity)
    user = await register(identity)
    tokens = await signed_in(identity)
    suspended = await identity.administration.suspend(boss, f"users/{user.id}", "spam")
    assert suspended.status is UserStatus.SUSPENDED
    assert (await stored(identity, user.id)).status is UserStatus.SUSPENDED
    with pytest.raises(Unauthenticated):
        await identity.sessions.refresh(tokens.refresh_token)
    assert await events(identity, USER_SUSPENDED.name, user) == 1
    assert identity.runtime.accounts.status_of(user.id) is AccountStatus.SUSPENDED
    with pytest.raises(WrongState) as twice:
        await identity.administration.suspend(boss, f"users/{user.id}", "spam")
    assert twice.value.reason == "WRONG_STATUS"

    await identity.administration.reactivate(boss, f"users/{user.id}", "appeal upheld")
    assert (await stored(identity, user.id)).status is UserStatus.ACTIVE
    assert await events(identity, USER_REACTIVATED.name, user) == 1
    assert identity.runtime.accounts.status_of(user.id) is AccountStatus.ACTIVE
    await signed_in(identity)

    page = await identity.administration.list_audit(AuditFilter(target_user_id=user.id), 0, "")
    assert [(e.action, e.before["status"], e.after["status"], e.reason) for e in page.items] == [
        ("user.reactivate", "suspended", "active", "appeal upheld"),
        ("user.suspend", "active", "suspended", "spam"),
    ]
    assert {e.actor_id for e in page.items} == {boss.user_id}
    assert {e.service for e in page.items} == {"identity"}


async def test_a_retried_suspension_with_its_key_answers_like_the_first(identity):
    boss = await an_admin(identity)
    user = await register(identity)
    first = await identity.administration.suspend(boss, f"users/{user.id}", "spam", KEY)
    again = await identity.administration.suspend(boss, f"users/{user.id}", "spam", KEY)
    assert (again.id, again.status) == (first.id, UserStatus.SUSPENDED)
    assert await events(identity, USER_SUSPENDED.name, user) == 1


async def test_staff_act_on_others_and_only_admins_on_staff(identity):
    boss = await an_admin(identity)
    staff_user = await register(identity, "sue@example.com")
    await identity.administration.set_roles(
        boss, f"users/{staff_user.id}", ["client", "staff"], "hired"
    )
    sue = person(staff_user.id, Role.CLIENT, Role.STAFF)
    with pytest.raises(PermissionDenied) as own:
        await identity.administration.suspend(sue, "users/me", "")
    assert own.value.reason == "OWN_ACCOUNT"
    with pytest.raises(PermissionDenied):
        await identity.administration.suspend(sue, f"users/{boss.user_id}", "")
    client = await register(identity)
    # Staff may make a client a practitioner, never staff.
    made = await identity.administration.set_roles(
        sue, f"users/{client.id}", ["client", "practitioner"], ""
    )
    assert made.roles == {"client", "practitioner"}
    with pytest.raises(PermissionDenied):
        await identity.administration.set_roles(sue, f"users/{client.id}", ["staff"], "")
    with pytest.raises(NotFound):
        await identity.administration.suspend(sue, "users/not-a-user", "")
    entries = await identity.administration.list_audit(AuditFilter(actor_id=sue.user_id), 0, "")
    assert [(e.before["roles"], e.after["roles"]) for e in entries.items] == [
        (["client"], ["client", "practitioner"])
    ]


async def test_a_suspended_admins_token_cannot_remove_the_last_active_admin(identity):
    first = await an_admin(identity, "a@example.com")
    second = await an_admin(identity, "b@example.com")
    await identity.administration.suspend(first, f"users/{second.user_id}", "left")
    for remove in (
        identity.administration.suspend(second, f"users/{first.user_id}", "revenge"),
        identity.administration.set_roles(second, f"users/{first.user_id}", ["client"], ""),
    ):
        with pytest.raises(FailedPrecondition) as last:
            await remove
        assert last.value.reason == "LAST_ADMIN"


async def test_users_are_listed_newest_first_filtered_and_paged(identity):
    await an_admin(identity)
    made = [await register(identity, f"user{n}@example.com") for n in range(5)]
    await identity.administration.set_roles(
        await an_admin(identity, "c@example.com"),
        f"users/{made[0].id}",
        ["client", "practitioner"],
        "",
    )
    seen, token = [], ""
    while True:
        page = await identity.administration.list_users(
            query="user", role=Role.CLIENT, status=UserStatus.ACTIVE, page_size=2, page_token=token
        )
        assert page.total == 5 and len(page.items) <= 2
        seen += [u.id for u in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == [u.id for u in reversed(made)]
    practitioners = await identity.administration.list_users(
        query="", role=Role.PRACTITIONER, status=None, page_size=0, page_token=""
    )
    assert [u.id for u in practitioners.items] == [made[0].id]
    first = await identity.administration.list_users(
        query="user", role=None, status=None, page_size=2, page_token=""
    )
    with pytest.raises(InvalidArgument) as replayed:
        await identity.administration.list_users(
            query="other", role=None, status=None, page_size=2, page_token=first.next_page_token
        )
    assert violation(replayed.value)[0] == "page_token"


async def test_the_audit_log_pages_and_refuses_a_bad_filter(identity):
    boss = await an_admin(identity)
    user = await register(identity)
    for _ in range(3):
        await identity.administration.suspend(boss, f"users/{user.id}", "")
        await identity.administration.reactivate(boss, f"users/{user.id}", "")
    first = await identity.administration.list_audit(AuditFilter(), 4, "")
    rest = await identity.administration.list_audit(AuditFilter(), 4, first.next_page_token)
    assert (first.total, len(first.items), len(rest.items), rest.next_page_token) == (6, 4, 2, "")
    assert not {e.id for e in first.items} & {e.id for e in rest.items}
    with pytest.raises(InvalidArgument) as bad:
        await identity.administration.list_audit(AuditFilter(actor_id="me"), 0, "")
    assert violation(bad.value) == ("actor_id", "invalid_id")


async def test_an_approved_practitioner_is_granted_the_role_once(identity):
    user = await register(identity)
    unit_of_work = identity.runtime.unit_of_work(IdentityUnitOfWork)
    for _ in range(2):
        async with unit_of_work() as uow:
            assert await grant_role(uow, user.id, Role.PRACTITIONER)
            await uow.commit()
    assert (await stored(identity, user.id)).roles == {"client", "practitioner"}
    async with unit_of_work() as uow:
        assert not await grant_role(uow, "not-a-user", Role.PRACTITIONER)
    await identity.accounts.delete_user(person(user.id), "users/me")
    async with unit_of_work() as uow:
        assert not await grant_role(uow, user.id, Role.PRACTITIONER)
