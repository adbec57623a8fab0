"""Guarded state changes: a row leaves a state only if it is still in it.

A handler reads a row, decides, and writes. Two requests that read the same state at once
would both decide to move it (approve and reject of one application, two suspensions), and
on PostgreSQL both writes would land. A guarded change writes with the state it expects in
the WHERE clause: PostgreSQL re-checks that condition on the newest version of the row once
a concurrent writer commits, so of many conflicting changes exactly one updates a row and
the others update none. Those are told the state the row is in now (409 at the edge), and
their transaction, with the event it was about to emit, rolls back.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.errors import FailedPrecondition, NotFound


class WrongState(FailedPrecondition):
    """The row is not in a state this change may start from; names the state it is in."""

    def __init__(
        self, noun: str, current: str, expected: Collection[str], *, reason: str = "WRONG_STATE"
    ) -> None:
        wanted = " or ".join(sorted(expected))
        super().__init__(
            f"the {noun} is {current}, not {wanted}",
            reason=reason,
            metadata={"current_state": current, "expected_state": wanted},
        )
        self.current = current


@dataclass(frozen=True)
class Lifecycle:
    """The state column of one table, and the only way its rows change state."""

    table: sa.Table
    noun: str
    column: str = "status"
    key: str = "id"
    reason: str = "WRONG_STATE"

    async def move(
        self,
        connection: AsyncConnection,
        row_id: str,
        *,
        expected: str | Collection[str],
        values: Mapping[str, Any],
        reason: str | None = None,
    ) -> None:
        """Writes values to the row if its state is one expected; else WrongState/NotFound."""
        allowed = [expected] if isinstance(expected, str) else list(expected)
        key = self.table.c[self.key]
        state = self.table.c[self.column]
        changed = await connection.execute(
            self.table.update()
            .where(key == row_id, state.in_(allowed))
            .values(**values)
            .returning(key)
        )
        if changed.first() is not None:
            return
        current = (await connection.execute(sa.select(state).where(key == row_id))).scalar()
        if current is None:
            raise NotFound(f"no such {self.noun}")
        raise WrongState(self.noun, str(current), allowed, reason=reason or self.reason)

    def check(
        self, current: str, expected: str | Collection[str], *, reason: str | None = None
    ) -> None:
        """Refuses early, from a row already read, what move() would refuse."""
        allowed = [expected] if isinstance(expected, str) else list(expected)
        if current not in allowed:
            raise WrongState(self.noun, current, allowed, reason=reason or self.reason)
