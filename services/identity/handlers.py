"""Identity's use cases. Each opens one unit of work; the rules live in domain.py."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from chassis.accounts import change_account_status
from chassis.audit import StaffAction, refuse_own_account
from chassis.auth.principal import STAFF_ROLES, AccountStatus, Principal, Role, TokenType
from chassis.auth.tokens import TokenIssuer, TokenVerifier
from chassis.bus.outbox import forget_subject
from chassis.clock import Clock
from chassis.emails import email_key, normalize_email
from chassis.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from chassis.idempotency import IdempotentRequest, fingerprint
from chassis.ids import is_uuid, new_id
from chassis.pagination import KeyPart, page_request
from chassis.validation import Violations
from estuary.identity.v1 import events_pb2
from services.identity import domain
from services.identity.domain import TokenPurpose, User, UserStatus
from services.identity.events import (
    USER_DELETED,
    USER_EMAIL_VERIFIED,
    USER_PASSWORD_RESET_REQUESTED,
    USER_REACTIVATED,
    USER_REGISTERED,
    USER_SUSPENDED,
)
from services.identity.keys import SigningKeyring
from services.identity.passwords import Passwords
from services.identity.repository import USER_STATUS, AuditFilter, UserFilter
from services.identity.settings import IdentitySettings
from services.identity.uow import IdentityUnitOfWork, email_taken

REFRESH_REUSE = "refresh token reuse"
INVALID_REFRESH = "the refresh token is invalid, expired or revoked"
INVALID_ONE_TIME_TOKEN = "is invalid, expired or already used"


def token_hash(token: str) -> str:
    """How secrets we hand out are stored: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


@dataclass(frozen=True)
class Introspection:
    active: bool
    principal: Principal | None = None


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_page_token: str
    total: int


