"""Every query payments runs, on the unit of work's connection: the ledger, earnings,
practitioners' tiers and subscriptions, orders, payouts and the audit of the ledger's
invariants."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.clock import Clock
from chassis.db import UtcDateTime, insert_ignoring_conflicts
from chassis.driver_sql import Driver, DriverStatement
from chassis.ids import new_id
from chassis.lifecycle import Lifecycle
from chassis.money import Money
from services.payments.domain.credits import (
    CreditLot,
    CreditLotStatus,
    CreditPurchase,
    CreditPurchaseStatus,
    GiftCard,
    PromoCode,
    PurchaseKind,
)
from services.payments.domain.earnings import Earning, EarningStatus, Tier
from services.payments.domain.ledger import (
    Account,
    AccountKind,
    Overdrawn,
    Posting,
    Transaction,
    TransactionKind,
)
from services.payments.domain.orders import Order, OrderStatus, PayableBooking, PayableStatus
from services.payments.domain.payouts import IN_FLIGHT, Payout, PayoutAccount, PayoutStatus
from services.payments.domain.stream_orders import (
    StreamOrder,
    StreamOrderKind,
    StreamOrderStatus,
)
from services.payments.domain.stream_subscriptions import StreamSubscription
from services.payments.domain.subscriptions import LIVE, PlatformSubscription, SubscriptionStatus
from services.payments.tables import (
    credit_lots,
    credit_purchases,
    earnings,
    external_events,
    gift_cards,
    ledger_accounts,
    ledger_postings,
    ledger_transactions,
    orders,
    payable_bookings,
    payout_accounts,
    payouts,
    platform_subscriptions,
    practitioner_tiers,
    promo_codes,
    stream_orders,
    stream_subscriptions,
    tier_prices,
)

accounts_t, transactions_t, postings_t = ledger_accounts, ledger_transactions, ledger_postings
# What brings a client's payment into clearing: their card, their credits.
PAYMENT_KINDS = (TransactionKind.CHARGE.value, TransactionKind.CREDIT_SPEND.value)


# The statements every posting runs, built once (per dialect where the upsert differs):
# building a statement and its cache key for each call cost about as much as running it.
# A posting's three writes run on the driver (chassis/driver_sql.py): they are most of the
# ledger's statements, and SQLAlchemy's share of each cost more CPU than the round trip.
_CLAIM = DriverStatement(
    "INSERT INTO ledger_transactions (id, kind, cause, booking_id, description, created_at) "
    "VALUES (:id, :kind, :cause, :booking_id, :description, :created_at) "
    "ON CONFLICT (kind, cause) DO NOTHING RETURNING id"
)
_INSTANT = UtcDateTime()
# PostgreSQL re-checks the WHERE clause on the newest row version once a concurrent writer
# commits, so of many spends racing for one balance none overdraws it.
_MOVE_GUARDED = DriverStatement(
    "UPDATE ledger_accounts SET balance_minor = balance_minor + :delta "
    "WHERE id = :account_id AND balance_minor + :delta >= 0 RETURNING balance_minor"
)


@functools.cache
def _postings(count: int) -> DriverStatement:
    """A transaction's `count` postings in one INSERT (psycopg would run an executemany as
    `count` statements)."""
    rows = ", ".join(f"(:transaction_id, :account_{n}, :amount_{n})" for n in range(count))
    # Only placeholders are joined in, never a value.
    return DriverStatement(
        f"INSERT INTO ledger_postings (transaction_id, account_id, amount_minor) VALUES {rows}"  # noqa: S608
    )


@functools.cache
def _open_accounts(dialect: str) -> sa.Insert:
    return insert_ignoring_conflicts(dialect, accounts_t, ["owner", "kind", "currency"])


_HELD_ACCOUNTS = sa.select(
    accounts_t.c.id,
    accounts_t.c.owner,
    accounts_t.c.kind,
    accounts_t.c.currency,
    accounts_t.c.non_negative,
).where(
    sa.tuple_(accounts_t.c.owner, accounts_t.c.kind, accounts_t.c.currency).in_(
        sa.bindparam("keys", expanding=True)
    )
)
_MOVE_BACK = (
    accounts_t.update()
    .where(accounts_t.c.id == sa.bindparam("account_id"))
    .values(balance_minor=accounts_t.c.balance_minor - sa.bindparam("delta", type_=sa.BigInteger))
)
_CHARGED_FOR = (
    sa.select(transactions_t.c.id)
    .where(
        transactions_t.c.booking_id == sa.bindparam("booking_id"),
        transactions_t.c.kind.in_(PAYMENT_KINDS),
    )
    .limit(1)
)


@dataclass(frozen=True)
class HeldAccount:
    """An account's row: its id and whether its cached balance guards it."""

    id: str
    account: Account
    non_negative: bool


class KnownAccounts:
    """The ledger accounts' rows one process has seen committed, so that a posting reads its
    accounts once per process rather than once per posting: an account's row never changes
    once opened (its guarded balance lives in the row but is not kept here) and is never
    removed. Only rows of committed units of work are learnt, so a rolled-back opening is
    never taken for a row."""

    LIMIT = 100_000
    """Past this many (about 20 MB), it starts again empty: reading rows back is cheap."""

    def __init__(self) -> None:
        self._rows: dict[Account, HeldAccount] = {}

    def get(self, account: Account) -> HeldAccount | None:
        return self._rows.get(account)

    def learn(self, rows: Iterable[HeldAccount]) -> None:
        if len(self._rows) >= self.LIMIT:
            self._rows.clear()
        self._rows.update((row.account, row) for row in rows)


_KNOWN_ACCOUNTS: weakref.WeakKeyDictionary[object, KnownAccounts] = weakref.WeakKeyDictionary()


def known_accounts(database: object) -> KnownAccounts:
    """The accounts known to be in this database (one cache per database, as ids differ)."""
    return _KNOWN_ACCOUNTS.setdefault(database, KnownAccounts())


