"""Bodies of the routes that pay creators: tips to a stream or a post, posts' one-off
unlocks (payments' stream orders) and subscriptions to streams' paid tiers (payments' stream
subscriptions); and the revenue a creator reads (streams')."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from chassis.wire import ProtoNames, instant
from estuary.payments.v1 import events_pb2
from estuary.payments.v1 import payments_pb2 as pb
from estuary.streams.v1 import streams_pb2 as streams_pb
from gateway.schemas.catalog import Money, MoneyIn
from gateway.schemas.common import INT32_MAX, StrictBody, examples
from gateway.schemas.payments import CHECKOUT_STATUSES, CheckoutStatusName

STREAM_ORDER_KINDS = ProtoNames(events_pb2.StreamOrderKind)
STREAM_ORDER_STATUSES = ProtoNames(pb.StreamOrderStatus)
STREAM_SUBSCRIPTION_STATUSES = ProtoNames(events_pb2.StreamSubscriptionStatus)

if TYPE_CHECKING:
    StreamOrderKindName = str
    StreamOrderStatusName = str
    StreamSubscriptionStatusName = str
else:
    StreamOrderKindName = STREAM_ORDER_KINDS.literal
    StreamOrderStatusName = STREAM_ORDER_STATUSES.literal
    StreamSubscriptionStatusName = STREAM_SUBSCRIPTION_STATUSES.literal

EUR_5 = {"amount_minor": 500, "currency": "EUR"}
STREAM_ORDER = {
    "order_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a21",
    "kind": "tip",
    "stream_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a22",
    "post_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a23",
    "status": "open",
    "payment_status": "requires_payment_method",
    "amount": EUR_5,
    "credit_applied": {"amount_minor": 200, "currency": "EUR"},
    "amount_due": {"amount_minor": 300, "currency": "EUR"},
    "payment_intent_id": "pi_3Qk8sZ2eZvKYlo2C0x1y2z3d",
    "client_secret": "pi_3Qk8sZ2eZvKYlo2C0x1y2z3d_secret_9xYzAbCdEfGh",
    "created_at": "2026-03-10T09:30:00Z",
}


class TipBody(StrictBody):
    model_config = examples({"amount": EUR_5})
    amount: MoneyIn = Field(
        description="What to give, in the stream's currency: 1.00 to 500.00 of it by default "
        "(ESTUARY_TIP_MINIMUM, ESTUARY_TIP_MAXIMUM)."
    )


class StreamOrderOut(BaseModel):
    """A tip or a post's unlock and what your payment form needs to pay what is due."""

    model_config = examples(STREAM_ORDER)
    order_id: str
    kind: StreamOrderKindName = Field(
        description="tip, unlock (a post's one-off price), or subscription (a paid month of a "
        "subscription to a stream's tier)."
    )
    stream_id: str
    post_id: str | None = Field(description="None for a tip to the stream itself.")
    status: StreamOrderStatusName = Field(
        description="open (waiting for the card), paid (the creator's earning is recorded)."
    )
    payment_status: CheckoutStatusName
    amount: Money = Field(
        description="A tip's amount (yours); an unlock's price (the stream's, never yours)."
    )
    credit_applied: Money = Field(description="What your credits covered.")
    amount_due: Money = Field(description="What is left for the card.")
    payment_intent_id: str | None = Field(description="None when credits covered it all.")
    client_secret: str | None = Field(
        description="For Stripe.js (confirmCardPayment); None when nothing is due."
    )
    created_at: datetime

    @classmethod
    def from_proto(cls, o: pb.StreamOrder) -> StreamOrderOut:
        return cls.model_construct(
            order_id=o.name.removeprefix("streamOrders/"),
            kind=STREAM_ORDER_KINDS.from_proto(o.kind) or "tip",
            stream_id=o.stream.removeprefix("streams/"),
            post_id=o.post.rpartition("/")[2] or None,
            status=STREAM_ORDER_STATUSES.from_proto(o.status) or "open",
            payment_status=CHECKOUT_STATUSES.from_proto(o.payment_status)
            or "requires_payment_method",
            amount=Money.from_proto(o.amount),
            credit_applied=Money.from_proto(o.credit_applied),
            amount_due=Money.from_proto(o.amount_due),
            payment_intent_id=o.payment_intent_id or None,
            client_secret=o.client_secret or None,
            created_at=instant(o.create_time),
        )


STREAM_SUBSCRIPTION = {
    "subscription_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a24",
    "stream_id": STREAM_ORDER["stream_id"],
    "level": 2,
    "next_level": None,
    "granted_level": 2,
    "status": "active",
    "price": EUR_5,
    "current_period_end": "2026-04-09T09:30:00Z",
    "cancel_at_period_end": False,
    "failure_code": None,
    "created_at": "2026-03-10T09:30:00Z",
    "updated_at": "2026-03-10T09:30:00Z",
}


class StreamSubscribeBody(StrictBody):
    model_config = examples({"level": 2, "payment_method": "pm_card_visa"})
    level: int = Field(
        ge=1, le=INT32_MAX, description="The paid tier's level (its price is the stream's)."
    )
    payment_method: str = Field(
        min_length=1,
        max_length=100,
        description="The provider's payment method id (pm_...) from its card form; on the "
        "sandbox, a test one: pm_card_visa pays, pm_card_chargeDeclined is declined.",
    )


class StreamLevelBody(StrictBody):
    model_config = examples({"level": 1})
    level: int = Field(
        ge=1,
        le=INT32_MAX,
        description="Up: at once, the rest of the period charged now. Down: from the next "
        "period. The level held: undoes a downgrade asked for.",
    )


