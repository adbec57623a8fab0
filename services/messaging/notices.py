"""What each consumed event means to whom: the notices an event makes, with what their
templates need. Messages in, domain notices out; nothing is written here."""

from __future__ import annotations

from typing import Any

from chassis.bus.envelope import ReceivedEvent
from chassis.money import Money
from chassis.wire import instant
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.catalog.v1 import events_pb2 as catalog_pb
from estuary.identity.v1 import events_pb2 as identity_pb
from estuary.payments.v1 import events_pb2 as payments_pb
from estuary.streams.v1 import events_pb2 as streams_pb
from services.messaging import events
from services.messaging.domain.notifications import Kind, Notice

# Who cancelled, as the templates word it in each language.
ACTORS = {
    booking_pb.ACTOR_CLIENT: "client",
    booking_pb.ACTOR_PRACTITIONER: "practitioner",
    booking_pb.ACTOR_STAFF: "staff",
    booking_pb.ACTOR_SYSTEM: "system",
}


def _times(booked: Any) -> list[Any]:
    return [instant(t.start_time) for t in booked if t.HasField("start_time")]


def _booking_context(booking: booking_pb.BookingSnapshot, app_url: str) -> dict[str, Any]:
    times = _times(booking.times)
    return {
        "title": booking.service_title,
        "times": times,
        "start": times[0] if times else None,
        "seats": booking.seats or 1,
        # The client's own zone is not known to messaging yet: the practitioner's, named.
        "time_zone": booking.time_zone,
        "link": f"{app_url}/bookings/{booking.booking_id}",
    }


def _to_both(
    event: ReceivedEvent[Any], kind: Kind, booking: booking_pb.BookingSnapshot, context: Any
) -> list[Notice]:
    subject = f"bookings/{booking.booking_id}"
    return [
        Notice(event.id, kind, user_id, subject, {**context, "role": role})
        for role, user_id in (
            ("client", booking.client_id),
            ("practitioner", booking.practitioner_user_id),
        )
        if user_id
    ]


def new_post_notices(event: ReceivedEvent[Any], followers: list[str], app_url: str) -> list[Notice]:
    """A published post's notices: one to each follower who may read it, not to its author."""
    published: streams_pb.PostPublished = event.message
    context = {"title": published.title, "link": f"{app_url}/{published.post}"}
    return [
        Notice(event.id, Kind.NEW_POST, user_id, published.post, context)
        for user_id in dict.fromkeys(followers)
        if user_id != published.owner_user_id
    ]


