"""What practitioners and staff read: a practitioner's earnings by currency and state, an
owner's ledger transactions paged newest first; nobody reads another's money; bad names
are refused naming the field. The servicer's proto mapping on the same data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.auth.principal import Role
from chassis.errors import InvalidArgument, NotFound
from estuary.payments.v1 import payments_pb2 as pb
from services.payments.grpc_api import PaymentsServicer
from services.payments.wire import summary_to_proto, transaction_to_proto
from tests.builders import STAFF, person
from tests.integration.payments.world import world


async def test_a_practitioner_reads_their_earnings_by_currency_and_state(empty_database_url):
    async with world(empty_database_url) as w:
        await w.deliver(w.delivery(w.completion(10_000, "EUR")))
        w.clock.advance(timedelta(hours=48))
        await w.treasury.release_earnings()
        await w.deliver(w.delivery(w.completion(3_000, "EUR")))
        await w.deliver(w.delivery(w.completion(500, "JPY")))
        me = person(w.practitioner_user_id, Role.PRACTITIONER)
        name = f"users/{w.practitioner_user_id}/earnings"
        summary = summary_to_proto(*await w.treasury.earnings_summary(me, name))
        assert summary.name == name
        assert [
            (c.currency, c.pending.amount_minor, c.available.amount_minor, c.paid_out.amount_minor)
            for c in summary.currencies
        ] == [("EUR", 2400, 8000, 0), ("JPY", 400, 0, 0)]
        assert await w.treasury.earnings_summary(STAFF, name) == await w.treasury.earnings_summary(
            me, name
        )


async def test_nobody_reads_another_ones_money(empty_database_url):
    async with world(empty_database_url) as w:
        await w.deliver(w.delivery(w.completion()))
        stranger = person()
        with pytest.raises(NotFound):
            await w.treasury.earnings_summary(stranger, f"users/{w.practitioner_user_id}/earnings")
        with pytest.raises(NotFound):
            await w.treasury.list_transactions(stranger, f"users/{w.practitioner_user_id}", 0, "")
        # The platform's books hold the payment and its split; the world's, the payment.
        for books, total in (("platform", 2), ("external", 1)):
            with pytest.raises(NotFound):
                await w.treasury.list_transactions(stranger, books, 0, "")
            assert (await w.treasury.list_transactions(STAFF, books, 0, "")).total == total


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("", "name"),
        ("users/me/earnings", "name"),
        ("practitioners/x/earnings", "name"),
        ("users/0190f1a2-0000-7000-8000-000000000002", "name"),
    ],
)
async def test_a_bad_earnings_name_is_refused_naming_the_field(empty_database_url, name, field):
    async with world(empty_database_url) as w:
        with pytest.raises(InvalidArgument) as refused:
            await w.treasury.earnings_summary(STAFF, name)
        assert [v.field for v in refused.value.violations] == [field]


async def test_an_owners_transactions_page_newest_first_with_their_postings(empty_database_url):
    async with world(empty_database_url) as w:
        for amount in (1000, 2000, 3000):
            await w.deliver(w.delivery(w.completion(amount)))
            w.clock.advance(timedelta(minutes=1))
        me = person(w.practitioner_user_id, Role.PRACTITIONER)
        owner = f"users/{w.practitioner_user_id}"
        first = await w.treasury.list_transactions(me, owner, 2, "")
        assert first.total == 3 and len(first.items) == 2 and first.next_page_token
        rest = await w.treasury.list_transactions(me, owner, 2, first.next_page_token)
        assert rest.next_page_token == "" and len(rest.items) == 1
        seen = [*first.items, *rest.items]
        # The practitioner sees only the legs on their own accounts: 80% of each payment.
        assert [[p.amount_minor for p in t.postings] for t in seen] == [[2400], [1600], [800]]
        wire = transaction_to_proto(seen[0])
        assert wire.kind == pb.TRANSACTION_KIND_EARNING
        assert wire.postings[0].account.owner == owner
        assert wire.postings[0].account.kind == pb.ACCOUNT_KIND_PRACTITIONER_PENDING
        # Staff see every leg of the same transaction.
        staff_view = await w.treasury.list_transactions(STAFF, owner, 1, "")
        assert sorted(p.amount_minor for p in staff_view.items[0].postings) == [-3000, 600, 2400]
        with pytest.raises(InvalidArgument) as refused:
            await w.treasury.list_transactions(me, "users/" + "0" * 8, 0, "")
        assert refused.value.violations[0].field == "owner"
        with pytest.raises(InvalidArgument) as replayed:
            await w.treasury.list_transactions(STAFF, "platform", 2, first.next_page_token)
        assert replayed.value.violations[0].field == "page_token"


async def test_the_servicer_answers_in_protos(empty_database_url, monkeypatch):
    async with world(empty_database_url) as w:
        await w.deliver(w.delivery(w.completion(2_000)))
        me = person(w.practitioner_user_id, Role.PRACTITIONER)
        monkeypatch.setattr("services.payments.grpc_api.current_principal", lambda: me)
        servicer = PaymentsServicer(w.treasury)
        summary = await servicer.GetEarningsSummary(
            pb.GetEarningsSummaryRequest(name=f"users/{w.practitioner_user_id}/earnings"), None
        )
        assert summary.currencies[0].pending.amount_minor == 1600
        listed = await servicer.ListLedgerTransactions(
            pb.ListLedgerTransactionsRequest(owner=f"users/{w.practitioner_user_id}"), None
        )
        assert listed.total_size == 1 and listed.transactions[0].booking_id
