"""Sessions: signing in, rotating refresh tokens, signing out, what a token still stands for,
service tokens, and the purge of expired tokens."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chassis.auth.principal import Principal, TokenType
from chassis.auth.tokens import TokenIssuer, TokenVerifier
from chassis.clock import Clock
from chassis.emails import normalize_email
from chassis.errors import DomainError, FailedPrecondition, InvalidArgument, Unauthenticated
from services.identity.domain.credentials import (
    RefreshToken,
    RefreshTokenReused,
    invalid_credentials,
    invalid_refresh,
    token_hash,
)
from services.identity.domain.users import User
from services.identity.keys import SigningKeyring
from services.identity.passwords import Passwords
from services.identity.settings import IdentitySettings
from services.identity.uow import IdentityUnitOfWork

REFRESH_REUSE = "refresh token reuse"


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


class SessionHandlers:
    """Login sessions and the tokens that carry them."""

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
        self._access_ttl = timedelta(minutes=settings.access_token_ttl_minutes)
        self._refresh_ttl = timedelta(days=settings.refresh_token_ttl_days)

    async def login(self, email: str, password: str, user_agent: str = "") -> IssuedTokens:
        """A new session for the right email and password; one answer for every wrong one."""
        try:
            normalized = normalize_email(email)
        except InvalidArgument:
            normalized = ""
        async with self._uow(write=False) as uow:
            user = await uow.users.get_by_email(normalized) if normalized else None
        if user is None or user.is_erased:
            await self._passwords.burn_time(password)
            raise invalid_credentials()
        if not await self._passwords.verify(user.password_hash, password):
            raise invalid_credentials()
        user.check_may_sign_in()
        # Hashes made with older argon2 parameters are upgraded while the password is known.
        upgraded = (
            await self._passwords.hash(password)
            if self._passwords.needs_rehash(user.password_hash)
            else None
        )
        async with self._uow() as uow:
            now = self._clock.now()
            if upgraded:
                user.change_password(upgraded, now)
                await uow.users.save(user, "password_hash")
            session_id = await uow.sessions.open(user.id, user_agent, now)
            refresh = await self._new_refresh_token(uow, session_id, user.id, now)
            await uow.commit()
        return await self._tokens(user, session_id, refresh)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """Rotates a refresh token; a reused one revokes its whole session."""
        async with self._uow() as uow:
            now = self._clock.now()
            token = await uow.sessions.find_refresh_token(token_hash(refresh_token))
            if token is None:
                raise invalid_refresh()
            try:
                token.check_rotatable(now)
                if not await uow.sessions.mark_used(token.token_hash, now):
                    raise RefreshTokenReused()  # a concurrent refresh rotated it first
            except RefreshTokenReused:
                await uow.sessions.revoke(token.session_id, now, REFRESH_REUSE)
                await uow.commit()
                raise
            user = await uow.users.get(token.user_id)
            if user is None or not user.is_active:
                await uow.sessions.revoke(token.session_id, now, "account not active")
                await uow.commit()
                raise invalid_refresh("ACCOUNT_NOT_ACTIVE")
            await uow.sessions.touch(token.session_id, now)
            new_refresh = await self._new_refresh_token(uow, token.session_id, user.id, now)
            await uow.commit()
        return await self._tokens(user, token.session_id, new_refresh)

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

    async def purge_expired_tokens(self) -> int:
        """Deletes expired refresh and one-time tokens (a periodic job); returns how many."""
        async with self._uow() as uow:
            now = self._clock.now()
            count = await uow.sessions.purge_expired(now)
            count += await uow.one_time_tokens.purge_expired(now)
            await uow.commit()
        return count

    async def _tokens(self, user: User, session_id: str, refresh_token: str) -> IssuedTokens:
        access, _ = self._issuer.issue(
            await self._keyring.signing_key(),
            subject=user.id,
            token_type=TokenType.ACCESS,
            ttl=self._access_ttl,
            roles=user.roles,
            session_id=session_id,
        )
        return IssuedTokens(
            access_token=access,
            refresh_token=refresh_token,
            expires_in=int(self._access_ttl.total_seconds()),
            refresh_expires_in=int(self._refresh_ttl.total_seconds()),
        )

    async def _new_refresh_token(
        self, uow: IdentityUnitOfWork, session_id: str, user_id: str, now: datetime
    ) -> str:
        secret, token = RefreshToken.issue(session_id, user_id, now, self._refresh_ttl)
        await uow.sessions.add_refresh_token(token)
        return secret