def notices_for(event: ReceivedEvent[Any], app_url: str) -> list[Notice]:
    """The notices one event makes (none for an event that concerns no one here)."""
    message = event.message
    match event.type:
        case events.USER_REGISTERED.name:
            registered: identity_pb.UserRegistered = message
            if not registered.verification_token:
                return []
            return [
                Notice(
                    event.id,
                    Kind.EMAIL_VERIFICATION,
                    registered.user_id,
                    f"users/{registered.user_id}",
                    {
                        "email": registered.email,
                        "token": registered.verification_token,
                        "expires": instant(registered.verification_expire_time),
                        "link": f"{app_url}/verify-email?token={registered.verification_token}",
                    },
                    email=registered.email,
                )
            ]
        case events.USER_PASSWORD_RESET_REQUESTED.name:
            reset: identity_pb.UserPasswordResetRequested = message
            return [
                Notice(
                    event.id,
                    Kind.PASSWORD_RESET,
                    reset.user_id,
                    f"users/{reset.user_id}",
                    {
                        "email": reset.email,
                        "token": reset.reset_token,
                        "expires": instant(reset.expire_time),
                        "link": f"{app_url}/reset-password?token={reset.reset_token}",
                    },
                    # The address the reset was asked for, even if messaging holds another.
                    email=reset.email,
                )
            ]
        case events.PRACTITIONER_APPROVED.name:
            approved: catalog_pb.PractitionerApproved = message
            return [
                Notice(
                    event.id,
                    Kind.PRACTITIONER_APPROVED,
                    approved.user_id,
                    f"practitioners/{approved.practitioner_id}",
                    {
                        "display_name": approved.display_name,
                        "link": f"{app_url}/practitioners/{approved.practitioner_id}",
                    },
                )
            ]
        case events.PRACTITIONER_REJECTED.name:
            rejected: catalog_pb.PractitionerRejected = message
            return [
                Notice(
                    event.id,
                    Kind.PRACTITIONER_REJECTED,
                    rejected.user_id,
                    f"practitioners/{rejected.practitioner_id}",
                    {
                        "reason": rejected.reason,
                        "link": f"{app_url}/practitioners/{rejected.practitioner_id}",
                    },
                )
            ]
        case events.BOOKING_CONFIRMED.name:
            booking = message.booking
            return _to_both(
                event, Kind.BOOKING_CONFIRMED, booking, _booking_context(booking, app_url)
            )
        case events.BOOKING_RESCHEDULED.name:
            moved: booking_pb.BookingRescheduled = message
            previous = _times(moved.previous_times)
            context = {
                **_booking_context(moved.booking, app_url),
                "previous": previous[0] if previous else None,
            }
            return _to_both(event, Kind.BOOKING_RESCHEDULED, moved.booking, context)
        case events.BOOKING_CANCELLED.name:
            cancelled: booking_pb.BookingCancelled = message
            context = {
                **_booking_context(cancelled.booking, app_url),
                "cancelled_by": ACTORS.get(cancelled.cancelled_by, ""),
                "reason": cancelled.reason,
                "refund_percent": cancelled.refund_percent,
            }
            return _to_both(event, Kind.BOOKING_CANCELLED, cancelled.booking, context)
        case events.BOOKING_REMINDER_DUE.name:
            due: booking_pb.BookingReminderDue = message
            context = _booking_context(due.booking, app_url)
            if due.time.HasField("start_time"):
                context["start"] = instant(due.time.start_time)
            # A group session's reminder to its practitioner names no one booking.
            subject = f"bookings/{due.booking.booking_id}" if due.booking.booking_id else ""
            if not due.booking.booking_id:
                context["link"] = f"{app_url}/services/{due.booking.service_id}"
            context |= {
                "soon": due.reminder == booking_pb.REMINDER_HALF_HOUR_BEFORE,
                "attendees": due.attendees,
                "role": "client"
                if due.recipient_user_id == due.booking.client_id
                else "practitioner",
            }
            return [
                Notice(event.id, Kind.BOOKING_REMINDER, due.recipient_user_id, subject, context)
            ]
        case events.BOOKING_COMPLETED.name:
            booking = message.booking
            context = {
                **_booking_context(booking, app_url),
                "role": "client",
                "link": f"{app_url}/bookings/{booking.booking_id}/review",
            }
            return [
                Notice(
                    event.id,
                    Kind.BOOKING_COMPLETED,
                    booking.client_id,
                    f"bookings/{booking.booking_id}",
                    context,
                )
            ]
        case events.BOOKING_NO_SHOW.name:
            missed: booking_pb.BookingNoShow = message
            booking = missed.booking
            kept = missed.amount_paid
            context = {
                **_booking_context(booking, app_url),
                "paid": Money(kept.amount_minor, kept.currency) if kept.amount_minor else None,
            }
            return [
                Notice(
                    event.id,
                    Kind.BOOKING_NO_SHOW,
                    booking.client_id,
                    f"bookings/{booking.booking_id}",
                    context,
                )
            ]
        case events.WAITLIST_OFFERED.name:
            offered: booking_pb.WaitlistOffered = message
            [start] = _times([offered.time]) or [None]
            return [
                Notice(
                    event.id,
                    Kind.WAITLIST_OFFERED,
                    offered.client_id,
                    f"waitlist/{offered.offer_id}",
                    {
                        "title": offered.service_title,
                        "start": start,
                        "expires": instant(offered.expire_time),
                        "time_zone": offered.time_zone,
                        "link": f"{app_url}/services/{offered.service_id}",
                    },
                )
            ]
        case events.REVIEW_CREATED.name:
            review: catalog_pb.ReviewCreated = message
            return [
                Notice(
                    event.id,
                    Kind.REVIEW_CREATED,
                    review.practitioner_user_id,
                    f"reviews/{review.review_id}",
                    {
                        "rating": review.rating,
                        "link": f"{app_url}/services/{review.service_id}/reviews",
                    },
                )
            ]
        case events.REVIEW_REPLIED.name:
            replied: catalog_pb.ReviewReplied = message
            return [
                Notice(
                    event.id,
                    Kind.REVIEW_REPLIED,
                    replied.client_id,
                    f"reviews/{replied.review_id}",
                    {"link": f"{app_url}/services/{replied.service_id}/reviews"},
                )
            ]
        case events.PAYMENT_FAILED.name:
            failed: payments_pb.PaymentFailed = message
            return [
                Notice(
                    event.id,
                    Kind.PAYMENT_FAILED,
                    failed.user_id,
                    f"payments/{failed.payment_id}",
                    {
                        "reason": failed.reason.replace("_", " "),
                        "link": _paid_for(app_url, failed.booking_id),
                    },
                )
            ]
        case events.REFUND_ISSUED.name:
            refund: payments_pb.RefundIssued = message
            return [
                Notice(
                    event.id,
                    Kind.REFUND_ISSUED,
                    refund.user_id,
                    f"refunds/{refund.refund_id}",
                    {
                        "amount": Money(refund.amount.amount_minor, refund.amount.currency),
                        "link": _paid_for(app_url, refund.booking_id),
                    },
                )
            ]
        case events.PAYOUT_PAID.name:
            paid: payments_pb.PayoutPaid = message
            return [
                Notice(
                    event.id,
                    Kind.PAYOUT_PAID,
                    paid.practitioner_user_id,
                    f"payouts/{paid.payout_id}",
                    {
                        "amount": Money(paid.amount.amount_minor, paid.amount.currency),
                        "link": f"{app_url}/payouts",
                    },
                )
            ]
        case events.PAYOUT_FAILED.name:
            refused: payments_pb.PayoutFailed = message
            return [
                Notice(
                    event.id,
                    Kind.PAYOUT_FAILED,
                    refused.practitioner_user_id,
                    f"payouts/{refused.payout_id}",
                    {
                        "amount": Money(refused.amount.amount_minor, refused.amount.currency),
                        "reason": refused.reason.replace("_", " "),
                        "link": f"{app_url}/payouts",
                    },
                )
            ]
        case events.SUBSCRIPTION_TIER_CHANGED.name:
            changed: payments_pb.SubscriptionTierChanged = message
            held = _TIER_NAMES.get(changed.tier)
            if held is None or not changed.user_id:
                return []
            return [
                Notice(
                    event.id,
                    Kind.PLATFORM_TIER_CHANGED,
                    changed.user_id,
                    f"users/{changed.user_id}/platformSubscription",
                    {
                        "tier": held,
                        "previous": _TIER_NAMES.get(changed.previous_tier, "Free"),
                        "limit": _SERVICE_LIMITS[held],
                        "link": f"{app_url}/subscription",
                    },
                )
            ]
    return []


# A tier as practitioners read it, and what it allows (catalog's limits, payments' rates).
_TIER_NAMES = {
    payments_pb.PLATFORM_TIER_FREE: "Free",
    payments_pb.PLATFORM_TIER_ENTRY: "Entry",
    payments_pb.PLATFORM_TIER_PREMIUM: "Premium",
}
_SERVICE_LIMITS = {"Free": "2 services", "Entry": "20 services", "Premium": "unlimited services"}


def _paid_for(app_url: str, booking_id: str) -> str:
    """Where a payment's notice points: its booking, or the payer's orders."""
    return f"{app_url}/bookings/{booking_id}" if booking_id else f"{app_url}/orders"
