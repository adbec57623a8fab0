"""The unit of work's answers to broken constraints and its advisory locks, without a
database: what a client is told, and which lock two transactions share."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from chassis.audit import StaffAction
from chassis.clock import FrozenClock
from chassis.context import request_id_var
from chassis.db import ConstraintViolation
from chassis.errors import AlreadyExists, FailedPrecondition, FieldViolation
from chassis.uow import UnitOfWork, conflict_for
from tests.builders import STAFF


def test_a_broken_unique_key_is_taken_naming_its_last_column():
    answer = conflict_for(ConstraintViolation("unique", "services", ("practitioner_id", "slug")))
    assert isinstance(answer, AlreadyExists)
    assert (str(answer), answer.reason) == ("slug is already taken", "ALREADY_EXISTS")
    assert answer.violations == (FieldViolation("slug", "is already taken", "taken"),)


def test_a_broken_unique_key_without_columns_names_no_field():
    answer = conflict_for(ConstraintViolation("unique", "services", ()))
    assert isinstance(answer, AlreadyExists)
    assert (str(answer), answer.reason) == ("the resource is already taken", "ALREADY_EXISTS")
    assert answer.violations == ()


def test_a_broken_foreign_key_is_a_reference_conflict():
    answer = conflict_for(ConstraintViolation("foreign_key", "services", ("category_id",)))
    assert isinstance(answer, FailedPrecondition)
    assert answer.reason == "REFERENCE_CONFLICT"
    assert str(answer) == (
        "what this refers to changed meanwhile (it is gone, or something now depends on it)"
    )
    assert answer.violations == ()


class Recording:
    """A connection that records what it is asked to run."""

    def __init__(self) -> None:
        self.statements: list[Any] = []

    async def execute(self, statement: Any) -> None:
        self.statements.append(statement)


def unit_of_work(dialect: str) -> tuple[UnitOfWork, Recording]:
    uow = UnitOfWork(
        SimpleNamespace(dialect=dialect),  # type: ignore[arg-type]
        source="/estuary/tests",
        clock=FrozenClock(),
    )
    uow.connection = Recording()  # type: ignore[assignment]
    return uow, uow.connection  # type: ignore[return-value]


async def lock_key(name: str) -> int:
    uow, connection = unit_of_work("postgresql")
    await uow.serialize(name)
    [statement] = connection.statements
    compiled = statement.compile()
    assert "pg_advisory_xact_lock" in str(compiled)
    [key] = compiled.params.values()
    return key


async def test_transactions_serialize_on_one_bigint_advisory_lock_per_name():
    names = [f"rule-{n}" for n in range(16)]
    keys = [await lock_key(name) for name in names]
    assert keys == [await lock_key(name) for name in names]  # every process derives the same
    assert len(set(keys)) == len(names)
    assert all(-(2**63) <= key < 2**63 for key in keys)  # PostgreSQL's bigint


async def test_sqlite_needs_no_lock_its_writer_holds_the_database():
    uow, connection = unit_of_work("sqlite")
    await uow.serialize("one-admin")
    assert connection.statements == []


def test_a_unit_of_work_that_maps_no_events_says_what_it_cannot_publish():
    uow, _ = unit_of_work("sqlite")
    with pytest.raises(NotImplementedError, match="UnitOfWork does not publish 'surprise'"):
        uow.record("surprise")


def test_a_staff_action_is_filed_as_this_services_with_the_requests_id():
    uow, _ = unit_of_work("sqlite")
    action = StaffAction(STAFF, "user.suspend", "users/u1", "u1", {"a": 1}, {"a": 2}, "spam")
    token = request_id_var.set("req-42")
    try:
        message = uow.staff_action_message(action)
    finally:
        request_id_var.reset(token)
    assert (message.service, message.request_id, message.action) == (
        "tests",
        "req-42",
        "user.suspend",
    )
    assert uow.staff_action_message(action).request_id == ""  # outside any request