class Ledger:
    """The double-entry ledger in the database: transactions posted whole, once per cause."""

    def __init__(
        self,
        connection: AsyncConnection,
        clock: Clock,
        known: KnownAccounts | None = None,
        after_commit: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._c = connection
        self._driver = Driver(connection)
        self._dialect = connection.dialect.name
        self._clock = clock
        # Rows are learnt only through after_commit: without it the cache is only read.
        self._known = known
        self._after_commit = after_commit

    async def post(self, transaction: Transaction) -> bool:
        """Posts a balanced transaction in this unit of work: False (and nothing changed) if
        its kind and cause were already posted; Overdrawn (and nothing changed) if it would
        take an account that must not go negative below zero.

        No savepoint: its two statements were a fifth of a posting's round trips, for the
        rare refusal that undoes its own few rows instead (any other error leaves the unit of
        work to roll back, as PostgreSQL's aborted transaction commits nothing)."""
        transaction.check()
        claimed = await self._driver.execute(
            _CLAIM,
            {
                "id": transaction.id,
                "kind": transaction.kind.value,
                "cause": transaction.cause,
                "booking_id": transaction.booking_id or None,
                "description": transaction.description[:500],
                "created_at": self._driver.bind(_INSTANT, transaction.created_at),
            },
        )
        if not claimed:
            return False
        held = await self.accounts([p.account for p in transaction.postings])
        moved: list[tuple[HeldAccount, int]] = []
        # Sorted, so two transactions touching the same accounts lock them in one order.
        for posting in sorted(transaction.postings, key=lambda p: p.account):
            account = held[posting.account]
            if not account.non_negative:
                continue
            guarded = await self._driver.execute(
                _MOVE_GUARDED, {"account_id": account.id, "delta": posting.amount_minor}
            )
            if not guarded:
                balance = await self.balance(account.account)
                await self._undo_claim(transaction.id, moved)
                raise Overdrawn(account.account, balance, posting.amount_minor)
            moved.append((account, posting.amount_minor))
        postings: dict[str, Any] = {"transaction_id": transaction.id}
        for n, p in enumerate(transaction.postings):
            postings[f"account_{n}"] = held[p.account].id
            postings[f"amount_{n}"] = p.amount_minor
        await self._driver.execute(_postings(len(transaction.postings)), postings)
        return True

    async def _undo_claim(self, transaction_id: str, moved: list[tuple[HeldAccount, int]]) -> None:
        """Takes back a refused posting's claim and the guarded balances it already moved."""
        for account, delta in moved:
            await self._c.execute(_MOVE_BACK, {"account_id": account.id, "delta": delta})
        await self._c.execute(transactions_t.delete().where(transactions_t.c.id == transaction_id))

    async def accounts(self, wanted: Iterable[Account]) -> dict[Account, HeldAccount]:
        """The rows of these accounts, opened (balance zero) where they did not exist.

        Known ones first (KnownAccounts), then read: the accounts of a posting nearly always
        exist, so this is one statement at most; only missing ones are opened (a racing
        opener's row is read back the same way)."""
        unique = sorted(set(wanted))
        found: dict[Account, HeldAccount] = {}
        if self._known is not None:
            found = {a: row for a in unique if (row := self._known.get(a)) is not None}
            unique = [a for a in unique if a not in found]
            if not unique:
                return found
        read = await self._held(unique)
        missing = [a for a in unique if a not in read]
        if missing:
            now = self._clock.now()
            await self._c.execute(
                _open_accounts(self._dialect),
                [
                    {
                        "id": new_id(),
                        "owner": a.owner,
                        "kind": a.kind.value,
                        "currency": a.currency,
                        "non_negative": a.kind.non_negative,
                        "balance_minor": 0 if a.kind.non_negative else None,
                        "created_at": now,
                    }
                    for a in missing
                ],
            )
            read |= await self._held(missing)
        if self._known is not None and self._after_commit is not None:
            known, rows = self._known, list(read.values())
            self._after_commit(lambda: known.learn(rows))
        return found | read

    async def _held(self, accounts: Sequence[Account]) -> dict[Account, HeldAccount]:
        rows = await self._c.execute(
            _HELD_ACCOUNTS, {"keys": [(a.owner, a.kind.value, a.currency) for a in accounts]}
        )
        found = {}
        for row in rows:
            account = Account(row.owner, AccountKind(row.kind), row.currency)
            found[account] = HeldAccount(row.id, account, row.non_negative)
        return found

    async def balance(self, account: Account) -> int:
        """An account's balance: the sum of its postings (0 for one never used)."""
        return (await self.balances_of(account.owner)).get(account, 0)

    async def balances_of(self, owner: str) -> dict[Account, int]:
        """Every account of an owner with its balance, the sum of its postings."""
        rows = await self._c.execute(
            sa.select(
                accounts_t.c.kind,
                accounts_t.c.currency,
                sa.func.coalesce(sa.func.sum(postings_t.c.amount_minor), 0).label("balance"),
            )
            .select_from(accounts_t.outerjoin(postings_t))
            .where(accounts_t.c.owner == owner)
            .group_by(accounts_t.c.id, accounts_t.c.kind, accounts_t.c.currency)
        )
        return {
            Account(owner, AccountKind(row.kind), row.currency): int(row.balance) for row in rows
        }

    async def page_of_owner(
        self,
        owner: str,
        *,
        after: str | None,
        limit: int,
        all_postings: bool,
        kind: AccountKind | None = None,
    ) -> tuple[list[Transaction], int]:
        """The transactions touching an owner's accounts (of one kind, when named), newest
        first, with the postings on the owner's accounts (every posting when all_postings),
        and how many there are."""
        touching = (
            sa.select(postings_t.c.transaction_id)
            .join(accounts_t, accounts_t.c.id == postings_t.c.account_id)
            .where(accounts_t.c.owner == owner)
            .distinct()
        )
        if kind is not None:
            touching = touching.where(accounts_t.c.kind == kind.value)
        total = (
            await self._c.execute(sa.select(sa.func.count()).select_from(touching.subquery()))
        ).scalar_one()
        ids_query = touching.order_by(postings_t.c.transaction_id.desc()).limit(limit)
        if after is not None:
            ids_query = ids_query.where(postings_t.c.transaction_id < after)
        ids = list((await self._c.execute(ids_query)).scalars())
        found = await self.transactions(ids, owner=None if all_postings else owner)
        if kind is not None:
            found = [
                replace(t, postings=tuple(p for p in t.postings if p.account.kind is kind))
                for t in found
            ]
        return found, int(total)

    async def transactions(
        self, ids: Sequence[str], *, owner: str | None = None
    ) -> list[Transaction]:
        """Transactions by id, in the order given, with their postings (only the owner's
        when an owner is named)."""
        if not ids:
            return []
        query = (
            sa.select(
                transactions_t,
                accounts_t.c.owner,
                accounts_t.c.kind.label("account_kind"),
                accounts_t.c.currency,
                postings_t.c.amount_minor,
            )
            .join(postings_t, postings_t.c.transaction_id == transactions_t.c.id)
            .join(accounts_t, accounts_t.c.id == postings_t.c.account_id)
            .where(transactions_t.c.id.in_(ids))
            .order_by(accounts_t.c.owner, accounts_t.c.kind, accounts_t.c.currency)
        )
        if owner is not None:
            query = query.where(accounts_t.c.owner == owner)
        postings: dict[str, list[Posting]] = {}
        heads: dict[str, sa.Row] = {}
        for row in await self._c.execute(query):
            heads.setdefault(row.id, row)
            postings.setdefault(row.id, []).append(
                Posting(
                    Account(row.owner, AccountKind(row.account_kind), row.currency),
                    int(row.amount_minor),
                )
            )
        return [
            Transaction(
                id=i,
                kind=TransactionKind(heads[i].kind),
                cause=heads[i].cause,
                postings=tuple(postings[i]),
                created_at=heads[i].created_at,
                booking_id=heads[i].booking_id or "",
                description=heads[i].description,
            )
            for i in ids
            if i in heads
        ]

    async def find(self, kind: TransactionKind, cause: str) -> str | None:
        """The id of the transaction of a kind posted for a cause, if one was."""
        return (
            await self._c.execute(
                sa.select(transactions_t.c.id).where(
                    transactions_t.c.kind == kind.value, transactions_t.c.cause == cause
                )
            )
        ).scalar()

    async def charged_for(self, booking_id: str) -> bool:
        """Whether a payment for a booking (by card or by credits) is in the ledger."""
        found = await self._c.execute(_CHARGED_FOR, {"booking_id": booking_id})
        return found.first() is not None

    async def accounts_by_id(self, ids: Iterable[str]) -> dict[str, Account]:
        """The accounts with these ids (those that exist)."""
        rows = await self._c.execute(
            sa.select(
                accounts_t.c.id, accounts_t.c.owner, accounts_t.c.kind, accounts_t.c.currency
            ).where(accounts_t.c.id.in_(list(ids)))
        )
        return {row.id: Account(row.owner, AccountKind(row.kind), row.currency) for row in rows}

    async def page_of_accounts(
        self,
        *,
        owner: str | None,
        kind: AccountKind | None,
        currency: str | None,
        after: str | None,
        limit: int,
    ) -> tuple[list[AccountBalance], int]:
        """Accounts (of an owner, a kind, a currency, when named), newest first, with their
        balances, and how many match."""
        conditions = []
        if owner is not None:
            conditions.append(accounts_t.c.owner == owner)
        if kind is not None:
            conditions.append(accounts_t.c.kind == kind.value)
        if currency is not None:
            conditions.append(accounts_t.c.currency == currency)
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(accounts_t).where(*conditions)
            )
        ).scalar_one()
        if after is not None:
            conditions.append(accounts_t.c.id < after)
        balance = (
            sa.select(sa.func.coalesce(sa.func.sum(postings_t.c.amount_minor), 0))
            .where(postings_t.c.account_id == accounts_t.c.id)
            .scalar_subquery()
        )
        rows = await self._c.execute(
            sa.select(accounts_t, balance.label("balance"))
            .where(*conditions)
            .order_by(accounts_t.c.id.desc())
            .limit(limit)
        )
        return [
            AccountBalance(
                row.id,
                Account(row.owner, AccountKind(row.kind), row.currency),
                int(row.balance),
                row.non_negative,
                row.created_at,
            )
            for row in rows
        ], int(total)

    async def page_of_entries(
        self, account_id: str, *, after: str | None, limit: int
    ) -> tuple[list[Entry], int]:
        """An account's postings, newest first, each with the balance after it, and how
        many there are."""
        running = (
            sa.select(
                postings_t.c.transaction_id,
                postings_t.c.amount_minor,
                sa.func.sum(postings_t.c.amount_minor)
                .over(order_by=postings_t.c.transaction_id)
                .label("balance_after"),
            )
            .where(postings_t.c.account_id == account_id)
            .subquery()
        )
        total = (
            await self._c.execute(sa.select(sa.func.count()).select_from(running))
        ).scalar_one()
        query = (
            sa.select(
                running,
                transactions_t.c.kind,
                transactions_t.c.description,
                transactions_t.c.created_at,
            )
            .join(transactions_t, transactions_t.c.id == running.c.transaction_id)
            .order_by(running.c.transaction_id.desc())
            .limit(limit)
        )
        if after is not None:
            query = query.where(running.c.transaction_id < after)
        return [
            Entry(
                row.transaction_id,
                TransactionKind(row.kind),
                int(row.amount_minor),
                int(row.balance_after),
                row.description,
                row.created_at,
            )
            for row in await self._c.execute(query)
        ], int(total)

    async def refunds_of(self, booking_ids: Sequence[str]) -> list[Transaction]:
        """The refunds posted for these bookings, oldest first, with every posting."""
        ids = (
            await self._c.execute(
                sa.select(transactions_t.c.id)
                .where(
                    transactions_t.c.kind == TransactionKind.REFUND.value,
                    transactions_t.c.booking_id.in_(list(booking_ids)),
                )
                .order_by(transactions_t.c.id)
            )
        ).scalars()
        return await self.transactions(list(ids))


