"""A client's own payments, on both databases: their checkouts newest first, paged, each with
what was refunded on it to the card and to credit; nobody else's, ever."""

from __future__ import annotations

import pytest

from chassis.errors import InvalidArgument, Unauthenticated
from estuary.payments.v1 import payments_pb2 as pb
from services.payments.domain.orders import OrderStatus
from services.payments.events import BOOKING_CANCELLED, BOOKING_CREATED
from services.payments.grpc_api import PaymentsServicer
from tests.builders import person
from tests.integration.payments.test_checkout import cancellation, paid_booking
from tests.integration.payments.world import world


async def test_a_client_reads_their_own_payments_newest_first_with_refunds(empty_database_url):
    async with world(empty_database_url) as w:
        client, refunded, first = await paid_booking(w, 4_500, credit_minor=1_000)
        assert await w.booking_event(BOOKING_CANCELLED, cancellation(refunded, 50)) == "ack"
        second = w.created(client.user_id, 3_000)
        assert await w.booking_event(BOOKING_CREATED, second) == "ack"
        open_order = (
            await w.treasury.create_checkout(client, f"bookings/{second.booking.booking_id}", "")
        ).order
        page = await w.treasury.client_payments(client, 1, "")
        assert page.total == 2 and page.next_page_token
        [newest] = page.items
        assert (newest.order.id, newest.order.status, newest.refunds) == (
            open_order.id,
            OrderStatus.OPEN,
            (),
        )
        rest = await w.treasury.client_payments(client, 1, page.next_page_token)
        [older] = rest.items
        assert rest.next_page_token == ""
        assert (older.order.id, older.order.booking_id, older.order.status) == (
            first.id,
            refunded,
            OrderStatus.PAID,
        )
        [refund] = older.refunds
        # Half of each share back where it came from: 3,500 by card, 1,000 from credit.
        assert (refund.to_card.amount_minor, refund.to_credit.amount_minor) == (1_750, 500)
        assert refund.amount.amount_minor == 2_250
        # Another client sees none of it, and cannot page through the first one's list.
        stranger = person()
        assert (await w.treasury.client_payments(stranger, 0, "")).total == 0
        with pytest.raises(InvalidArgument) as refused:
            await w.treasury.client_payments(stranger, 1, page.next_page_token)
        assert refused.value.violations[0].field == "page_token"
        with pytest.raises(Unauthenticated):
            await w.treasury.client_payments(None, 0, "")


async def test_the_servicer_answers_a_clients_payments_in_protos(empty_database_url, monkeypatch):
    async with world(empty_database_url) as w:
        client, booking_id, order = await paid_booking(w, 4_500)
        assert await w.booking_event(BOOKING_CANCELLED, cancellation(booking_id, 100)) == "ack"
        monkeypatch.setattr("services.payments.grpc_api.current_principal", lambda: client)
        listed = await PaymentsServicer(w.treasury).ListClientPayments(
            pb.ListClientPaymentsRequest(), None
        )
        [payment] = listed.payments
        assert (payment.name, payment.booking_id, payment.status) == (
            f"orders/{order.id}",
            booking_id,
            pb.ORDER_STATUS_PAID,
        )
        assert payment.amount.amount_minor == 4_500
        assert [(r.amount.amount_minor, r.to_card.amount_minor) for r in payment.refunds] == [
            (4_500, 4_500)
        ]
