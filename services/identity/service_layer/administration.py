"""Administration: staff finding users, suspending and reactivating them, changing their
roles, and reading the audit log every staff action lands in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from chassis.accounts import change_account_status
from chassis.audit import StaffAction
from chassis.auth.principal import AccountStatus, Principal, Role
from chassis.clock import Clock
from chassis.errors import InvalidArgument
from chassis.idempotency import IdempotentRequest
from chassis.ids import is_uuid
from chassis.pagination import KeyPart, Page, page_request
from services.identity.domain.audit import AuditEntry, AuditFilter
from services.identity.domain.events import UserReactivated, UserSuspended
from services.identity.domain.users import (
    User,
    UserStatus,
    no_such_user,
    parse_roles,
    staff_target,
)
from services.identity.repository import UserFilter
from services.identity.service_layer.accounts import keep_an_admin
from services.identity.uow import IdentityUnitOfWork

QUERY_MAX_LENGTH = 254

StatusChange = Callable[
    [IdentityUnitOfWork, User, datetime], Awaitable[UserSuspended | UserReactivated]
]


async def grant_role(uow: IdentityUnitOfWork, user_id: str, role: Role) -> bool:
    """Adds a role inside the caller's unit of work (another service decided it, e.g. an
    approved practitioner); False if there is nobody to grant it to."""
    user = await uow.users.get(user_id) if is_uuid(user_id) else None
    if user is None or user.is_erased:
        return False
    if user.grant(role, uow.clock.now()):
        await uow.users.save_roles(user)
    return True


class AdministrationHandlers:
    """What staff do to other people's accounts, each action in the audit log."""

    def __init__(self, *, unit_of_work: Callable[..., IdentityUnitOfWork], clock: Clock) -> None:
        self._uow = unit_of_work
        self._clock = clock

    async def list_users(
        self,
        *,
        query: str,
        role: Role | None,
        status: UserStatus | None,
        page_size: int,
        page_token: str,
    ) -> Page[User]:
        """Users matching a search, newest first."""
        if len(query) > QUERY_MAX_LENGTH:
            raise InvalidArgument.field(
                "query", f"must be at most {QUERY_MAX_LENGTH} characters", "too_long"
            )
        page = page_request(
            page_size, page_token, query={"q": query, "r": role, "s": status}, key=(KeyPart.ID,)
        )
        async with self._uow(write=False) as uow:
            found, total = await uow.users.list(
                UserFilter(query=query, role=role, status=status), page
            )
        return page.page(found, total, key=lambda user: [user.id])

    async def suspend(
        self, principal: Principal, name: str, reason: str, request_id: str = ""
    ) -> User:
        """Suspends a user: their sessions end, they cannot log in, and every service
        refuses their writes (user.suspended)."""

        async def suspend(uow: IdentityUnitOfWork, user: User, now: datetime) -> UserSuspended:
            await keep_an_admin(uow, user)
            suspended = user.suspend(now)
            await uow.sessions.revoke_all(user.id, now, "suspended")
            return suspended

        return await self._change_status(
            principal, name, reason, request_id, "user.suspend", suspend
        )

    async def reactivate(
        self, principal: Principal, name: str, reason: str, request_id: str = ""
    ) -> User:
        """Lifts a suspension (user.reactivated)."""

        async def reactivate(uow: IdentityUnitOfWork, user: User, now: datetime) -> UserReactivated:
            return user.reactivate(now)

        return await self._change_status(
            principal, name, reason, request_id, "user.reactivate", reactivate
        )

    async def set_roles(
        self, principal: Principal, name: str, roles: list[str], reason: str
    ) -> User:
        """Replaces a user's roles; staff and admin are granted and removed by admins only,
        and the last active admin keeps the role."""
        new_roles = parse_roles(roles)
        user_id = staff_target(principal, name, reason)
        async with self._uow() as uow:
            user = await _target(uow, principal, user_id)
            if Role.ADMIN.value not in new_roles:
                await keep_an_admin(uow, user)
            before = user.audit_view()
            user.set_roles(new_roles, principal, self._clock.now())
            await uow.users.save_roles(user)
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    "user.set_roles",
                    f"users/{user.id}",
                    user.id,
                    before,
                    user.audit_view(),
                    reason,
                )
            )
            await uow.commit()
        return user

    async def list_audit(
        self, flt: AuditFilter, page_size: int, page_token: str
    ) -> Page[AuditEntry]:
        """The audit log of every service's staff actions, newest first."""
        flt.check()
        page = page_request(
            page_size,
            page_token,
            query={"t": flt.target_user_id, "a": flt.actor_id, "s": flt.service, "r": flt.target},
            key=(KeyPart.ID,),
        )
        async with self._uow(write=False) as uow:
            entries, total = await uow.audit_log.list(flt, page)
        return page.page(entries, total, key=lambda entry: [entry.id])

    async def _change_status(
        self,
        principal: Principal,
        name: str,
        reason: str,
        request_id: str,
        action: str,
        change: StatusChange,
    ) -> User:
        user_id = staff_target(principal, name, reason)
        idempotent = IdempotentRequest.of(action, principal, request_id, user_id, reason)
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            if earlier is not None:
                return await _target(uow, principal, earlier)
            user = await _target(uow, principal, user_id)
            now = self._clock.now()
            before, seen = user.audit_view(), user.status
            changed = await change(uow, user, now)
            await uow.users.save_status(user, seen)
            await change_account_status(uow, user.id, AccountStatus(user.status.value), now)
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    action,
                    f"users/{user.id}",
                    user.id,
                    before,
                    user.audit_view(),
                    reason,
                )
            )
            uow.record(changed)
            await uow.remember(idempotent, user.id)
            await uow.commit()
        return user


async def _target(uow: IdentityUnitOfWork, principal: Principal, user_id: str) -> User:
    """The account a staff action is about, if this staff member may act on it."""
    user = await uow.users.get(user_id)
    if user is None:
        raise no_such_user()
    user.check_staff_may_act(principal)
    return user