class Identity:
    """Accounts, sessions and the staff's management of users."""

    def __init__(
        self,
        *,
        unit_of_work: Callable[..., IdentityUnitOfWork],
        settings: IdentitySettings,
        clock: Clock,
        passwords: Passwords,
        keyring: SigningKeyring,
        issuer: TokenIssuer,
        verifier: TokenVerifier,
    ) -> None:
        self._uow = unit_of_work
        self._settings = settings
        self._clock = clock
        self._passwords = passwords
        self._keyring = keyring
        self._issuer = issuer
        self._verifier = verifier

    # Registration and email ----------------------------------------------------------------

    async def register(
        self, *, email: str, password: str, full_name: str, request_id: str = ""
    ) -> User:
        """Creates a client account and emits user.registered with a verification token."""
        violations = Violations()
        normalized = violations.check(lambda: normalize_email(email), "")
        full = violations.check(lambda: domain.check_full_name(full_name), "")
        problem = domain.password_problem(password, email=email)
        if problem:
            violations.add("password", *problem)
        violations.raise_if_any()
        # Registration is anonymous: a caller is known by the address they register, and a
        # retry proves it is the same caller by knowing the password.
        idempotent = IdempotentRequest(
            "RegisterUser",
            f"anonymous:{email_key(normalized)}",
            request_id,
            fingerprint(email_key(normalized), full),
        )
        password_hash = await self._passwords.hash(password)
        async with self._uow() as uow:
            earlier = await idempotent.earlier_result(uow.connection, self._clock.now())
            if earlier is not None:
                existing = await uow.users.get(earlier)
                if existing is None or not await self._passwords.verify(
                    existing.password_hash, password
                ):
                    raise InvalidArgument.field(
                        "request_id",
                        "was already used for a different request",
                        "request_id_reused",
                    )
                return existing
            if await uow.users.email_taken(normalized):
                raise email_taken()
            now = self._clock.now()
            user = User(
                id=new_id(),
                email=normalized,
                full_name=full,
                password_hash=password_hash,
                status=UserStatus.ACTIVE,
                roles={Role.CLIENT.value},
                created_at=now,
                updated_at=now,
            )
            await uow.users.add(user)
            token, expires = await self._one_time_token(
                uow,
                user,
                TokenPurpose.EMAIL_VERIFICATION,
                timedelta(hours=self._settings.email_verification_ttl_hours),
            )
            uow.emit(
                USER_REGISTERED,
                events_pb2.UserRegistered(
                    user_id=user.id,
                    email=user.email,
                    full_name=user.full_name,
                    verification_token=token,
                    verification_expire_time=_timestamp(expires),
                ),
                subject=f"users/{user.id}",
            )
            await idempotent.remember(uow.connection, user.id)
            await uow.commit()
        return user

    async def verify_email(self, token: str) -> User:
        """Spends a verification token and marks the email verified."""
        async with self._uow() as uow:
            record = await self._spend(uow, token, TokenPurpose.EMAIL_VERIFICATION)
            user = await uow.users.get(record.user_id)
            if user is None or user.status is UserStatus.DELETED:
                raise InvalidArgument.field("token", INVALID_ONE_TIME_TOKEN, "invalid_token")
            now = self._clock.now()
            if user.email_verified_at is None:
                await uow.users.update(user, now, email_verified_at=now)
                uow.emit(
                    USER_EMAIL_VERIFIED,
                    events_pb2.UserEmailVerified(user_id=user.id, email=user.email),
                    subject=f"users/{user.id}",
                )
            await uow.commit()
        return user

    # Passwords ---------------------------------------------------------------------------

    async def request_password_reset(self, email: str) -> None:
        """Emits user.password_reset_requested for an active account; silent otherwise."""
        try:
            normalized = normalize_email(email)
        except InvalidArgument:
            return  # the same answer as for an unknown address: no enumeration
        async with self._uow() as uow:
            user = await uow.users.get_by_email(normalized)
            if user is None or not user.is_active:
                return
            now = self._clock.now()
            await uow.one_time_tokens.spend_all(user.id, TokenPurpose.PASSWORD_RESET, now)
            token, expires = await self._one_time_token(
                uow,
                user,
                TokenPurpose.PASSWORD_RESET,
                timedelta(minutes=self._settings.password_reset_ttl_minutes),
            )
            uow.emit(
                USER_PASSWORD_RESET_REQUESTED,
                events_pb2.UserPasswordResetRequested(
                    user_id=user.id,
                    email=user.email,
                    reset_token=token,
                    expire_time=_timestamp(expires),
                ),
                subject=f"users/{user.id}",
            )
            await uow.commit()

    async def confirm_password_reset(self, token: str, new_password: str) -> None:
        """Sets a new password with a reset token; every session ends."""
        async with self._uow(write=False) as uow:
            record = await uow.one_time_tokens.find(token_hash(token), TokenPurpose.PASSWORD_RESET)
            user = await uow.users.get(record.user_id) if record else None
        if user is None:
            raise InvalidArgument.field("token", INVALID_ONE_TIME_TOKEN, "invalid_token")
        domain.check_password(new_password, email=user.email, field_name="new_password")
        new_hash = await self._passwords.hash(new_password)
        async with self._uow() as uow:
            await self._spend(uow, token, TokenPurpose.PASSWORD_RESET)
            now = self._clock.now()
            await uow.users.update(user, now, password_hash=new_hash)
            await uow.sessions.revoke_all(user.id, now, "password reset")
            await uow.commit()

    async def change_password(
        self, principal: Principal, current_password: str, new_password: str
    ) -> None:
        """Changes the caller's password; sessions other than this one end."""
        user = await self._load(principal.user_id)
        if not await self._passwords.verify(user.password_hash, current_password):
            raise InvalidArgument.field("current_password", "is incorrect", "incorrect_password")
        domain.check_password(new_password, email=user.email, field_name="new_password")
        if new_password == current_password:
            raise InvalidArgument.field(
                "new_password", "must differ from the current password", "unchanged"
            )
        new_hash = await self._passwords.hash(new_password)
        async with self._uow() as uow:
            now = self._clock.now()
            await uow.users.update(user, now, password_hash=new_hash)
            await uow.sessions.revoke_all(
                user.id, now, "password changed", keep=principal.session_id
            )
            await uow.commit()

    # Profile -----------------------------------------------------------------------------

    async def get_user(self, principal: Principal, name: str) -> User:
        """A user the caller may read: themselves, or anyone for staff."""
        user_id = domain.user_id_from_name(name, principal.user_id)
        if user_id != principal.user_id and not principal.is_staff:
            raise PermissionDenied("you can read only your own account")
        return await self._load(user_id, for_staff=principal.is_staff)

    async def update_user(
        self, principal: Principal, name: str, paths: list[str], values: dict[str, Any]
    ) -> User:
        """Changes the caller's own profile fields; refuses protected ones."""
        user_id = domain.user_id_from_name(name, principal.user_id, "user.name")
        if user_id != principal.user_id:
            raise PermissionDenied("you can change only your own profile")
        changes = domain.profile_changes(paths, values)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.status is UserStatus.DELETED:
                raise NotFound("no such user")
            await uow.users.update(user, self._clock.now(), **changes)
            await uow.commit()
        return user

    async def delete_user(self, principal: Principal, name: str) -> None:
        """Erases the caller's personal data, ends every session, emits user.deleted."""
        user_id = domain.user_id_from_name(name, principal.user_id)
        if user_id != principal.user_id:
            raise PermissionDenied("you can delete only your own account")
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.status is UserStatus.DELETED:
                raise NotFound("no such user")
            await self._keep_an_admin(uow, user)
            now = self._clock.now()
            await uow.users.change_status(
                user,
                (UserStatus.ACTIVE, UserStatus.SUSPENDED),
                UserStatus.DELETED,
                now,
                email=f"deleted-{user.id}@deleted.invalid",
                full_name="Deleted user",
                password_hash="!",
                email_verified_at=None,
                phone="",
                timezone="",
                avatar_url="",
                bio="",
                preferences={},
            )
            await uow.users.set_roles(user.id, ())
            await uow.one_time_tokens.delete_for_user(user.id)
            await uow.sessions.revoke_all(user.id, now, "account deleted")
            await forget_subject(uow.connection, f"users/{user.id}")
            await change_account_status(uow, user.id, AccountStatus.DELETED, now)
            uow.emit(
                USER_DELETED, events_pb2.UserDeleted(user_id=user.id), subject=f"users/{user.id}"
            )
            await uow.commit()

    async def batch_get(self, names: list[str]) -> list[User]:
        """Users by name or id, in the order asked; unknown ones left out."""
        if len(names) > 1000:
            raise InvalidArgument.field("names", "must hold at most 1000 names", "too_many")
        ids = [n.removeprefix("users/") for n in names]
        bad = [n for n, i in zip(names, ids, strict=True) if not is_uuid(i)]
        if bad:
            raise InvalidArgument.field("names", f"not user names: {', '.join(bad[:5])}")
        async with self._uow(write=False) as uow:
            found = {u.id: u for u in await uow.users.get_many(list(dict.fromkeys(ids)))}
        return [found[i] for i in ids if i in found]

    # Staff -------------------------------------------------------------------------------

    async def list_users(
        self,
        *,
        query: str,
        role: str | None,
        status: str | None,
        page_size: int,
        page_token: str,
    ) -> Page:
        """Users matching a search, newest first."""
        if len(query) > 254:
            raise InvalidArgument.field("query", "must be at most 254 characters", "too_long")
        flt = UserFilter(query=query, role=role, status=status)
        page = page_request(
            page_size, page_token, query={"q": query, "r": role, "s": status}, key=(KeyPart.ID,)
        )
        async with self._uow(write=False) as uow:
            found, total = await uow.users.list(
                flt, after_id=page.after[0] if page.after else None, limit=page.size + 1
            )
        more = len(found) > page.size
        found = found[: page.size]
        token = page.next_token([found[-1].id]) if more else ""
        return Page(found, token, total)

    async def suspend(
        self, principal: Principal, name: str, reason: str, request_id: str = ""
    ) -> User:
        """Suspends a user: their sessions end, they cannot log in, and every service
        refuses their writes (user.suspended)."""
        return await self._change_status(
            principal, name, reason, request_id, UserStatus.ACTIVE, UserStatus.SUSPENDED
        )

    async def reactivate(
        self, principal: Principal, name: str, reason: str, request_id: str = ""
    ) -> User:
        """Lifts a suspension (user.reactivated)."""
        return await self._change_status(
            principal, name, reason, request_id, UserStatus.SUSPENDED, UserStatus.ACTIVE
        )

    async def set_roles(
        self, principal: Principal, name: str, roles: list[str], reason: str
    ) -> User:
        """Replaces a user's roles; staff and admin are granted and removed by admins only,
        and the last active admin keeps the role."""
        new_roles = domain.parse_roles(roles)
        user_id = self._staff_target(principal, name, reason)
        async with self._uow() as uow:
            user = await self._staff_target_user(uow, principal, user_id)
            touched = (user.roles ^ new_roles) & STAFF_ROLES
            if touched and not principal.is_admin:
                raise PermissionDenied("only an admin can grant or remove staff and admin roles")
            if Role.ADMIN.value not in new_roles:
                await self._keep_an_admin(uow, user)
            before = _audit_view(user)
            await uow.users.set_roles(user.id, new_roles)
            user.roles = set(new_roles)
            await uow.users.update(user, self._clock.now())
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    "user.set_roles",
                    f"users/{user.id}",
                    user.id,
                    before,
                    _audit_view(user),
                    reason,
                )
            )
            await uow.commit()
        return user

    async def list_audit(self, flt: AuditFilter, page_size: int, page_token: str) -> Page:
        """The audit log of every service's staff actions, newest first."""
        for field, value in (("target_user_id", flt.target_user_id), ("actor_id", flt.actor_id)):
            if value and not is_uuid(value):
                raise InvalidArgument.field(field, "must be a user id", "invalid_id")
        if len(flt.target) > 200 or len(flt.service) > 30:
            raise InvalidArgument.field(
                "target" if len(flt.target) > 200 else "service", "is too long", "too_long"
            )
        page = page_request(
            page_size,
            page_token,
            query={"t": flt.target_user_id, "a": flt.actor_id, "s": flt.service, "r": flt.target},
            key=(KeyPart.ID,),
        )
        async with self._uow(write=False) as uow:
            entries, total = await uow.audit_log.list(
                flt, after_id=page.after[0] if page.after else None, limit=page.size + 1
            )
        more = len(entries) > page.size
        entries = entries[: page.size]
        return Page(entries, page.next_token([entries[-1].id]) if more else "", total)

    # Sessions ----------------------------------------------------------------------------

    async def login(self, email: str, password: str, user_agent: str = "") -> IssuedTokens:
        """A new session for the right email and password; one answer for every wrong one."""
        try:
            normalized = normalize_email(email)
        except InvalidArgument:
            normalized = ""
        async with self._uow(write=False) as uow:
            user = await uow.users.get_by_email(normalized) if normalized else None
        if user is None or user.status is UserStatus.DELETED:
            await self._passwords.burn_time(password)
            raise Unauthenticated(domain.INVALID_CREDENTIALS, reason="INVALID_CREDENTIALS")
        if not await self._passwords.verify(user.password_hash, password):
            raise Unauthenticated(domain.INVALID_CREDENTIALS, reason="INVALID_CREDENTIALS")
        if user.status is UserStatus.SUSPENDED:
            raise PermissionDenied("this account is suspended", reason="ACCOUNT_SUSPENDED")
        upgraded = (
            await self._passwords.hash(password)
            if self._passwords.needs_rehash(user.password_hash)
            else None
        )
        async with self._uow() as uow:
            now = self._clock.now()
            if upgraded:
                await uow.users.update(user, now, password_hash=upgraded)
            session_id = await uow.sessions.open(user.id, user_agent, now)
            refresh = await self._new_refresh_token(uow, session_id, user.id, now)
            await uow.commit()
        return await self._tokens(user, session_id, refresh)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """Rotates a refresh token; a reused one revokes its whole session."""
        hashed = token_hash(refresh_token)
        async with self._uow() as uow:
            now = self._clock.now()
            record = await uow.sessions.find_refresh_token(hashed)
            if record is None or record.session_revoked_at is not None:
                raise Unauthenticated(INVALID_REFRESH, reason="INVALID_REFRESH_TOKEN")
            if record.used_at is not None or not await uow.sessions.mark_used(hashed, now):
                # A rotated token came back: whoever holds it is not the session's owner,
                # or the owner was robbed. Either way the whole session dies, now.
                await uow.sessions.revoke(record.session_id, now, REFRESH_REUSE)
                await uow.commit()
                raise Unauthenticated(INVALID_REFRESH, reason="REFRESH_TOKEN_REUSED")
            if record.expires_at <= now:
                raise Unauthenticated(INVALID_REFRESH, reason="INVALID_REFRESH_TOKEN")
            user = await uow.users.get(record.user_id)
            if user is None or not user.is_active:
                await uow.sessions.revoke(record.session_id, now, "account not active")
                await uow.commit()
                raise Unauthenticated(INVALID_REFRESH, reason="ACCOUNT_NOT_ACTIVE")
            await uow.sessions.touch(record.session_id, now)
            new_refresh = await self._new_refresh_token(uow, record.session_id, user.id, now)
            await uow.commit()
        return await self._tokens(user, record.session_id, new_refresh)

    async def logout(self, principal: Principal) -> None:
        """Ends the session of the caller's access token."""
        if not principal.session_id:
            raise FailedPrecondition("this token belongs to no session")
        async with self._uow() as uow:
            await uow.sessions.revoke(principal.session_id, self._clock.now(), "logout")
            await uow.commit()

    async def logout_all(self, principal: Principal) -> int:
        """Ends every session of the caller; returns how many."""
        async with self._uow() as uow:
            count = await uow.sessions.revoke_all(
                principal.user_id, self._clock.now(), "logout everywhere"
            )
            await uow.commit()
        return count

    async def introspect(self, token: str) -> Introspection:
        """Whether a token verifies and its session and user are still active."""
        try:
            principal = await self._verifier.verify(
                token, allowed=frozenset({TokenType.ACCESS, TokenType.SERVICE})
            )
        except DomainError:
            return Introspection(False)
        if principal.is_service:
            return Introspection(True, principal)
        async with self._uow(write=False) as uow:
            user = await uow.users.get(principal.user_id)
            session_ok = bool(principal.session_id) and await uow.sessions.is_active(
                principal.session_id or ""
            )
        if user is None or not user.is_active or not session_ok:
            return Introspection(False)
        return Introspection(True, principal)

    async def issue_service_token(self, client_id: str, client_secret: str) -> tuple[str, int]:
        """A short-lived service token for a service that proves its secret."""
        expected = self._settings.service_credentials.get(client_id, "")
        # Compare even when the client is unknown, so timing tells nothing.
        matches = hmac.compare_digest(expected.encode(), client_secret.encode())
        if not expected or not matches:
            raise Unauthenticated("unknown service or wrong secret", reason="INVALID_CLIENT")
        ttl = timedelta(minutes=self._settings.service_token_ttl_minutes)
        token, _ = self._issuer.issue(
            await self._keyring.signing_key(),
            subject=f"service:{client_id}",
            token_type=TokenType.SERVICE,
            ttl=ttl,
        )
        return token, int(ttl.total_seconds())

    # Operators ---------------------------------------------------------------------------

    async def create_admin(self, email: str, password: str, full_name: str) -> User:
        """Creates an admin (CLI and start-up bootstrap); their email counts as verified."""
        normalized = normalize_email(email)
        domain.check_password(password, email=normalized)
        name = domain.check_full_name(full_name)
        password_hash = await self._passwords.hash(password)
        async with self._uow() as uow:
            if await uow.users.email_taken(normalized):
                raise email_taken()
            now = self._clock.now()
            user = User(
                id=new_id(),
                email=normalized,
                full_name=name,
                password_hash=password_hash,
                status=UserStatus.ACTIVE,
                roles={Role.CLIENT.value, Role.STAFF.value, Role.ADMIN.value},
                created_at=now,
                updated_at=now,
                email_verified_at=now,
            )
            await uow.users.add(user)
            await uow.commit()
        return user

    @staticmethod
    async def grant_role(uow: IdentityUnitOfWork, user_id: str, role: Role) -> bool:
        """Adds a role inside the caller's unit of work; False if there is nobody to grant it."""
        user = await uow.users.get(user_id) if is_uuid(user_id) else None
        if user is None or user.status is UserStatus.DELETED:
            return False
        if role.value not in user.roles:
            await uow.users.set_roles(user.id, user.roles | {role.value})
            await uow.users.update(user, uow.clock.now())
        return True

    async def purge_expired_tokens(self) -> int:
        """Deletes expired refresh and one-time tokens (a periodic job)."""
        async with self._uow() as uow:
            now = self._clock.now()
            count = await uow.sessions.purge_expired(now)
            count += await uow.one_time_tokens.purge_expired(now)
            await uow.commit()
        return count

    # Internals ---------------------------------------------------------------------------

    async def _load(self, user_id: str, *, for_staff: bool = False) -> User:
        if not is_uuid(user_id):
            raise NotFound("no such user")
        async with self._uow(write=False) as uow:
            user = await uow.users.get(user_id)
        if user is None or (user.status is UserStatus.DELETED and not for_staff):
            raise NotFound("no such user")
        return user

    async def _tokens(self, user: User, session_id: str, refresh_token: str) -> IssuedTokens:
        ttl = timedelta(minutes=self._settings.access_token_ttl_minutes)
        access, _ = self._issuer.issue(
            await self._keyring.signing_key(),
            subject=user.id,
            token_type=TokenType.ACCESS,
            ttl=ttl,
            roles=user.roles,
            session_id=session_id,
        )
        return IssuedTokens(
            access_token=access,
            refresh_token=refresh_token,
            expires_in=int(ttl.total_seconds()),
            refresh_expires_in=self._settings.refresh_token_ttl_days * 86400,
        )

    async def _new_refresh_token(
        self, uow: IdentityUnitOfWork, session_id: str, user_id: str, now: datetime
    ) -> str:
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(days=self._settings.refresh_token_ttl_days)
        await uow.sessions.add_refresh_token(token_hash(token), session_id, user_id, now, expires)
        return token

    async def _one_time_token(
        self, uow: IdentityUnitOfWork, user: User, purpose: TokenPurpose, ttl: timedelta
    ) -> tuple[str, datetime]:
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        await uow.one_time_tokens.add(token_hash(token), user.id, purpose, now, now + ttl)
        return token, now + ttl

    async def _spend(self, uow: IdentityUnitOfWork, token: str, purpose: TokenPurpose) -> Any:
        if not token or len(token) > 200:
            raise InvalidArgument.field("token", INVALID_ONE_TIME_TOKEN, "invalid_token")
        record = await uow.one_time_tokens.find(token_hash(token), purpose)
        now = self._clock.now()
        if (
            record is None
            or record.used_at is not None
            or record.expires_at <= now
            or not await uow.one_time_tokens.use(record.token_hash, now)
        ):
            raise InvalidArgument.field("token", INVALID_ONE_TIME_TOKEN, "invalid_token")
        return record

    @staticmethod
    def _staff_target(principal: Principal, name: str, reason: str) -> str:
        """The user a staff action names, refused if it is the staff member themselves."""
        user_id = domain.user_id_from_name(name, principal.user_id)
        refuse_own_account(principal, user_id)
        if len(reason) > 500:
            raise InvalidArgument.field("reason", "must be at most 500 characters", "too_long")
        if not is_uuid(user_id):
            raise NotFound("no such user")
        return user_id

    @staticmethod
    async def _staff_target_user(
        uow: IdentityUnitOfWork, principal: Principal, user_id: str
    ) -> User:
        user = await uow.users.get(user_id)
        if user is None or user.status is UserStatus.DELETED:
            raise NotFound("no such user")
        if user.is_staff and not principal.is_admin:
            raise PermissionDenied("only an admin can act on staff accounts")
        return user

    @staticmethod
    async def _keep_an_admin(uow: IdentityUnitOfWork, user: User) -> None:
        """Refuses a change that would leave no active admin (suspending, demoting or
        deleting the last one). Such changes run one at a time, so two admins cannot each
        remove the other."""
        if not (user.is_admin and user.is_active):
            return
        await uow.serialize("identity.active-admins")
        if await uow.users.count_active_admins() <= 1:
            raise FailedPrecondition(
                "this is the last active admin; make another admin first", reason="LAST_ADMIN"
            )

    async def _change_status(
        self,
        principal: Principal,
        name: str,
        reason: str,
        request_id: str,
        expected: UserStatus,
        new: UserStatus,
    ) -> User:
        action = "user.suspend" if new is UserStatus.SUSPENDED else "user.reactivate"
        user_id = self._staff_target(principal, name, reason)
        idempotent = IdempotentRequest.of(action, principal, request_id, user_id, reason)
        async with self._uow() as uow:
            now = self._clock.now()
            earlier = await idempotent.earlier_result(uow.connection, now)
            if earlier is not None:
                return await self._staff_target_user(uow, principal, earlier)
            user = await self._staff_target_user(uow, principal, user_id)
            USER_STATUS.check(user.status.value, expected.value)
            if new is UserStatus.SUSPENDED:
                await self._keep_an_admin(uow, user)
            before = _audit_view(user)
            await uow.users.change_status(user, (expected,), new, now)
            if new is UserStatus.SUSPENDED:
                await uow.sessions.revoke_all(user.id, now, "suspended")
                uow.emit(
                    USER_SUSPENDED,
                    events_pb2.UserSuspended(user_id=user.id, suspend_time=_timestamp(now)),
                    subject=f"users/{user.id}",
                )
            else:
                uow.emit(
                    USER_REACTIVATED,
                    events_pb2.UserReactivated(user_id=user.id, reactivate_time=_timestamp(now)),
                    subject=f"users/{user.id}",
                )
            await change_account_status(uow, user.id, AccountStatus(new.value), now)
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    action,
                    f"users/{user.id}",
                    user.id,
                    before,
                    _audit_view(user),
                    reason,
                )
            )
            await idempotent.remember(uow.connection, user.id)
            await uow.commit()
        return user


def _audit_view(user: User) -> dict[str, Any]:
    return {"status": user.status.value, "roles": sorted(user.roles)}
