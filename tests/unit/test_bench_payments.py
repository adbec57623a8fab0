"""The payments bench's own pieces: pgbench's report read right, and the ledger it writes for
`estuary ledger check` sound by the check's own rules, so a failed check is the check's."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest

from bench.booking import pgbench_tps_of
from bench.payments import POSTINGS_PER_BOOKING, PRICE, SoundLedger
from services.payments.tables import earnings

PGBENCH_REPORT = """pgbench (15.10 (Debian 15.10-0+deb12u1))
starting vacuum...end.
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 10
query mode: simple
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 18234
number of failed transactions: 0 (0.000%)
latency average = 8.771 ms
initial connection time = 23.411 ms
tps = 1824.189270 (without initial connection time)
"""


def test_pgbench_tps_is_the_one_without_connection_time():
    assert pgbench_tps_of(PGBENCH_REPORT) == pytest.approx(1824.18927)


def test_a_pgbench_report_without_tps_is_refused_with_what_it_printed():
    with pytest.raises(RuntimeError, match="pgbench printed no tps:\nconnection refused"):
        pgbench_tps_of("connection refused")


def test_the_seeded_ledger_balances_and_its_guarded_balances_are_its_postings():
    ledger = SoundLedger(1_001, practitioners=7, at=datetime(2026, 11, 30, tzinfo=UTC))
    postings = list(ledger.postings())
    # Rounded up to whole bookings of five postings each.
    assert len(postings) == len(ledger.bookings) * POSTINGS_PER_BOOKING == 1_005

    per_transaction: dict[str, int] = defaultdict(int)
    per_account: dict[str, int] = defaultdict(int)
    for transaction_id, account_id, amount in postings:
        per_transaction[transaction_id] += amount
        per_account[account_id] += amount
    transactions = list(ledger.transactions())
    assert {row[0] for row in transactions} == set(per_transaction)
    assert set(per_transaction.values()) == {0}

    accounts = list(ledger.accounts())
    assert len(accounts) == 3 + 7
    for account_id, _, _, _, guarded, balance, _ in accounts:
        assert balance == (per_account[account_id] if guarded else None)
        if guarded:
            assert balance > 0


def test_each_seeded_earning_fills_every_column_and_splits_what_was_paid():
    ledger = SoundLedger(50, practitioners=3, at=datetime(2026, 11, 30, tzinfo=UTC))
    earning_transactions = {row[0] for row in ledger.transactions() if row[1] == "earning"}
    rows = list(ledger.earnings())
    assert len(rows) == 10
    for row in rows:
        assert len(row) == len(earnings.columns)
        named = dict(zip((c.name for c in earnings.columns), row, strict=True))
        assert named["net_minor"] + named["commission_minor"] == PRICE.amount_minor
        assert named["transaction_id"] in earning_transactions