class StreamSubscriptionOut(BaseModel):
    """Your subscription to one of a stream's paid tiers, billed monthly."""

    model_config = examples(STREAM_SUBSCRIPTION)
    subscription_id: str
    stream_id: str
    level: int = Field(
        ge=0, le=INT32_MAX, description="The tier subscribed to (the paid period's)."
    )
    next_level: int | None = Field(
        ge=0,
        le=INT32_MAX,
        description="The level billed and granted from the next period when something "
        "changes there: a downgrade asked for, or the tier's new price (then your level).",
    )
    granted_level: int = Field(
        ge=0,
        le=INT32_MAX,
        description="The level it gives you now: its level while active, else 0 (free).",
    )
    status: StreamSubscriptionStatusName = Field(
        description="pending (first payment not made yet), active, past_due (a renewal is "
        "retried; nothing granted meanwhile), ended, failed (the first payment refused)."
    )
    price: Money = Field(
        description="The monthly price you are billed for this period: the tier's when you "
        "subscribed (or upgraded); a later change of the tier's price is billed from your "
        "next renewal, and shows here from then."
    )
    current_period_end: datetime | None = Field(
        description="The next renewal, or the end after a cancellation."
    )
    cancel_at_period_end: bool
    failure_code: str | None = Field(description="The provider's reason, when failed.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_proto(cls, s: pb.StreamSubscription) -> StreamSubscriptionOut:
        return cls.model_construct(
            subscription_id=s.name.removeprefix("streamSubscriptions/"),
            stream_id=s.stream.removeprefix("streams/"),
            level=s.level,
            next_level=s.next_level or None,
            granted_level=s.granted_level,
            status=STREAM_SUBSCRIPTION_STATUSES.from_proto(s.status) or "pending",
            price=Money.from_proto(s.price),
            current_period_end=(
                instant(s.current_period_end_time)
                if s.HasField("current_period_end_time")
                else None
            ),
            cancel_at_period_end=s.cancel_at_period_end,
            failure_code=s.failure_code or None,
            created_at=instant(s.create_time),
            updated_at=instant(s.update_time),
        )


AMOUNTS = {
    "currency": "EUR",
    "tips": {"amount_minor": 1500, "currency": "EUR"},
    "tip_count": 3,
    "unlocks": {"amount_minor": 600, "currency": "EUR"},
    "unlock_count": 2,
    "subscriptions": {"amount_minor": 1000, "currency": "EUR"},
    "subscription_count": 2,
    "earning": {"amount_minor": 2480, "currency": "EUR"},
}


class RevenueAmountsOut(BaseModel):
    """What readers paid in one currency, and the creator's share of it."""

    model_config = examples(AMOUNTS)
    currency: str
    tips: Money = Field(description="Tips to the stream and to its posts (what readers paid).")
    tip_count: int = Field(ge=0, le=INT32_MAX)
    unlocks: Money = Field(description="Posts' one-off unlocks (what readers paid).")
    unlock_count: int = Field(ge=0, le=INT32_MAX)
    subscriptions: Money = Field(
        description="Subscriptions' paid periods, first payments and renewals (what readers paid)."
    )
    subscription_count: int = Field(ge=0, le=INT32_MAX)
    earning: Money = Field(description="Your share of it all, less the platform's commission.")

    @classmethod
    def from_proto(cls, a: streams_pb.RevenueAmounts) -> RevenueAmountsOut:
        return cls.model_construct(
            currency=a.currency,
            tips=Money.from_proto(a.tips),
            tip_count=a.tip_count,
            unlocks=Money.from_proto(a.unlocks),
            unlock_count=a.unlock_count,
            subscriptions=Money.from_proto(a.subscriptions),
            subscription_count=a.subscription_count,
            earning=Money.from_proto(a.earning),
        )


class MonthRevenueOut(BaseModel):
    month: str = Field(description="A calendar month in UTC, e.g. 2026-03.")
    amounts: list[RevenueAmountsOut]


class PostRevenueOut(BaseModel):
    post_id: str
    amounts: list[RevenueAmountsOut]


class StreamRevenueOut(BaseModel):
    """What your stream's readers paid you (tips, unlocks and subscriptions): in all, per
    month (newest first) and per post (the most first), each per currency."""

    model_config = examples(
        {
            "stream_id": STREAM_ORDER["stream_id"],
            "totals": [AMOUNTS],
            "months": [{"month": "2026-03", "amounts": [AMOUNTS]}],
            "posts": [{"post_id": STREAM_ORDER["post_id"], "amounts": [AMOUNTS]}],
        }
    )
    stream_id: str
    totals: list[RevenueAmountsOut]
    months: list[MonthRevenueOut]
    posts: list[PostRevenueOut]

    @classmethod
    def from_proto(cls, r: streams_pb.StreamRevenue) -> StreamRevenueOut:
        def amounts(found: Iterable[streams_pb.RevenueAmounts]) -> list[RevenueAmountsOut]:
            return [RevenueAmountsOut.from_proto(a) for a in found]

        return cls.model_construct(
            stream_id=r.name.removeprefix("streams/").removesuffix("/revenue"),
            totals=amounts(r.totals),
            months=[
                MonthRevenueOut.model_construct(month=m.month, amounts=amounts(m.amounts))
                for m in r.months
            ],
            posts=[
                PostRevenueOut.model_construct(
                    post_id=p.post.rpartition("/")[2], amounts=amounts(p.amounts)
                )
                for p in r.posts
            ],
        )
