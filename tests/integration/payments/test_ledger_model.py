"""The database's ledger against the pure model (hypothesis): random sequences of movements,
some unbalanced, some overdrawing, some repeating a cause, are accepted or refused by the
repository exactly as by the model, leave the same balances, and never break an invariant
that `estuary ledger check` checks. On SQLite, so each example takes milliseconds; the
concurrency is held by test_races.py on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from chassis.ids import new_id
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Book,
    Overdrawn,
    Posting,
    Transaction,
    TransactionKind,
    UnbalancedTransaction,
)
from tests.integration.payments.world import World, world

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OWNERS = ["client", "practitioner", PLATFORM, EXTERNAL]
KINDS = list(AccountKind)


@st.composite
def movements(draw: st.DrawFn) -> list[tuple[str, AccountKind, int]]:
    """Legs (owner, kind, amount) of one EUR movement, balanced four times in five."""
    legs = draw(
        st.lists(
            st.tuples(st.sampled_from(OWNERS), st.sampled_from(KINDS)),
            min_size=2,
            max_size=3,
            unique=True,
        )
    )
    amounts = [draw(st.integers(-3000, 3000).filter(bool)) for _ in legs[1:]]
    skew = draw(st.sampled_from([0, 0, 0, 0, 5]))
    last = -sum(amounts) + skew
    return [
        (owner, kind, amount)
        for (owner, kind), amount in zip(legs, [last, *amounts], strict=True)
        if amount
    ]


SEQUENCES = st.lists(
    st.tuples(movements(), st.sampled_from(["a", "b", "c", "d", "e", "f"])),
    min_size=1,
    max_size=12,
)


async def replay(w: World, sequence: list[tuple[list[tuple[str, AccountKind, int]], str]]) -> None:
    """Applies a sequence to the model and to the database, comparing each outcome."""
    # Fresh owners each example, so examples share the database but no account.
    people = {owner: new_id() for owner in OWNERS}
    book = Book()
    for legs, cause in sequence:
        postings = tuple(
            Posting(Account(people[owner], kind, "EUR"), amount) for owner, kind, amount in legs
        )
        candidate = Transaction(
            new_id(), TransactionKind.ADJUSTMENT, f"{people['client']}/{cause}", postings, NOW
        )
        expected: object
        try:
            expected = book.apply(candidate)
        except (UnbalancedTransaction, Overdrawn) as refused:
            expected = type(refused)
        async with w.uow() as uow:
            try:
                found: object = await uow.ledger.post(candidate)
                await uow.commit()
            except (UnbalancedTransaction, Overdrawn) as refused:
                found = type(refused)
        assert found == expected, (legs, cause)
    async with w.uow(write=False) as uow:
        for owner in people.values():
            held = await uow.ledger.balances_of(owner)
            modelled = {a: v for a, v in book.balances.items() if a.owner == owner}
            assert {a: v for a, v in held.items() if v or a in modelled} == modelled
        assert await uow.audit.violations() == []


def test_the_database_ledger_does_what_the_model_does(tmp_path):
    # One database and one loop for every example: building payments per example would
    # cost seconds each.
    loop = asyncio.new_event_loop()
    opened = world(f"sqlite+aiosqlite:///{tmp_path}/ledger.db")
    w = loop.run_until_complete(opened.__aenter__())

    @settings(max_examples=40, deadline=None)
    @given(SEQUENCES)
    def replays_like_the_model(sequence):
        loop.run_until_complete(replay(w, sequence))

    try:
        replays_like_the_model()
    finally:
        loop.run_until_complete(opened.__aexit__(None, None, None))
        loop.close()
