"""Payments in the running suite, on both shapes: booking.completed on the bus becomes the
practitioner's pending earning (earning.recorded), which they read over payments' gRPC API
with their own token; nobody else reads it, and nobody without a token."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from chassis.bus.envelope import encode_event
from chassis.ids import new_id
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.payments.v1 import payments_pb2 as pb
from estuary.payments.v1.payments_pb2_grpc import PaymentsServiceStub
from estuary.type.v1 import money_pb2
from services.payments.events import BOOKING_COMPLETED
from tests.e2e.accounts import sign_up
from tests.e2e.stacks import EmbeddedStack, ProductionStack, Stack

EVENT_SECONDS = 20.0


def payments_address(stack: Stack) -> str:
    if isinstance(stack, EmbeddedStack):
        return f"127.0.0.1:{stack.suite.ports['payments']}"
    assert isinstance(stack, ProductionStack)
    return f"127.0.0.1:{stack.grpc_ports['payments']}"


async def test_a_completed_booking_becomes_an_earning_its_practitioner_alone_reads(
    stack: Stack, tap
):
    async with stack.client() as client:
        practitioner = await sign_up(client, full_name="Ana Practitioner")
        stranger = await sign_up(client, full_name="Sam Stranger")
    booking_id = new_id()
    completed = booking_pb.BookingCompleted(
        booking=booking_pb.BookingSnapshot(
            booking_id=booking_id,
            service_id=new_id(),
            practitioner_id=new_id(),
            practitioner_user_id=practitioner.id,
            client_id=stranger.id,
        ),
        amount_paid=money_pb2.Money(amount_minor=4500, currency="EUR"),
    )
    completed.complete_time.FromDatetime(datetime.now(UTC))
    await stack.publish(
        encode_event(
            BOOKING_COMPLETED,
            completed,
            event_id=new_id(),
            source="/estuary/booking",
            subject=f"bookings/{booking_id}",
            time=datetime.now(UTC),
        )
    )
    recorded = await tap.next("earning.recorded", EVENT_SECONDS, booking_id=booking_id)
    assert recorded.message.earning.amount_minor == 3600
    assert recorded.message.commission.amount_minor == 900

    name = f"users/{practitioner.id}/earnings"
    async with grpc.aio.insecure_channel(payments_address(stack)) as channel:
        payments = PaymentsServiceStub(channel)
        summary = await payments.GetEarningsSummary(
            pb.GetEarningsSummaryRequest(name=name),
            metadata=[("authorization", f"Bearer {practitioner.access_token}")],
            timeout=10,
        )
        assert [(c.currency, c.pending.amount_minor) for c in summary.currencies] == [("EUR", 3600)]
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await payments.GetEarningsSummary(
                pb.GetEarningsSummaryRequest(name=name),
                metadata=[("authorization", f"Bearer {stranger.access_token}")],
                timeout=10,
            )
        assert hidden.value.code() is grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await payments.ListLedgerTransactions(
                pb.ListLedgerTransactionsRequest(owner=f"users/{practitioner.id}"), timeout=10
            )
        assert anonymous.value.code() is grpc.StatusCode.UNAUTHENTICATED
