"""Password hashing with argon2id, off the event loop (argon2 releases the GIL)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hashes and verifies passwords; knows when a stored hash needs the current parameters."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # Verified against when the email is unknown, so both paths cost the same time.
        self._decoy = self._hasher.hash("estuary-decoy-password")
        # A few threads of its own: each thread's allocator keeps the memory argon2 used, so
        # hashing on the shared default pool would leave every pool thread holding it.
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")

    async def _run(self, work: Any, *args: str) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)

    async def hash(self, password: str) -> str:
        return str(await self._run(self._hasher.hash, password))

    async def verify(self, stored_hash: str, password: str) -> bool:
        return bool(await self._run(self._verify, stored_hash, password))

    async def burn_time(self, password: str) -> None:
        """Spends what a real verification would, for accounts that do not exist."""
        await self._run(self._verify, self._decoy, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
