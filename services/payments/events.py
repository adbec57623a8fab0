"""The events payments emits and consumes (names and schemas are declared in the protos),
and each domain event as the message it is published as."""

from __future__ import annotations

from google.protobuf.message import Message

from chassis.bus.envelope import EventType
from chassis.wire import timestamp
from estuary.booking.v1 import events_pb2 as booking_events
from estuary.payments.v1 import events_pb2
from estuary.streams.v1 import events_pb2 as streams_events
from services.payments.domain.earnings import EarningAvailable, EarningRecorded
from services.payments.domain.orders import PaymentFailed, PaymentSucceeded, RefundIssued
from services.payments.domain.payouts import PayoutFailed, PayoutPaid
from services.payments.domain.stream_orders import StreamOrderPaid
from services.payments.domain.stream_subscriptions import StreamSubscriptionChanged
from services.payments.domain.subscriptions import TierChanged
from services.payments.wire import (
    STREAM_ORDER_KINDS,
    STREAM_SUBSCRIPTION_STATUSES,
    TIERS,
    money,
)

EARNING_RECORDED = EventType.of(events_pb2.EarningRecorded)
EARNING_AVAILABLE = EventType.of(events_pb2.EarningAvailable)

PAYMENT_SUCCEEDED = EventType.of(events_pb2.PaymentSucceeded)
PAYMENT_FAILED = EventType.of(events_pb2.PaymentFailed)
REFUND_ISSUED = EventType.of(events_pb2.RefundIssued)
PAYOUT_PAID = EventType.of(events_pb2.PayoutPaid)
PAYOUT_FAILED = EventType.of(events_pb2.PayoutFailed)
SUBSCRIPTION_TIER_CHANGED = EventType.of(events_pb2.SubscriptionTierChanged)
STREAM_ORDER_PAID = EventType.of(events_pb2.StreamOrderPaid)
STREAM_SUBSCRIPTION_CHANGED = EventType.of(events_pb2.StreamSubscriptionChanged)

EMITTED = (
    EARNING_RECORDED,
    EARNING_AVAILABLE,
    PAYMENT_SUCCEEDED,
    PAYMENT_FAILED,
    REFUND_ISSUED,
    PAYOUT_PAID,
    PAYOUT_FAILED,
    SUBSCRIPTION_TIER_CHANGED,
    STREAM_ORDER_PAID,
    STREAM_SUBSCRIPTION_CHANGED,
)

# What payments consumes.
BOOKING_COMPLETED = EventType.of(booking_events.BookingCompleted)
BOOKING_NO_SHOW = EventType.of(booking_events.BookingNoShow)
BOOKING_CREATED = EventType.of(booking_events.BookingCreated)
BOOKING_CONFIRMED = EventType.of(booking_events.BookingConfirmed)
BOOKING_CANCELLED = EventType.of(booking_events.BookingCancelled)
BOOKING_EXPIRED = EventType.of(booking_events.BookingExpired)
BOOKING_REFUND_REQUESTED = EventType.of(booking_events.BookingRefundRequested)
STREAM_TIER_REPRICED = EventType.of(streams_events.TierRepriced)


