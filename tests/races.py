"""Races: many conflicting requests started at once, and what must come of them.

SQLite has one writer and so hides races; these are meant for PostgreSQL, where every state
change, uniqueness rule and money movement must let exactly one of N conflicting requests
win. Each attempt waits at a gate until all have started, so they overlap in the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chassis.errors import AlreadyExists, DomainError, FailedPrecondition

CONFLICTS: tuple[type[DomainError], ...] = (FailedPrecondition, AlreadyExists)


@dataclass(frozen=True)
class RaceOutcome:
    """What each attempt of a race came to: a result or an error, in the attempts' order."""

    outcomes: list[Any]

    @property
    def wins(self) -> list[Any]:
        return [o for o in self.outcomes if not isinstance(o, BaseException)]

    @property
    def losses(self) -> list[BaseException]:
        return [o for o in self.outcomes if isinstance(o, BaseException)]

    def one_winner(self, losers: tuple[type[BaseException], ...] = CONFLICTS) -> Any:
        """The one attempt that won; fails unless every other lost with a conflict."""
        unexpected = [e for e in self.losses if not isinstance(e, losers)]
        if unexpected:
            raise AssertionError(f"attempts failed unexpectedly: {unexpected!r}") from unexpected[0]
        assert len(self.wins) == 1, f"{len(self.wins)} of {len(self.outcomes)} attempts won"
        return self.wins[0]


async def race(attempts: Sequence[Callable[[], Awaitable[Any]]]) -> RaceOutcome:
    """Starts every attempt at once and waits for all of them."""
    gate = asyncio.Event()

    async def run(attempt: Callable[[], Awaitable[Any]]) -> Any:
        await gate.wait()
        return await attempt()

    tasks = [asyncio.create_task(run(attempt)) for attempt in attempts]
    await asyncio.sleep(0)
    gate.set()
    return RaceOutcome(list(await asyncio.gather(*tasks, return_exceptions=True)))