@dataclass(frozen=True)
class AccountBalance:
    """An account as staff read it: its row's id, its balance and whether it is guarded."""

    id: str
    account: Account
    balance_minor: int
    non_negative: bool
    created_at: datetime


@dataclass(frozen=True)
class Entry:
    """One posting on an account, with the transaction it belongs to and the balance after."""

    transaction_id: str
    kind: TransactionKind
    amount_minor: int
    balance_after_minor: int
    description: str
    created_at: datetime


EARNINGS = Lifecycle(earnings, "earning")
ORDERS = Lifecycle(orders, "order")
PAYOUTS = Lifecycle(payouts, "payout")
CREDIT_PURCHASES = Lifecycle(credit_purchases, "credit purchase")
STREAM_ORDERS = Lifecycle(stream_orders, "stream order")


class PayableBookings:
    """Paid bookings as booking's events describe them: their price and where they stand."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection
        self._dialect = connection.dialect.name

    async def add(self, booking: PayableBooking, now: datetime) -> None:
        """Records a booking awaiting payment (booking.created; a redelivery changes nothing)."""
        await self._c.execute(
            insert_ignoring_conflicts(self._dialect, payable_bookings, ["booking_id"]).values(
                booking_id=booking.booking_id,
                client_id=booking.client_id,
                currency=booking.price.currency,
                amount_minor=booking.price.amount_minor,
                status=booking.status.value,
                updated_at=now,
            )
        )

    async def settle(self, booking_id: str, status: PayableStatus, now: datetime) -> None:
        """A booking left pending payment (confirmed, cancelled, expired)."""
        await self._c.execute(
            payable_bookings.update()
            .where(payable_bookings.c.booking_id == booking_id)
            .values(status=status.value, updated_at=now)
        )

    async def get(self, booking_id: str) -> PayableBooking | None:
        row = (
            await self._c.execute(
                sa.select(payable_bookings).where(payable_bookings.c.booking_id == booking_id)
            )
        ).first()
        if row is None:
            return None
        return PayableBooking(
            row.booking_id,
            row.client_id,
            Money(row.amount_minor, row.currency),
            PayableStatus(row.status),
        )


class Orders:
    """Orders, one per booking, each with at most one payment intent."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection
        self._dialect = connection.dialect.name

    async def add(self, order: Order, now: datetime) -> bool:
        """Records an order; False (nothing changed) if its booking already has one."""
        added = await self._c.execute(
            insert_ignoring_conflicts(self._dialect, orders, ["booking_id"])
            .values(
                id=order.id,
                client_id=order.client_id,
                booking_id=order.booking_id,
                currency=order.amount.currency,
                amount_minor=order.amount.amount_minor,
                credit_minor=order.credit_minor,
                status=order.status.value,
                payment_intent_id=None,
                client_secret="",
                created_at=order.created_at,
                updated_at=now,
            )
            .returning(orders.c.id)
        )
        return added.first() is not None

    async def get(self, order_id: str) -> Order | None:
        return await self._one(orders.c.id == order_id)

    async def for_booking(self, booking_id: str) -> Order | None:
        return await self._one(orders.c.booking_id == booking_id)

    async def for_intent(self, intent_id: str) -> Order | None:
        return await self._one(orders.c.payment_intent_id == intent_id)

    async def _one(self, condition: sa.ColumnElement[bool]) -> Order | None:
        row = (await self._c.execute(sa.select(orders).where(condition))).first()
        return None if row is None else _order(row)

    async def attach_intent(self, order_id: str, intent_id: str, client_secret: str) -> None:
        """The order's payment intent (the same one for every retry: its idempotency key is
        the order's id)."""
        await self._c.execute(
            orders.update()
            .where(orders.c.id == order_id)
            .values(payment_intent_id=intent_id, client_secret=client_secret)
        )

    async def close(self, order_id: str, status: OrderStatus, now: datetime) -> None:
        """OPEN -> PAID or RELEASED; WrongState if another delivery closed it first."""
        await ORDERS.move(
            self._c,
            order_id,
            expected=OrderStatus.OPEN.value,
            values={"status": status.value, "updated_at": now},
        )

    async def page_of_client(
        self, client_id: str, *, after: str | None, limit: int
    ) -> tuple[list[Order], int]:
        """A client's orders, newest first, and how many they have."""
        mine = orders.c.client_id == client_id
        total = (
            await self._c.execute(sa.select(sa.func.count()).select_from(orders).where(mine))
        ).scalar_one()
        query = sa.select(orders).where(mine).order_by(orders.c.id.desc()).limit(limit)
        if after is not None:
            query = query.where(orders.c.id < after)
        return [_order(row) for row in await self._c.execute(query)], int(total)


def _order(row: sa.Row[Any]) -> Order:
    return Order(
        id=row.id,
        client_id=row.client_id,
        booking_id=row.booking_id,
        amount=Money(row.amount_minor, row.currency),
        credit_minor=row.credit_minor,
        status=OrderStatus(row.status),
        created_at=row.created_at,
        payment_intent_id=row.payment_intent_id,
        client_secret=row.client_secret,
    )


class ExternalEvents:
    """The inbox of the provider's events: each applied once."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection
        self._dialect = connection.dialect.name

    async def claim(
        self, source: str, event_id: str, type: str, object_id: str, now: datetime
    ) -> bool:
        """Claims an event for this unit of work; False if it was applied already (or is
        being applied by a concurrent delivery, which this one waits for)."""
        claimed = await self._c.execute(
            insert_ignoring_conflicts(self._dialect, external_events, ["source", "event_id"])
            .values(
                source=source, event_id=event_id, type=type, object_id=object_id, received_at=now
            )
            .returning(external_events.c.event_id)
        )
        return claimed.first() is not None

    async def trim(self, received_before: datetime, limit: int) -> int:
        """Forgets up to `limit` events received before a moment; how many."""
        oldest = (
            sa.select(external_events.c.source, external_events.c.event_id)
            .where(external_events.c.received_at < received_before)
            .order_by(external_events.c.received_at)
            .limit(limit)
        )
        gone = await self._c.execute(
            external_events.delete()
            .where(sa.tuple_(external_events.c.source, external_events.c.event_id).in_(oldest))
            .returning(external_events.c.event_id)
        )
        return len(gone.all())


class PayoutAccounts:
    """Practitioners' connected accounts, one each."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection
        self._dialect = connection.dialect.name

    async def add(self, account: PayoutAccount) -> bool:
        """Records a practitioner's account; False if they already have one."""
        added = await self._c.execute(
            insert_ignoring_conflicts(self._dialect, payout_accounts, ["user_id"])
            .values(
                user_id=account.user_id,
                account_id=account.account_id,
                payouts_enabled=account.payouts_enabled,
                created_at=account.created_at,
                updated_at=account.updated_at,
            )
            .returning(payout_accounts.c.user_id)
        )
        return added.first() is not None

    async def of_user(self, user_id: str) -> PayoutAccount | None:
        return await self._one(payout_accounts.c.user_id == user_id)

    async def by_account(self, account_id: str) -> PayoutAccount | None:
        return await self._one(payout_accounts.c.account_id == account_id)

    async def _one(self, condition: sa.ColumnElement[bool]) -> PayoutAccount | None:
        row = (await self._c.execute(sa.select(payout_accounts).where(condition))).first()
        if row is None:
            return None
        return PayoutAccount(
            row.user_id, row.account_id, row.payouts_enabled, row.created_at, row.updated_at
        )

    async def set_payouts_enabled(self, account_id: str, enabled: bool, now: datetime) -> None:
        await self._c.execute(
            payout_accounts.update()
            .where(payout_accounts.c.account_id == account_id)
            .values(payouts_enabled=enabled, updated_at=now)
        )

    async def ready(self) -> list[PayoutAccount]:
        """Every account whose payouts are enabled."""
        rows = await self._c.execute(
            sa.select(payout_accounts.c.user_id).where(payout_accounts.c.payouts_enabled)
        )
        found = [await self.of_user(user_id) for user_id in rows.scalars()]
        return [account for account in found if account is not None]