def event_message(event: object) -> tuple[EventType[Message], Message, str]:
    """A domain event as its event type, its message and the subject it is about."""
    match event:
        case EarningRecorded(earning=earning):
            return (
                EARNING_RECORDED,
                events_pb2.EarningRecorded(
                    earning_id=earning.id,
                    booking_id=earning.booking_id,
                    practitioner_user_id=earning.practitioner_user_id,
                    practitioner_id=earning.practitioner_id,
                    service_id=earning.service_id,
                    amount_paid=money(earning.amount_paid),
                    commission=money(earning.commission),
                    earning=money(earning.net),
                    tier=TIERS.to_proto(earning.tier),
                    commission_rate_bps=earning.commission_bps,
                    complete_time=timestamp(earning.completed_at),
                    available_time=timestamp(earning.available_at),
                ),
                f"earnings/{earning.id}",
            )
        case EarningAvailable(earning=earning, at=at):
            return (
                EARNING_AVAILABLE,
                events_pb2.EarningAvailable(
                    earning_id=earning.id,
                    booking_id=earning.booking_id,
                    practitioner_user_id=earning.practitioner_user_id,
                    earning=money(earning.net),
                    available_time=timestamp(at),
                ),
                f"earnings/{earning.id}",
            )
        case PaymentSucceeded(payment_id=payment_id, order=order, at=at):
            return (
                PAYMENT_SUCCEEDED,
                events_pb2.PaymentSucceeded(
                    payment_id=payment_id,
                    order_id=order.id,
                    booking_id=order.booking_id,
                    user_id=order.client_id,
                    amount=money(order.amount),
                    succeed_time=timestamp(at),
                ),
                f"orders/{order.id}",
            )
        case PaymentFailed(payment_id=payment_id, order=order, reason=reason, at=at):
            return (
                PAYMENT_FAILED,
                events_pb2.PaymentFailed(
                    payment_id=payment_id,
                    order_id=order.id,
                    booking_id=order.booking_id,
                    user_id=order.client_id,
                    reason=reason,
                    fail_time=timestamp(at),
                ),
                f"orders/{order.id}",
            )
        case RefundIssued(
            refund_id=refund_id, payment_id=payment_id, order=order, amount=amount, at=at
        ):
            return (
                REFUND_ISSUED,
                events_pb2.RefundIssued(
                    refund_id=refund_id,
                    payment_id=payment_id,
                    booking_id=order.booking_id,
                    user_id=order.client_id,
                    amount=money(amount),
                    issue_time=timestamp(at),
                ),
                f"orders/{order.id}",
            )
        case PayoutPaid(payout=payout, at=at):
            return (
                PAYOUT_PAID,
                events_pb2.PayoutPaid(
                    payout_id=payout.id,
                    practitioner_user_id=payout.user_id,
                    amount=money(payout.amount),
                    paid_time=timestamp(at),
                ),
                f"payouts/{payout.id}",
            )
        case PayoutFailed(payout=payout, reason=reason, at=at):
            return (
                PAYOUT_FAILED,
                events_pb2.PayoutFailed(
                    payout_id=payout.id,
                    practitioner_user_id=payout.user_id,
                    amount=money(payout.amount),
                    reason=reason,
                    fail_time=timestamp(at),
                ),
                f"payouts/{payout.id}",
            )
        case TierChanged(user_id=user_id, previous=previous, tier=tier, at=at):
            return (
                SUBSCRIPTION_TIER_CHANGED,
                events_pb2.SubscriptionTierChanged(
                    user_id=user_id,
                    previous_tier=TIERS.to_proto(previous),
                    tier=TIERS.to_proto(tier),
                    effective_time=timestamp(at),
                ),
                f"users/{user_id}",
            )
        case StreamOrderPaid(order=order, earning=earning, at=at):
            stream = f"streams/{order.stream_id}"
            return (
                STREAM_ORDER_PAID,
                events_pb2.StreamOrderPaid(
                    order=order.name,
                    kind=STREAM_ORDER_KINDS.to_proto(order.kind),
                    user_id=order.client_id,
                    stream=stream,
                    post=f"{stream}/posts/{order.post_id}" if order.post_id else "",
                    creator_user_id=order.creator_user_id,
                    amount=money(order.amount),
                    earning=money(earning.net),
                    commission=money(earning.commission),
                    paid_time=timestamp(at),
                ),
                order.name,
            )
        case StreamSubscriptionChanged(subscription=subscription, at=at):
            changed = events_pb2.StreamSubscriptionChanged(
                subscription=subscription.name,
                user_id=subscription.user_id,
                stream=f"streams/{subscription.stream_id}",
                level=subscription.level,
                granted_level=subscription.granted_level,
                status=STREAM_SUBSCRIPTION_STATUSES.to_proto(subscription.status),  # type: ignore[arg-type]
                cancel_at_period_end=subscription.cancel_at_period_end,
                sequence=subscription.sequence,
                change_time=timestamp(at),
            )
            if subscription.current_period_end is not None:
                changed.current_period_end_time.CopyFrom(timestamp(subscription.current_period_end))
            return STREAM_SUBSCRIPTION_CHANGED, changed, subscription.name
    raise TypeError(f"payments publishes no {event!r}")
