"""Accounts: registration, email verification, passwords, the profile, erasure, and the
admins operators make. Each use case is one unit of work; the rules are the domain's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chassis.accounts import change_account_status
from chassis.auth.principal import AccountStatus, Principal
from chassis.clock import Clock
from chassis.emails import email_key, normalize_email
from chassis.errors import InvalidArgument
from chassis.idempotency import IdempotentRequest, fingerprint
from chassis.ids import is_uuid, new_id
from services.identity.domain.credentials import (
    OneTimeToken,
    TokenPurpose,
    check_new_password,
    check_one_time_token_shape,
    check_password,
    invalid_one_time_token,
    token_hash,
)
from services.identity.domain.profile import check_full_name, profile_changes
from services.identity.domain.users import (
    PERSONAL_FIELDS,
    User,
    batch_ids,
    new_account,
    no_such_user,
    own_user_id,
    readable_user_id,
)
from services.identity.passwords import Passwords
from services.identity.settings import IdentitySettings
from services.identity.uow import IdentityUnitOfWork, email_taken


async def existing_user(uow: IdentityUnitOfWork, user_id: str) -> User:
    """The account, or NotFound if there is none or it was erased."""
    user = await uow.users.get(user_id)
    if user is None:
        raise no_such_user()
    user.check_exists()
    return user


async def keep_an_admin(uow: IdentityUnitOfWork, user: User) -> None:
    """Before suspending, demoting or erasing an active admin: refuses if they are the last.
    Such changes run one at a time, so two admins cannot each remove the other."""
    if user.counts_as_admin:
        await uow.serialize("identity.active-admins")
        user.check_an_admin_remains(await uow.users.count_active_admins())


class AccountHandlers:
    """What a person does with their own account, and what operators create."""

    def __init__(
        self,
        *,
        unit_of_work: Callable[..., IdentityUnitOfWork],
        settings: IdentitySettings,
        clock: Clock,
        passwords: Passwords,
    ) -> None:
        self._uow = unit_of_work
        self._clock = clock
        self._passwords = passwords
        self._verification_ttl = timedelta(hours=settings.email_verification_ttl_hours)
        self._reset_ttl = timedelta(minutes=settings.password_reset_ttl_minutes)

    # Registration and email ----------------------------------------------------------------

    async def register(
        self, *, email: str, password: str, full_name: str, request_id: str = ""
    ) -> User:
        """Creates a client account and emits user.registered with a verification token."""
        normalized, name = new_account(email, password, full_name)
        # Registration is anonymous: a caller is known by the address they register, and a
        # retry proves it is the same caller by knowing the password.
        idempotent = IdempotentRequest(
            "RegisterUser",
            f"anonymous:{email_key(normalized)}",
            request_id,
            fingerprint(email_key(normalized), name),
        )
        password_hash = await self._passwords.hash(password)
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
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
            user = User.register(
                id=new_id(), email=normalized, full_name=name, password_hash=password_hash, now=now
            )
            secret, verification = OneTimeToken.issue(
                user.id, TokenPurpose.EMAIL_VERIFICATION, now, self._verification_ttl
            )
            await uow.users.add(user)
            await uow.one_time_tokens.add(verification)
            uow.record(user.registered(secret, verification))
            await uow.remember(idempotent, user.id)
            await uow.commit()
        return user

    async def verify_email(self, token: str) -> User:
        """Spends a verification token and marks the email verified."""
        async with self._uow() as uow:
            now = self._clock.now()
            spent = await _spend(uow, token, TokenPurpose.EMAIL_VERIFICATION, now)
            user = await uow.users.get(spent.user_id)
            if user is None:
                raise invalid_one_time_token()
            verified = user.verify_email(now)
            if verified is not None:
                await uow.users.save(user, "email_verified_at")
                uow.record(verified)
            await uow.commit()
        return user

    # Passwords ---------------------------------------------------------------------------

    async def request_password_reset(self, email: str) -> None:
        """Emits user.password_reset_requested for an active account; silent otherwise, so
        the answer never tells whether (or in what state) an account exists."""
        try:
            normalized = normalize_email(email)
        except InvalidArgument:
            return
        async with self._uow() as uow:
            user = await uow.users.get_by_email(normalized)
            if user is None or not user.may_reset_password:
                return
            now = self._clock.now()
            # Only the newest reset token works.
            await uow.one_time_tokens.spend_all(user.id, TokenPurpose.PASSWORD_RESET, now)
            secret, reset = OneTimeToken.issue(
                user.id, TokenPurpose.PASSWORD_RESET, now, self._reset_ttl
            )
            await uow.one_time_tokens.add(reset)
            uow.record(user.password_reset_requested(secret, reset))
            await uow.commit()

    async def confirm_password_reset(self, token: str, new_password: str) -> None:
        """Sets a new password with a reset token; every session ends."""
        check_one_time_token_shape(token)
        async with self._uow(write=False) as uow:
            record = await uow.one_time_tokens.find(token_hash(token), TokenPurpose.PASSWORD_RESET)
            user = await uow.users.get(record.user_id) if record else None
        if user is None:
            raise invalid_one_time_token()
        check_password(new_password, email=user.email, field_name="new_password")
        new_hash = await self._passwords.hash(new_password)
        async with self._uow() as uow:
            now = self._clock.now()
            await _spend(uow, token, TokenPurpose.PASSWORD_RESET, now)
            user.change_password(new_hash, now)
            await uow.users.save(user, "password_hash")
            await uow.sessions.revoke_all(user.id, now, "password reset")
            await uow.commit()

    async def change_password(
        self, principal: Principal, current_password: str, new_password: str
    ) -> None:
        """Changes the caller's password; sessions other than this one end."""
        user = await self._load(principal.user_id)
        if not await self._passwords.verify(user.password_hash, current_password):
            raise InvalidArgument.field("current_password", "is incorrect", "incorrect_password")
        check_new_password(new_password, current_password, email=user.email)
        new_hash = await self._passwords.hash(new_password)
        async with self._uow() as uow:
            now = self._clock.now()
            user.change_password(new_hash, now)
            await uow.users.save(user, "password_hash")
            await uow.sessions.revoke_all(
                user.id, now, "password changed", keep=principal.session_id
            )
            await uow.commit()

    # Profile -----------------------------------------------------------------------------

    async def get_user(self, principal: Principal, name: str) -> User:
        """A user the caller may read: themselves, or anyone (erased ones too) for staff."""
        user_id = readable_user_id(principal, name)
        return await self._load(user_id, for_staff=principal.is_staff)

    async def update_user(
        self, principal: Principal, name: str, paths: list[str], values: dict[str, Any]
    ) -> User:
        """Changes the caller's own profile fields; refuses protected ones."""
        user_id = own_user_id(
            principal, name, "you can change only your own profile", field_name="user.name"
        )
        changes = profile_changes(paths, values)
        async with self._uow() as uow:
            user = await existing_user(uow, user_id)
            user.update_profile(changes, self._clock.now())
            await uow.users.save(user, *changes)
            await uow.commit()
        return user

    async def delete_user(self, principal: Principal, name: str) -> None:
        """Erases the caller's personal data, ends every session, emits user.deleted."""
        user_id = own_user_id(principal, name, "you can delete only your own account")
        async with self._uow() as uow:
            user = await existing_user(uow, user_id)
            await keep_an_admin(uow, user)
            now = self._clock.now()
            seen = user.status
            deleted = user.erase(now)
            await uow.users.save_status(user, seen, *PERSONAL_FIELDS)
            await uow.users.save_roles(user)
            await uow.one_time_tokens.delete_for_user(user.id)
            await uow.sessions.revoke_all(user.id, now, "account deleted")
            # Events not yet published would carry the person's data past the erasure.
            await uow.forget_subject(f"users/{user.id}")
            await change_account_status(uow, user.id, AccountStatus.DELETED, now)
            uow.record(deleted)
            await uow.commit()

    async def batch_get(self, names: list[str]) -> list[User]:
        """Users by name or id, in the order asked; unknown ones left out."""
        ids = batch_ids(names)
        async with self._uow(write=False) as uow:
            found = {u.id: u for u in await uow.users.get_many(list(dict.fromkeys(ids)))}
        return [found[i] for i in ids if i in found]

    # Operators ---------------------------------------------------------------------------

    async def create_admin(self, email: str, password: str, full_name: str) -> User:
        """Creates an admin (CLI and start-up bootstrap); their email counts as verified."""
        normalized = normalize_email(email)
        check_password(password, email=normalized)
        name = check_full_name(full_name)
        password_hash = await self._passwords.hash(password)
        async with self._uow() as uow:
            if await uow.users.email_taken(normalized):
                raise email_taken()
            user = User.admin(
                id=new_id(),
                email=normalized,
                full_name=name,
                password_hash=password_hash,
                now=self._clock.now(),
            )
            await uow.users.add(user)
            await uow.commit()
        return user

    async def _load(self, user_id: str, *, for_staff: bool = False) -> User:
        if not is_uuid(user_id):
            raise no_such_user()
        async with self._uow(write=False) as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise no_such_user()
        if not for_staff:
            user.check_exists()
        return user


async def _spend(
    uow: IdentityUnitOfWork, token: str, purpose: TokenPurpose, now: datetime
) -> OneTimeToken:
    """Spends a one-time token once: a concurrent second use finds it spent."""
    check_one_time_token_shape(token)
    record = await uow.one_time_tokens.find(token_hash(token), purpose)
    if record is None:
        raise invalid_one_time_token()
    record.check_spendable(now)
    if not await uow.one_time_tokens.use(record.token_hash, now):
        raise invalid_one_time_token()
    return record