class Payouts:
    """Payouts, newest first by id (ids are time-ordered)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, payout: Payout) -> None:
        await self._c.execute(
            payouts.insert().values(
                id=payout.id,
                user_id=payout.user_id,
                account_id=payout.account_id,
                currency=payout.amount.currency,
                amount_minor=payout.amount.amount_minor,
                status=payout.status.value,
                created_at=payout.created_at,
                updated_at=payout.updated_at,
            )
        )

    async def get(self, payout_id: str) -> Payout | None:
        row = (await self._c.execute(sa.select(payouts).where(payouts.c.id == payout_id))).first()
        return None if row is None else _payout(row)

    async def pending(self, limit: int) -> list[Payout]:
        """Payouts committed whose provider calls have not been recorded, oldest first."""
        rows = await self._c.execute(
            sa.select(payouts)
            .where(payouts.c.status == PayoutStatus.PENDING.value)
            .order_by(payouts.c.id)
            .limit(limit)
        )
        return [_payout(row) for row in rows]

    async def page_of_user(
        self, user_id: str, *, after: str | None, limit: int
    ) -> tuple[list[Payout], int]:
        """A user's payouts newest first, after a payout id, and how many they have."""
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(payouts).where(payouts.c.user_id == user_id)
            )
        ).scalar_one()
        query = (
            sa.select(payouts)
            .where(payouts.c.user_id == user_id)
            .order_by(payouts.c.id.desc())
            .limit(limit)
        )
        if after is not None:
            query = query.where(payouts.c.id < after)
        return [_payout(row) for row in await self._c.execute(query)], int(total)

    async def submitted(self, payout_id: str, transfer_id: str, provider_payout_id: str) -> None:
        """PENDING -> SUBMITTED with the provider's ids; nothing if a webhook settled it first."""
        await self._c.execute(
            payouts.update()
            .where(payouts.c.id == payout_id, payouts.c.status == PayoutStatus.PENDING.value)
            .values(
                status=PayoutStatus.SUBMITTED.value,
                transfer_id=transfer_id,
                provider_payout_id=provider_payout_id,
            )
        )

    async def settle(
        self, payout_id: str, status: PayoutStatus, failure_code: str, now: datetime
    ) -> None:
        """In flight -> PAID or FAILED; WrongState if it was settled already."""
        await PAYOUTS.move(
            self._c,
            payout_id,
            expected=IN_FLIGHT,
            values={"status": status.value, "failure_code": failure_code, "updated_at": now},
        )


def _payout(row: sa.Row[Any]) -> Payout:
    return Payout(
        id=row.id,
        user_id=row.user_id,
        account_id=row.account_id,
        amount=Money(row.amount_minor, row.currency),
        status=PayoutStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        transfer_id=row.transfer_id,
        provider_payout_id=row.provider_payout_id,
        failure_code=row.failure_code,
    )


@functools.cache
def _add_earning(dialect: str) -> sa.Insert:
    return insert_ignoring_conflicts(dialect, earnings, ["booking_id"]).returning(earnings.c.id)


class Earnings:
    """Practitioners' earnings, one per booking."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection
        self._dialect = connection.dialect.name

    async def add(self, earning: Earning, now: datetime) -> bool:
        """Records an earning; False if its booking already has one (nothing changed)."""
        added = await self._c.execute(
            _add_earning(self._dialect),
            {**_earning_row(earning), "created_at": now, "updated_at": now},
        )
        return added.first() is not None

    async def get_by_booking(self, booking_id: str) -> Earning | None:
        row = (
            await self._c.execute(sa.select(earnings).where(earnings.c.booking_id == booking_id))
        ).first()
        return _earning(row) if row is not None else None

    async def due(self, now: datetime, limit: int) -> list[Earning]:
        """Pending earnings whose hold has ended, the longest due first."""
        rows = await self._c.execute(
            sa.select(earnings)
            .where(earnings.c.status == EarningStatus.PENDING.value, earnings.c.available_at <= now)
            .order_by(earnings.c.available_at, earnings.c.id)
            .limit(limit)
        )
        return [_earning(row) for row in rows]

    async def move(self, earning: Earning, expected: EarningStatus, now: datetime) -> None:
        """Saves an earning's new state if it is still in the state expected (WrongState
        otherwise: a refund reversed it meanwhile, or another replica released it)."""
        await EARNINGS.move(
            self._c,
            earning.id,
            expected=expected.value,
            values={
                "status": earning.status.value,
                "release_transaction_id": earning.release_transaction_id,
                "updated_at": now,
            },
        )


def _earning_row(earning: Earning) -> dict[str, object]:
    return {
        "id": earning.id,
        "booking_id": earning.booking_id,
        "practitioner_user_id": earning.practitioner_user_id,
        "practitioner_id": earning.practitioner_id,
        "service_id": earning.service_id,
        "client_id": earning.client_id,
        "currency": earning.amount_paid.currency,
        "amount_paid_minor": earning.amount_paid.amount_minor,
        "commission_minor": earning.commission.amount_minor,
        "net_minor": earning.net.amount_minor,
        "tier": earning.tier.value,
        "commission_bps": earning.commission_bps,
        "status": earning.status.value,
        "completed_at": earning.completed_at,
        "available_at": earning.available_at,
        "transaction_id": earning.transaction_id,
        "release_transaction_id": earning.release_transaction_id,
    }


def _earning(row: sa.Row) -> Earning:
    currency = row.currency
    return Earning(
        id=row.id,
        booking_id=row.booking_id,
        practitioner_user_id=row.practitioner_user_id,
        practitioner_id=row.practitioner_id,
        service_id=row.service_id,
        client_id=row.client_id,
        amount_paid=Money(row.amount_paid_minor, currency),
        commission=Money(row.commission_minor, currency),
        net=Money(row.net_minor, currency),
        tier=Tier(row.tier),
        commission_bps=row.commission_bps,
        status=EarningStatus(row.status),
        completed_at=row.completed_at,
        available_at=row.available_at,
        transaction_id=row.transaction_id,
        release_transaction_id=row.release_transaction_id,
    )


_TIER_AT = (
    sa.select(practitioner_tiers.c.tier)
    .where(
        practitioner_tiers.c.user_id == sa.bindparam("user_id"),
        practitioner_tiers.c.effective_from <= sa.bindparam("at", type_=UtcDateTime),
    )
    .order_by(practitioner_tiers.c.effective_from.desc())
    .limit(1)
)


class Tiers:
    """Practitioners' platform tiers over time; Free for anyone never subscribed."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def tier_at(self, user_id: str, at: datetime) -> Tier:
        """The tier in effect for a practitioner at a moment."""
        found = (await self._c.execute(_TIER_AT, {"user_id": user_id, "at": at})).scalar()
        return Tier(found) if found else Tier.FREE

    async def set(self, user_id: str, tier: Tier, effective_from: datetime) -> None:
        """Records that a practitioner is on a tier from a moment on; a second tier at the
        same moment replaces the first (an upgrade in the instant of the subscription). The
        caller holds the practitioner's subscription row, so writers of one user queue."""
        at_that_moment = sa.and_(
            practitioner_tiers.c.user_id == user_id,
            practitioner_tiers.c.effective_from == effective_from,
        )
        await self._c.execute(practitioner_tiers.delete().where(at_that_moment))
        await self._c.execute(
            practitioner_tiers.insert().values(
                user_id=user_id, tier=tier.value, effective_from=effective_from
            )
        )


