"""Identity's signing keys: one active key signs; older keys still verify until retired.

Rotation adds a next key to the JWKS and promotes it to signing only after a lead time
longer than verifiers cache the key set, so no verifier meets a kid it has not fetched. The
old key then verifies until retired, so the tokens it signed stay valid until they expire.
An emergency rotation (a leaked key) promotes at once.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from sqlalchemy.exc import IntegrityError

from chassis.auth.tokens import SigningKey, public_jwk
from chassis.clock import Clock
from chassis.errors import FailedPrecondition, NotFound
from services.identity.domain.credentials import KeyStatus
from services.identity.repository import StoredKey
from services.identity.uow import IdentityUnitOfWork


class SigningKeyring:
    """Reads and changes identity's signing keys."""

    def __init__(
        self,
        unit_of_work: Callable[..., IdentityUnitOfWork],
        clock: Clock,
        *,
        publish_lead: timedelta = timedelta(minutes=10),
        reload_interval: float = 30.0,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._publish_lead = publish_lead
        self._reload_interval = reload_interval
        self._active: SigningKey | None = None
        self._loaded_at = float("-inf")
        # Concurrent callers share one reload instead of each opening a transaction.
        self._reloading = asyncio.Lock()

    def _new_key(self, status: KeyStatus = KeyStatus.ACTIVE) -> StoredKey:
        private = Ed25519PrivateKey.generate()
        now = self._clock.now()
        kid = f"{now:%Y%m%d}-{secrets.token_hex(4)}"
        pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
        return StoredKey(kid, pem, public_jwk(kid, private.public_key()), status, now)

    async def ensure_active(self) -> None:
        """Creates the first signing key if there is none; safe when replicas race."""
        async with self._unit_of_work() as uow:
            if any(k.status is KeyStatus.ACTIVE for k in await uow.signing_keys.all()):
                return
            await uow.signing_keys.add(self._new_key())
            try:
                await uow.commit()
            except IntegrityError:
                return  # another replica made it first: the unique index keeps one active key

    async def signing_key(self) -> SigningKey:
        """The key that signs new tokens (cached; reloaded to follow rotations)."""
        if not self._fresh():
            async with self._reloading:
                if not self._fresh():
                    await self._reload()
        assert self._active is not None
        return self._active

    def _fresh(self) -> bool:
        return (
            self._active is not None and time.monotonic() - self._loaded_at <= self._reload_interval
        )

    async def _reload(self) -> None:
        await self._promote_due_key()
        async with self._unit_of_work(write=False) as uow:
            keys = await uow.signing_keys.all()
        active = next((k for k in keys if k.status is KeyStatus.ACTIVE), None)
        if active is None:
            raise FailedPrecondition("identity has no active signing key")
        if self._active is None or self._active.kid != active.kid:
            private = load_pem_private_key(active.private_key_pem.encode(), password=None)
            assert isinstance(private, Ed25519PrivateKey)
            self._active = SigningKey(active.kid, private)
        self._loaded_at = time.monotonic()

    async def _promote_due_key(self) -> None:
        async with self._unit_of_work() as uow:
            due = self._clock.now() - self._publish_lead
            ready = [
                k
                for k in await uow.signing_keys.all()
                if k.status is KeyStatus.NEXT and k.created_at <= due
            ]
            if ready and await uow.signing_keys.promote(ready[-1].kid):
                await uow.commit()

    async def jwks(self) -> list[dict[str, str]]:
        """The public keys that verify tokens: the active key and the ones still trusted."""
        async with self._unit_of_work(write=False) as uow:
            keys = await uow.signing_keys.all()
        return [k.public_jwk for k in keys if k.status is not KeyStatus.RETIRED]

    async def rotate(self, *, immediately: bool = False) -> str:
        """Adds a new key; it signs after the publish lead, or at once when a key leaked.

        Returns the new kid. The key it replaces keeps verifying until retired.
        """
        async with self._unit_of_work() as uow:
            now = self._clock.now()
            for key in await uow.signing_keys.all():
                if key.status is KeyStatus.NEXT:
                    await uow.signing_keys.set_status(key.kid, KeyStatus.RETIRED, now)
            new_key = self._new_key(KeyStatus.NEXT)
            await uow.signing_keys.add(new_key)
            if immediately:
                await uow.signing_keys.promote(new_key.kid)
            await uow.commit()
        self._active = None
        return new_key.kid

    async def retire(self, kid: str) -> None:
        """Stops trusting a key. The active key cannot be retired: rotate first."""
        async with self._unit_of_work() as uow:
            keys = {k.kid: k for k in await uow.signing_keys.all()}
            if kid not in keys:
                raise NotFound(f"no signing key {kid}")
            if keys[kid].status is KeyStatus.ACTIVE:
                raise FailedPrecondition("the active key cannot be retired; rotate first")
            await uow.signing_keys.set_status(kid, KeyStatus.RETIRED, self._clock.now())
            await uow.commit()