class PlatformSubscriptions:
    """Practitioners' platform subscriptions; at most one live per practitioner."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection
        self._dialect = connection.dialect.name

    async def add(self, subscription: PlatformSubscription) -> bool:
        """Records a new live subscription; False if the practitioner has one already."""
        added = await self._c.execute(
            insert_ignoring_conflicts(self._dialect, platform_subscriptions, ["live_user_id"])
            .values(**_subscription_values(subscription), live_user_id=subscription.user_id)
            .returning(platform_subscriptions.c.id)
        )
        return added.first() is not None

    async def live_of(self, user_id: str, *, lock: bool = False) -> PlatformSubscription | None:
        """The practitioner's live subscription, locked for this unit of work if asked."""
        return await self._one(platform_subscriptions.c.live_user_id == user_id, lock)

    async def customer_of(self, user_id: str) -> str:
        """The provider customer a practitioner's earlier subscriptions were billed to."""
        found = (
            await self._c.execute(
                sa.select(platform_subscriptions.c.customer_id)
                .where(
                    platform_subscriptions.c.user_id == user_id,
                    platform_subscriptions.c.customer_id != "",
                )
                .limit(1)
            )
        ).scalar()
        return found or ""

    async def latest_of(self, user_id: str) -> PlatformSubscription | None:
        """The practitioner's most recent subscription, live or not."""
        row = (
            await self._c.execute(
                sa.select(platform_subscriptions)
                .where(platform_subscriptions.c.user_id == user_id)
                .order_by(platform_subscriptions.c.id.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else _subscription(row)

    async def get(self, subscription_id: str, *, lock: bool = False) -> PlatformSubscription | None:
        return await self._one(platform_subscriptions.c.id == subscription_id, lock)

    async def _one(
        self, condition: sa.ColumnElement[bool], lock: bool
    ) -> PlatformSubscription | None:
        query = sa.select(platform_subscriptions).where(condition)
        if lock and self._dialect == "postgresql":
            query = query.with_for_update()
        row = (await self._c.execute(query)).first()
        return None if row is None else _subscription(row)

    async def save(self, subscription: PlatformSubscription) -> None:
        """Writes a subscription's state; one no longer live frees its practitioner to
        subscribe again."""
        await self._c.execute(
            platform_subscriptions.update()
            .where(platform_subscriptions.c.id == subscription.id)
            .values(
                **_subscription_values(subscription),
                live_user_id=subscription.user_id if subscription.status in LIVE else None,
            )
        )


def _subscription_values(subscription: PlatformSubscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "user_id": subscription.user_id,
        "tier": subscription.tier.value,
        "next_tier": subscription.next_tier.value if subscription.next_tier else "",
        "status": subscription.status.value,
        "payment_method": subscription.payment_method,
        "provider_subscription_id": subscription.provider_subscription_id,
        "customer_id": subscription.customer_id,
        "current_period_end": subscription.current_period_end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "failure_code": subscription.failure_code,
        "revision": subscription.revision,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
    }


def _subscription(row: sa.Row[Any]) -> PlatformSubscription:
    return PlatformSubscription(
        id=row.id,
        user_id=row.user_id,
        tier=Tier(row.tier),
        status=SubscriptionStatus(row.status),
        payment_method=row.payment_method,
        created_at=row.created_at,
        updated_at=row.updated_at,
        next_tier=Tier(row.next_tier) if row.next_tier else None,
        provider_subscription_id=row.provider_subscription_id,
        customer_id=row.customer_id,
        current_period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
        failure_code=row.failure_code,
        revision=row.revision,
    )


class StreamSubscriptions:
    """Readers' subscriptions to streams' paid tiers; at most one live per reader and
    stream."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection
        self._dialect = connection.dialect.name

    async def add(self, subscription: StreamSubscription) -> bool:
        """Records a new live subscription; False if the reader has one to the stream."""
        added = await self._c.execute(
            insert_ignoring_conflicts(self._dialect, stream_subscriptions, ["live_key"])
            .values(**_stream_subscription_values(subscription))
            .returning(stream_subscriptions.c.id)
        )
        return added.first() is not None

    async def live_of(self, user_id: str, stream_id: str) -> StreamSubscription | None:
        """The reader's live subscription to a stream."""
        return await self._one(stream_subscriptions.c.live_key == f"{user_id}/{stream_id}")

    async def get(self, subscription_id: str, *, lock: bool = False) -> StreamSubscription | None:
        """A subscription, locked for this unit of work if asked."""
        return await self._one(stream_subscriptions.c.id == subscription_id, lock)

    async def _one(
        self, condition: sa.ColumnElement[bool], lock: bool = False
    ) -> StreamSubscription | None:
        query = sa.select(stream_subscriptions).where(condition)
        if lock and self._dialect == "postgresql":
            query = query.with_for_update()
        row = (await self._c.execute(query)).first()
        return None if row is None else _stream_subscription(row)

    async def live_on_tier(self, stream_id: str, level: int) -> list[StreamSubscription]:
        """The live subscriptions to a stream at a level or going to it from the next
        period, locked for this unit of work in the order of their ids (so two units of work
        locking some of the same never wait on each other in a circle)."""
        query = (
            sa.select(stream_subscriptions)
            .where(
                stream_subscriptions.c.stream_id == stream_id,
                stream_subscriptions.c.live_key.is_not(None),
                sa.or_(
                    stream_subscriptions.c.level == level,
                    stream_subscriptions.c.next_level == level,
                ),
            )
            .order_by(stream_subscriptions.c.id)
        )
        if self._dialect == "postgresql":
            query = query.with_for_update()
        return [_stream_subscription(row) for row in await self._c.execute(query)]

    async def page_of_user(
        self, user_id: str, *, after: str | None, limit: int
    ) -> tuple[list[StreamSubscription], int]:
        """A reader's subscriptions, newest first, and how many they have."""
        mine = stream_subscriptions.c.user_id == user_id
        query = sa.select(stream_subscriptions).where(mine)
        if after is not None:
            query = query.where(stream_subscriptions.c.id < after)
        rows = await self._c.execute(query.order_by(stream_subscriptions.c.id.desc()).limit(limit))
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(stream_subscriptions).where(mine)
            )
        ).scalar_one()
        return [_stream_subscription(row) for row in rows], int(total)

    async def live_of_reader(self, user_id: str) -> list[StreamSubscription]:
        """Every live subscription a reader holds, oldest first."""
        return await self._live_where(stream_subscriptions.c.user_id == user_id)

    async def live_of_creator(self, creator_user_id: str) -> list[StreamSubscription]:
        """Every live subscription to a creator's streams, oldest first."""
        return await self._live_where(stream_subscriptions.c.creator_user_id == creator_user_id)

    async def _live_where(self, condition: sa.ColumnElement[bool]) -> list[StreamSubscription]:
        rows = await self._c.execute(
            sa.select(stream_subscriptions)
            .where(condition, stream_subscriptions.c.live_key.is_not(None))
            .order_by(stream_subscriptions.c.id)
        )
        return [_stream_subscription(row) for row in rows]

    async def save(self, subscription: StreamSubscription) -> None:
        """Writes a subscription's state; one no longer live frees its reader to subscribe
        to the stream again."""
        await self._c.execute(
            stream_subscriptions.update()
            .where(stream_subscriptions.c.id == subscription.id)
            .values(**_stream_subscription_values(subscription))
        )


def _stream_subscription_values(subscription: StreamSubscription) -> dict[str, Any]:
    live = subscription.status in LIVE
    return {
        "id": subscription.id,
        "user_id": subscription.user_id,
        "stream_id": subscription.stream_id,
        "creator_user_id": subscription.creator_user_id,
        "live_key": f"{subscription.user_id}/{subscription.stream_id}" if live else None,
        "level": subscription.level,
        "next_level": subscription.next_level,
        "currency": subscription.price.currency,
        "amount_minor": subscription.price.amount_minor,
        "status": subscription.status.value,
        "payment_method": subscription.payment_method,
        "provider_subscription_id": subscription.provider_subscription_id,
        "customer_id": subscription.customer_id,
        "current_period_end": subscription.current_period_end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "failure_code": subscription.failure_code,
        "revision": subscription.revision,
        "sequence": subscription.sequence,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
    }


def _stream_subscription(row: sa.Row[Any]) -> StreamSubscription:
    return StreamSubscription(
        id=row.id,
        user_id=row.user_id,
        stream_id=row.stream_id,
        creator_user_id=row.creator_user_id,
        level=row.level,
        price=Money(row.amount_minor, row.currency),
        status=SubscriptionStatus(row.status),
        payment_method=row.payment_method,
        created_at=row.created_at,
        updated_at=row.updated_at,
        next_level=row.next_level,
        provider_subscription_id=row.provider_subscription_id,
        customer_id=row.customer_id,
        current_period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
        failure_code=row.failure_code,
        revision=row.revision,
        sequence=row.sequence,
    )


class TierPrices:
    """The provider's price id of each paid tier (a platform tier, or a stream's tier by its
    name) at each amount."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection
        self._dialect = connection.dialect.name

    async def price_of(self, tier: str, price: Money) -> str | None:
        return (
            await self._c.execute(
                sa.select(tier_prices.c.price_id).where(
                    tier_prices.c.tier == str(tier),
                    tier_prices.c.currency == price.currency,
                    tier_prices.c.amount_minor == price.amount_minor,
                )
            )
        ).scalar()

    async def tier_of(self, price_id: str) -> Tier | None:
        """The platform tier a price sells; None for a price of a stream's tier."""
        found = await self.sold_by(price_id)
        return Tier(found[0]) if found and found[0] in {t.value for t in Tier} else None

    async def sold_by(self, price_id: str) -> tuple[str, Money] | None:
        """The tier a price sells and its amount."""
        row = (
            await self._c.execute(sa.select(tier_prices).where(tier_prices.c.price_id == price_id))
        ).first()
        return None if row is None else (row.tier, Money(row.amount_minor, row.currency))

    async def remember(self, tier: str, price: Money, price_id: str) -> None:
        """Records a tier's price (the provider made it once under a key of these, so a
        second recording names the same price)."""
        await self._c.execute(
            insert_ignoring_conflicts(
                self._dialect, tier_prices, ["tier", "currency", "amount_minor"]
            ).values(
                tier=str(tier),
                currency=price.currency,
                amount_minor=price.amount_minor,
                price_id=price_id,
            )
        )


class CreditPurchases:
    """Clients' credit top-ups, each with at most one payment intent."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, purchase: CreditPurchase) -> None:
        await self._c.execute(
            credit_purchases.insert().values(
                id=purchase.id,
                client_id=purchase.client_id,
                currency=purchase.amount.currency,
                amount_minor=purchase.amount.amount_minor,
                status=purchase.status.value,
                payment_intent_id=None,
                client_secret="",
                created_at=purchase.created_at,
                updated_at=purchase.updated_at,
                kind=purchase.kind.value,
            )
        )

    async def get(self, purchase_id: str) -> CreditPurchase | None:
        return await self._one(credit_purchases.c.id == purchase_id)

    async def for_intent(self, intent_id: str) -> CreditPurchase | None:
        return await self._one(credit_purchases.c.payment_intent_id == intent_id)

    async def _one(self, condition: sa.ColumnElement[bool]) -> CreditPurchase | None:
        row = (await self._c.execute(sa.select(credit_purchases).where(condition))).first()
        if row is None:
            return None
        return CreditPurchase(
            id=row.id,
            client_id=row.client_id,
            amount=Money(row.amount_minor, row.currency),
            status=CreditPurchaseStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            payment_intent_id=row.payment_intent_id,
            client_secret=row.client_secret,
            failure_code=row.failure_code,
            kind=PurchaseKind(row.kind),
        )

    async def attach_intent(self, purchase_id: str, intent_id: str, client_secret: str) -> None:
        """The purchase's payment intent (the same for every retry: keyed by its id)."""
        await self._c.execute(
            credit_purchases.update()
            .where(credit_purchases.c.id == purchase_id)
            .values(payment_intent_id=intent_id, client_secret=client_secret)
        )

    async def settle(
        self,
        purchase_id: str,
        status: CreditPurchaseStatus,
        expected: Sequence[CreditPurchaseStatus],
        failure_code: str,
        now: datetime,
    ) -> None:
        """Moves a purchase on from a state expected; WrongState if another delivery did."""
        await CREDIT_PURCHASES.move(
            self._c,
            purchase_id,
            expected=[e.value for e in expected],
            values={"status": status.value, "failure_code": failure_code, "updated_at": now},
        )


class StreamOrders:
    """Tips and post unlocks, each with at most one payment intent; one unlock order per
    buyer and post."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection
        self._dialect = connection.dialect.name

    async def add(self, order: StreamOrder, now: datetime) -> bool:
        """Records an order; False (nothing changed) for an unlock its buyer already has an
        order for, or an invoice that has one."""
        unlock_key = (
            f"{order.client_id}/{order.post_id}" if order.kind is StreamOrderKind.UNLOCK else None
        )
        unique = "invoice_id" if order.invoice_id is not None else "unlock_key"
        added = await self._c.execute(
            insert_ignoring_conflicts(self._dialect, stream_orders, [unique])
            .values(
                id=order.id,
                client_id=order.client_id,
                kind=order.kind.value,
                stream_id=order.stream_id,
                post_id=order.post_id,
                creator_user_id=order.creator_user_id,
                unlock_key=unlock_key,
                currency=order.amount.currency,
                amount_minor=order.amount.amount_minor,
                credit_minor=order.credit_minor,
                status=order.status.value,
                payment_intent_id=None,
                client_secret="",
                invoice_id=order.invoice_id,
                created_at=order.created_at,
                updated_at=now,
            )
            .returning(stream_orders.c.id)
        )
        return added.first() is not None

    async def get(self, order_id: str) -> StreamOrder | None:
        return await self._one(stream_orders.c.id == order_id)

    async def for_intent(self, intent_id: str) -> StreamOrder | None:
        return await self._one(stream_orders.c.payment_intent_id == intent_id)

    async def unlock_of(self, client_id: str, post_id: str) -> StreamOrder | None:
        return await self._one(stream_orders.c.unlock_key == f"{client_id}/{post_id}")

    async def _one(self, condition: sa.ColumnElement[bool]) -> StreamOrder | None:
        row = (await self._c.execute(sa.select(stream_orders).where(condition))).first()
        if row is None:
            return None
        return StreamOrder(
            id=row.id,
            client_id=row.client_id,
            kind=StreamOrderKind(row.kind),
            stream_id=row.stream_id,
            post_id=row.post_id,
            creator_user_id=row.creator_user_id,
            amount=Money(row.amount_minor, row.currency),
            credit_minor=row.credit_minor,
            status=StreamOrderStatus(row.status),
            created_at=row.created_at,
            payment_intent_id=row.payment_intent_id,
            client_secret=row.client_secret,
            invoice_id=row.invoice_id,
        )

    async def attach_intent(self, order_id: str, intent_id: str, client_secret: str) -> None:
        """The order's payment intent (the same for every retry: keyed by its id)."""
        await self._c.execute(
            stream_orders.update()
            .where(stream_orders.c.id == order_id)
            .values(payment_intent_id=intent_id, client_secret=client_secret)
        )

    async def pay(self, order_id: str, now: datetime) -> None:
        """OPEN -> PAID; WrongState if another delivery paid it first."""
        await STREAM_ORDERS.move(
            self._c,
            order_id,
            expected=StreamOrderStatus.OPEN.value,
            values={"status": StreamOrderStatus.PAID.value, "updated_at": now},
        )


class PromoCodes:
    """Staff's promo codes and their guarded redemption counters."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection
        self._dialect = connection.dialect.name

    async def add(self, promo: PromoCode) -> bool:
        """Records a code; False if one with its spelling exists."""
        added = await self._c.execute(
            insert_ignoring_conflicts(self._dialect, promo_codes, ["code"])
            .values(
                id=promo.id,
                code=promo.code,
                currency=promo.amount.currency,
                amount_minor=promo.amount.amount_minor,
                max_redemptions=promo.max_redemptions,
                redemptions=promo.redemptions,
                expires_at=promo.expires_at,
                created_by=promo.created_by,
                created_at=promo.created_at,
            )
            .returning(promo_codes.c.id)
        )
        return added.first() is not None

    async def by_code(self, code: str) -> PromoCode | None:
        row = (
            await self._c.execute(sa.select(promo_codes).where(promo_codes.c.code == code))
        ).first()
        return None if row is None else _promo(row)

    async def count_redemption(self, promo_id: str, now: datetime) -> bool:
        """One more client redeemed the code, if it is not exhausted nor expired; False (and
        nothing counted) otherwise. PostgreSQL re-checks the condition on the newest row once
        a concurrent redemption commits, so the limit holds under any concurrency."""
        counted = await self._c.execute(
            promo_codes.update()
            .where(
                promo_codes.c.id == promo_id,
                promo_codes.c.redemptions < promo_codes.c.max_redemptions,
                promo_codes.c.expires_at > now,
            )
            .values(redemptions=promo_codes.c.redemptions + 1)
            .returning(promo_codes.c.id)
        )
        return counted.first() is not None

    async def page(self, *, after: str | None, limit: int) -> tuple[list[PromoCode], int]:
        """Every code newest first, after a code's id, and how many there are."""
        total = (
            await self._c.execute(sa.select(sa.func.count()).select_from(promo_codes))
        ).scalar_one()
        query = sa.select(promo_codes).order_by(promo_codes.c.id.desc()).limit(limit)
        if after is not None:
            query = query.where(promo_codes.c.id < after)
        return [_promo(row) for row in await self._c.execute(query)], int(total)


class CreditLots:
    """Clients' expiring credit, each lot taken from and expired under its row lock."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, lot: CreditLot) -> None:
        await self._c.execute(
            credit_lots.insert().values(
                id=lot.id,
                client_id=lot.client_id,
                currency=lot.currency,
                granted_minor=lot.granted_minor,
                remaining_minor=lot.remaining_minor,
                expires_at=lot.expires_at,
                granted_by=lot.granted_by,
                status=lot.status.value,
                created_at=lot.created_at,
                updated_at=lot.created_at,
            )
        )

    async def open_of(self, client_id: str, currency: str) -> list[CreditLot]:
        """A client's open lots in a currency, soonest to expire first, locked until the
        unit of work ends (PostgreSQL; SQLite has one writer at a time anyway)."""
        rows = await self._c.execute(
            sa.select(credit_lots)
            .where(
                credit_lots.c.client_id == client_id,
                credit_lots.c.currency == currency,
                credit_lots.c.status == CreditLotStatus.OPEN.value,
            )
            .order_by(credit_lots.c.expires_at, credit_lots.c.id)
            .with_for_update()
        )
        return [_lot(row) for row in rows]

    async def of_client(self, client_id: str) -> list[CreditLot]:
        """Every lot of a client, soonest to expire first."""
        rows = await self._c.execute(
            sa.select(credit_lots)
            .where(credit_lots.c.client_id == client_id)
            .order_by(credit_lots.c.expires_at, credit_lots.c.id)
        )
        return [_lot(row) for row in rows]

    async def due(self, now: datetime, limit: int) -> list[str]:
        """The ids of open lots whose end has come, the soonest first."""
        rows = await self._c.execute(
            sa.select(credit_lots.c.id)
            .where(
                credit_lots.c.status == CreditLotStatus.OPEN.value,
                credit_lots.c.expires_at <= now,
            )
            .order_by(credit_lots.c.expires_at, credit_lots.c.id)
            .limit(limit)
        )
        return list(rows.scalars())

    async def open_lot(self, lot_id: str) -> CreditLot | None:
        """A lot still open, locked until the unit of work ends; None once expired."""
        row = (
            await self._c.execute(
                sa.select(credit_lots)
                .where(
                    credit_lots.c.id == lot_id,
                    credit_lots.c.status == CreditLotStatus.OPEN.value,
                )
                .with_for_update()
            )
        ).first()
        return None if row is None else _lot(row)

    async def take(self, lot_id: str, amount_minor: int, now: datetime) -> None:
        """A spend took amount_minor of a lot (locked by open_of)."""
        await self._c.execute(
            credit_lots.update()
            .where(credit_lots.c.id == lot_id)
            .values(remaining_minor=credit_lots.c.remaining_minor - amount_minor, updated_at=now)
        )

    async def expire(self, lot_id: str, now: datetime) -> None:
        """A lot's end came (locked by open_lot): nothing of it is left to spend."""
        await self._c.execute(
            credit_lots.update()
            .where(credit_lots.c.id == lot_id)
            .values(status=CreditLotStatus.EXPIRED.value, remaining_minor=0, updated_at=now)
        )


def _lot(row: sa.Row[Any]) -> CreditLot:
    return CreditLot(
        id=row.id,
        client_id=row.client_id,
        currency=row.currency,
        granted_minor=row.granted_minor,
        remaining_minor=row.remaining_minor,
        expires_at=row.expires_at,
        granted_by=row.granted_by,
        status=CreditLotStatus(row.status),
        created_at=row.created_at,
    )


class GiftCards:
    """Gift cards by the hash of their code, redeemed by a guarded UPDATE."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, card: GiftCard) -> None:
        await self._c.execute(
            gift_cards.insert().values(
                id=card.id, code_hash=card.code_hash, redeem_by=card.redeem_by
            )
        )

    async def get(self, card_id: str) -> GiftCard | None:
        return await self._one(gift_cards.c.id == card_id)

    async def by_code_hash(self, code_hash: str) -> GiftCard | None:
        return await self._one(gift_cards.c.code_hash == code_hash)

    async def _one(self, condition: sa.ColumnElement[bool]) -> GiftCard | None:
        row = (await self._c.execute(sa.select(gift_cards).where(condition))).first()
        if row is None:
            return None
        return GiftCard(row.id, row.code_hash, row.redeem_by, row.redeemed_by, row.redeemed_at)

    async def recode(self, card_id: str, code_hash: str) -> None:
        """A new code for a card not yet paid for (its buyer asked again: the first answer,
        the only one that showed the code, may have been lost)."""
        await self._c.execute(
            gift_cards.update().where(gift_cards.c.id == card_id).values(code_hash=code_hash)
        )

    async def redeem(self, card_id: str, client_id: str, now: datetime) -> bool:
        """The card redeemed by a client, if nobody did and it has not expired; False (and
        nothing changed) otherwise. PostgreSQL re-checks the condition on the newest row
        once a concurrent redemption commits, so of many racing one wins."""
        redeemed = await self._c.execute(
            gift_cards.update()
            .where(
                gift_cards.c.id == card_id,
                gift_cards.c.redeemed_by.is_(None),
                gift_cards.c.redeem_by > now,
            )
            .values(redeemed_by=client_id, redeemed_at=now)
            .returning(gift_cards.c.id)
        )
        return redeemed.first() is not None


def _promo(row: sa.Row[Any]) -> PromoCode:
    return PromoCode(
        id=row.id,
        code=row.code,
        amount=Money(row.amount_minor, row.currency),
        max_redemptions=row.max_redemptions,
        redemptions=row.redemptions,
        expires_at=row.expires_at,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _moved_by_cause(kind: TransactionKind, into: AccountKind) -> sa.Subquery:
    """What transactions of a kind moved into accounts of a kind, summed per cause."""
    return (
        sa.select(
            transactions_t.c.cause,
            sa.func.sum(postings_t.c.amount_minor).label("amount"),
        )
        .join(postings_t, postings_t.c.transaction_id == transactions_t.c.id)
        .join(accounts_t, accounts_t.c.id == postings_t.c.account_id)
        .where(transactions_t.c.kind == kind.value, accounts_t.c.kind == into.value)
        .group_by(transactions_t.c.cause)
        .subquery()
    )


@dataclass(frozen=True)
class Violation:
    """One broken invariant of the ledger: which rule, about what, and how."""

    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.subject}: {self.detail}"


class LedgerAudit:
    """The ledger's invariants, checked over everything it holds."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def violations(self) -> list[Violation]:
        """Every broken invariant: unbalanced transactions, overdrawn accounts (the
        outstanding gift cards among them), cached balances that differ from their postings,
        completed bookings whose split does not add up to their charge, orders, top-ups and
        gift cards whose money is not in the ledger as they stand, and expiring credit that
        is more than a client holds."""
        return [
            *await self.unbalanced(),
            *await self.overdrawn(),
            *await self.unsplit_charges(),
            *await self.unmatched_orders(),
            *await self.uncredited_purchases(),
            *await self.unmatched_gift_cards(),
            *await self.overcommitted_lots(),
            *await self.unmatched_stream_orders(),
        ]

    async def uncredited_purchases(self) -> list[Violation]:
        """Credit purchases whose money is not in the ledger as they stand: a paid top-up is
        one credit purchase of its amount into its client's credit, a paid gift card one gift
        card purchase of its amount into the outstanding gift cards, any other none."""
        topped_up = _moved_by_cause(TransactionKind.CREDIT_PURCHASE, AccountKind.CLIENT_CREDIT)
        gifted = _moved_by_cause(
            TransactionKind.GIFT_CARD_PURCHASE, AccountKind.PLATFORM_GIFT_CARDS
        )
        cause = "credit_purchases/" + credit_purchases.c.id
        rows = await self._c.execute(
            sa.select(
                credit_purchases.c.id,
                credit_purchases.c.kind,
                credit_purchases.c.status,
                credit_purchases.c.amount_minor,
                credit_purchases.c.currency,
                topped_up.c.amount.label("topped_up"),
                gifted.c.amount.label("gifted"),
            )
            .select_from(
                credit_purchases.outerjoin(topped_up, topped_up.c.cause == cause).outerjoin(
                    gifted, gifted.c.cause == cause
                )
            )
            .order_by(credit_purchases.c.id)
        )
        found = []
        for row in rows:
            paid = row.status == CreditPurchaseStatus.PAID.value
            expected = row.amount_minor if paid else 0
            gift_card = row.kind == PurchaseKind.GIFT_CARD.value
            credited_minor = int((row.gifted if gift_card else row.topped_up) or 0)
            astray = int((row.topped_up if gift_card else row.gifted) or 0)
            if credited_minor != expected or astray:
                found.append(
                    Violation(
                        "credit_purchase",
                        f"credit purchase {row.id}",
                        f"{row.status} {row.kind} for {row.amount_minor} {row.currency}, "
                        f"credited {credited_minor + astray} in the ledger",
                    )
                )
        return found

    async def unmatched_gift_cards(self) -> list[Violation]:
        """Gift cards whose redemption is not in the ledger as they stand: a redeemed card is
        one redemption of its amount into a client's credit, any other none."""
        redeemed = _moved_by_cause(TransactionKind.GIFT_CARD_REDEMPTION, AccountKind.CLIENT_CREDIT)
        rows = await self._c.execute(
            sa.select(
                gift_cards.c.id,
                gift_cards.c.redeemed_by,
                credit_purchases.c.amount_minor,
                credit_purchases.c.currency,
                redeemed.c.amount.label("redeemed"),
            )
            .select_from(
                gift_cards.join(
                    credit_purchases, credit_purchases.c.id == gift_cards.c.id
                ).outerjoin(redeemed, redeemed.c.cause == "gift_cards/" + gift_cards.c.id)
            )
            .order_by(gift_cards.c.id)
        )
        found = []
        for row in rows:
            expected = row.amount_minor if row.redeemed_by is not None else 0
            moved = int(row.redeemed or 0)
            if moved != expected:
                state = "redeemed" if row.redeemed_by is not None else "not redeemed"
                found.append(
                    Violation(
                        "gift_card",
                        f"gift card {row.id}",
                        f"{state}, {row.amount_minor} {row.currency}, moved {moved} to credit "
                        "in the ledger",
                    )
                )
        return found

    async def overcommitted_lots(self) -> list[Violation]:
        """Clients whose open expiring lots hold more than their credit: the expiry would
        take what was spent (or what does not expire)."""
        open_lots = (
            sa.select(
                credit_lots.c.client_id,
                credit_lots.c.currency,
                sa.func.sum(credit_lots.c.remaining_minor).label("remaining"),
            )
            .where(credit_lots.c.status == CreditLotStatus.OPEN.value)
            .group_by(credit_lots.c.client_id, credit_lots.c.currency)
            .subquery()
        )
        rows = await self._c.execute(
            sa.select(
                open_lots.c.client_id,
                open_lots.c.currency,
                open_lots.c.remaining,
                accounts_t.c.balance_minor,
            )
            .select_from(
                open_lots.outerjoin(
                    accounts_t,
                    sa.and_(
                        accounts_t.c.owner == open_lots.c.client_id,
                        accounts_t.c.kind == AccountKind.CLIENT_CREDIT.value,
                        accounts_t.c.currency == open_lots.c.currency,
                    ),
                )
            )
            .order_by(open_lots.c.client_id, open_lots.c.currency)
        )
        return [
            Violation(
                "credit_lots",
                f"account {row.client_id}/{AccountKind.CLIENT_CREDIT.value}/{row.currency}",
                f"its open lots hold {int(row.remaining)}, its balance is "
                f"{int(row.balance_minor or 0)}",
            )
            for row in rows
            if int(row.remaining) > int(row.balance_minor or 0)
        ]

    async def unmatched_orders(self) -> list[Violation]:
        """Orders whose money is not in the ledger as it was paid: a paid order's card
        payment is one charge of its intent into clearing, and any order's credits one credit
        spend; either missing, or of another amount, is a violation."""

        charges = _moved_by_cause(TransactionKind.CHARGE, AccountKind.PLATFORM_CLEARING)
        spends = _moved_by_cause(TransactionKind.CREDIT_SPEND, AccountKind.PLATFORM_CLEARING)
        rows = await self._c.execute(
            sa.select(
                orders.c.id,
                orders.c.status,
                orders.c.amount_minor,
                orders.c.credit_minor,
                orders.c.currency,
                charges.c.amount.label("charged"),
                spends.c.amount.label("spent"),
            )
            .select_from(
                orders.outerjoin(
                    charges, charges.c.cause == "payment_intents/" + orders.c.payment_intent_id
                ).outerjoin(spends, spends.c.cause == "orders/" + orders.c.id)
            )
            .order_by(orders.c.id)
        )
        found = []
        for row in rows:
            name = f"order {row.id}"
            card = row.amount_minor - row.credit_minor
            charged = int(row.charged or 0)
            if row.status == OrderStatus.PAID.value and charged != card:
                found.append(
                    Violation(
                        "order_payment",
                        name,
                        f"paid {card} {row.currency} by card, charged {charged} in the ledger",
                    )
                )
            if int(row.spent or 0) != row.credit_minor:
                found.append(
                    Violation(
                        "order_payment",
                        name,
                        f"applied {row.credit_minor} "
                        f"{row.currency} of credits, spent {int(row.spent or 0)} in the ledger",
                    )
                )
        return found

    async def unmatched_stream_orders(self) -> list[Violation]:
        """Stream orders (tips, unlocks, subscriptions' invoices) whose money is not in the
        ledger as they stand: any order's credits one credit spend; a paid one's card part
        one charge of its intent (of its invoice, for a subscription's), and its creator's
        earning of its whole amount (whose split the charge check covers); an open one no
        earning."""
        charges = _moved_by_cause(TransactionKind.CHARGE, AccountKind.PLATFORM_CLEARING)
        spends = _moved_by_cause(TransactionKind.CREDIT_SPEND, AccountKind.PLATFORM_CLEARING)
        rows = await self._c.execute(
            sa.select(
                stream_orders.c.id,
                stream_orders.c.status,
                stream_orders.c.amount_minor,
                stream_orders.c.credit_minor,
                stream_orders.c.currency,
                charges.c.amount.label("charged"),
                spends.c.amount.label("spent"),
                earnings.c.amount_paid_minor.label("earned_on"),
            )
            .select_from(
                stream_orders.outerjoin(
                    charges,
                    charges.c.cause
                    == sa.func.coalesce(
                        "invoices/" + stream_orders.c.invoice_id,
                        "payment_intents/" + stream_orders.c.payment_intent_id,
                    ),
                )
                .outerjoin(spends, spends.c.cause == "streamOrders/" + stream_orders.c.id)
                .outerjoin(earnings, earnings.c.booking_id == stream_orders.c.id)
            )
            .order_by(stream_orders.c.id)
        )
        found = []
        for row in rows:
            name = f"stream order {row.id}"
            paid = row.status == StreamOrderStatus.PAID.value
            card = row.amount_minor - row.credit_minor
            charged = int(row.charged or 0)
            if charged != (card if paid else 0):
                found.append(
                    Violation(
                        "stream_order_payment",
                        name,
                        f"{row.status}, {card} {row.currency} by card, charged {charged}",
                    )
                )
            if int(row.spent or 0) != row.credit_minor:
                found.append(
                    Violation(
                        "stream_order_payment",
                        name,
                        f"applied {row.credit_minor} {row.currency} of credits, spent "
                        f"{int(row.spent or 0)} in the ledger",
                    )
                )
            earned_on = row.earned_on
            if earned_on != (row.amount_minor if paid else None):
                found.append(
                    Violation(
                        "stream_order_earning",
                        name,
                        f"{row.status} for {row.amount_minor} {row.currency}, its earning is "
                        f"on {earned_on}",
                    )
                )
        return found

    async def unbalanced(self) -> list[Violation]:
        """Transactions whose postings do not sum to zero in a currency, or that have fewer
        than two postings."""
        sums = await self._c.execute(
            sa.select(
                postings_t.c.transaction_id,
                accounts_t.c.currency,
                sa.func.sum(postings_t.c.amount_minor).label("total"),
            )
            .join(accounts_t, accounts_t.c.id == postings_t.c.account_id)
            .group_by(postings_t.c.transaction_id, accounts_t.c.currency)
            .having(sa.func.sum(postings_t.c.amount_minor) != 0)
            .order_by(postings_t.c.transaction_id, accounts_t.c.currency)
        )
        found = [
            Violation(
                "unbalanced",
                f"transaction {row.transaction_id}",
                f"its {row.currency} postings sum to {row.total}, not 0",
            )
            for row in sums
        ]
        lonely = await self._c.execute(
            sa.select(transactions_t.c.id, sa.func.count(postings_t.c.account_id).label("legs"))
            .select_from(transactions_t.outerjoin(postings_t))
            .group_by(transactions_t.c.id)
            .having(sa.func.count(postings_t.c.account_id) < 2)
            .order_by(transactions_t.c.id)
        )
        found += [
            Violation("unbalanced", f"transaction {row.id}", f"it has {row.legs} posting(s)")
            for row in lonely
        ]
        return found

    async def overdrawn(self) -> list[Violation]:
        """Accounts that must not go negative and did, by their postings or their cached
        balance, and cached balances that are not the sum of the postings."""
        rows = await self._c.execute(
            sa.select(
                accounts_t.c.owner,
                accounts_t.c.kind,
                accounts_t.c.currency,
                accounts_t.c.balance_minor,
                sa.func.coalesce(sa.func.sum(postings_t.c.amount_minor), 0).label("total"),
            )
            .select_from(accounts_t.outerjoin(postings_t))
            .where(accounts_t.c.non_negative)
            .group_by(accounts_t.c.id)
            .order_by(accounts_t.c.owner, accounts_t.c.kind, accounts_t.c.currency)
        )
        found = []
        for row in rows:
            name = f"account {row.owner}/{row.kind}/{row.currency}"
            total = int(row.total)
            if total < 0 or (row.balance_minor or 0) < 0:
                found.append(Violation("overdrawn", name, f"its postings sum to {total}"))
            if row.balance_minor != total:
                found.append(
                    Violation(
                        "balance_drift",
                        name,
                        f"its balance says {row.balance_minor}, its postings sum to {total}",
                    )
                )
        return found

    async def unsplit_charges(self) -> list[Violation]:
        """Completed bookings (those with an earning) whose charge is not their earning plus
        the commission plus fees, or whose earning has no ledger transaction."""
        earned = (
            sa.select(
                transactions_t.c.booking_id,
                sa.func.sum(postings_t.c.amount_minor).label("split"),
            )
            .join(postings_t, postings_t.c.transaction_id == transactions_t.c.id)
            .join(accounts_t, accounts_t.c.id == postings_t.c.account_id)
            .where(
                transactions_t.c.kind == TransactionKind.EARNING.value,
                accounts_t.c.kind.in_(
                    [
                        AccountKind.PRACTITIONER_PENDING.value,
                        AccountKind.PLATFORM_REVENUE.value,
                        AccountKind.PROVIDER_FEES.value,
                    ]
                ),
            )
            .group_by(transactions_t.c.booking_id)
            .subquery()
        )
        charged = (
            sa.select(
                transactions_t.c.booking_id,
                sa.func.sum(postings_t.c.amount_minor).label("charge"),
            )
            .join(postings_t, postings_t.c.transaction_id == transactions_t.c.id)
            .join(accounts_t, accounts_t.c.id == postings_t.c.account_id)
            .where(
                transactions_t.c.kind.in_(PAYMENT_KINDS),
                accounts_t.c.kind == AccountKind.PLATFORM_CLEARING.value,
            )
            .group_by(transactions_t.c.booking_id)
            .subquery()
        )
        rows = await self._c.execute(
            sa.select(
                earnings.c.booking_id,
                earnings.c.amount_paid_minor,
                earnings.c.currency,
                earned.c.split,
                charged.c.charge,
            )
            .select_from(
                earnings.outerjoin(earned, earned.c.booking_id == earnings.c.booking_id).outerjoin(
                    charged, charged.c.booking_id == earnings.c.booking_id
                )
            )
            .order_by(earnings.c.booking_id)
        )
        found = []
        for row in rows:
            name = f"booking {row.booking_id}"
            if row.split is None:
                found.append(Violation("charge_split", name, "its earning is not in the ledger"))
                continue
            charge = int(row.charge or 0)
            if charge != int(row.split):
                found.append(
                    Violation(
                        "charge_split",
                        name,
                        f"charged {charge} {row.currency}, but earning + commission + fees "
                        f"= {int(row.split)}",
                    )
                )
        return found
