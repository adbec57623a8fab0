"""Bodies of the payments routes: checkout, the sandbox's card step, credits (top-ups, promo
codes), payouts and platform subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, Field

from chassis.wire import ProtoNames, instant
from estuary.payments.v1 import payments_pb2 as pb
from gateway.schemas.catalog import TIERS, Money, MoneyIn, TierName
from gateway.schemas.common import Int32, Page, StrictBody, examples, page_of

# As many clients as a promo code may serve (the payments service's bound).
MAX_REDEMPTIONS = 1_000_000
# One leg of a staff adjustment, either way: far past any real correction, and exact as a
# JSON number (int64's own bounds are not).
MAX_ADJUSTMENT_MINOR = 10**15

CHECKOUT_STATUSES = ProtoNames(pb.CheckoutStatus)

if TYPE_CHECKING:
    CheckoutStatusName = str
else:
    CheckoutStatusName = CHECKOUT_STATUSES.literal

ID = r"^[0-9a-f-]{36}$"
CHECKOUT = {
    "order_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a11",
    "booking_id": "5f0c8f64-2f2e-4f8e-8a8e-0c1f1f6f2b7d",
    "status": "requires_payment_method",
    "amount": {"amount_minor": 4500, "currency": "EUR"},
    "credit_applied": {"amount_minor": 1000, "currency": "EUR"},
    "amount_due": {"amount_minor": 3500, "currency": "EUR"},
    "payment_intent_id": "pi_3Qk8sZ2eZvKYlo2C0x1y2z3a",
    "client_secret": "pi_3Qk8sZ2eZvKYlo2C0x1y2z3a_secret_9xYzAbCdEfGh",
    "created_at": "2026-03-10T09:30:00Z",
}


class CheckoutBody(StrictBody):
    model_config = examples({"booking_id": CHECKOUT["booking_id"]})
    booking_id: str = Field(pattern=ID, description="A booking of yours awaiting payment.")


class CheckoutOut(BaseModel):
    """An order and what the client's payment form needs to pay what is due."""

    model_config = examples(CHECKOUT)
    order_id: str = Field(
        description="The order; from the sandbox's card step on a credit top-up's intent, the "
        "top-up's id (booking_id is empty then)."
    )
    booking_id: str
    status: CheckoutStatusName
    amount: Money = Field(description="The booking's price (booking's, never the client's).")
    credit_applied: Money = Field(description="What the client's credits covered.")
    amount_due: Money = Field(description="What is left for the card.")
    payment_intent_id: str | None = Field(description="None when credits covered it all.")
    client_secret: str | None = Field(
        description="For Stripe.js (confirmCardPayment); None when nothing is due."
    )
    created_at: datetime

    @classmethod
    def from_proto(cls, c: pb.Checkout) -> CheckoutOut:
        return cls.model_construct(
            # The sandbox's card step on a credit top-up's intent names the top-up.
            order_id=c.name.rpartition("/")[2],
            booking_id=c.booking_id,
            status=CHECKOUT_STATUSES.from_proto(c.status) or "requires_payment_method",
            amount=Money.from_proto(c.amount),
            credit_applied=Money.from_proto(c.credit_applied),
            amount_due=Money.from_proto(c.amount_due),
            payment_intent_id=c.payment_intent_id or None,
            client_secret=c.client_secret or None,
            created_at=instant(c.create_time),
        )


class SandboxConfirmBody(StrictBody):
    model_config = examples({"payment_method": "pm_card_visa"})
    payment_method: str = Field(
        min_length=1,
        max_length=100,
        description="A test payment method: pm_card_visa pays, pm_card_chargeDeclined is "
        "declined, pm_card_authenticationRequired waits for 3-D Secure.",
    )


class WebhookReceived(BaseModel):
    model_config = examples({"event_id": "evt_1Qk8sZ2eZvKYlo2C", "applied": True})
    event_id: str
    applied: bool = Field(description="False for an event already applied (a redelivery).")


PAYOUT_STATUSES = ProtoNames(pb.PayoutStatus)

if TYPE_CHECKING:
    PayoutStatusName = str
else:
    PayoutStatusName = PAYOUT_STATUSES.literal

PAYOUT_ACCOUNT = {
    "account_id": "acct_1Qk8sZ2eZvKYlo2C",
    "payouts_enabled": False,
    "created_at": "2026-03-10T09:30:00Z",
}
PAYOUT = {
    "payout_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a12",
    "amount": {"amount_minor": 8000, "currency": "EUR"},
    "status": "submitted",
    "failure_code": None,
    "created_at": "2026-03-10T09:30:00Z",
    "updated_at": "2026-03-10T09:30:00Z",
}


class PayoutAccountOut(BaseModel):
    """A practitioner's Stripe Connect account and whether it may be paid out yet."""

    model_config = examples(PAYOUT_ACCOUNT)
    account_id: str = Field(description="The provider's account id.")
    payouts_enabled: bool = Field(description="Onboarding is done: payouts may be made.")
    created_at: datetime

    @classmethod
    def from_proto(cls, a: pb.PayoutAccount) -> PayoutAccountOut:
        return cls.model_construct(
            account_id=a.account_id,
            payouts_enabled=a.payouts_enabled,
            created_at=instant(a.create_time),
        )


class PayoutOnboardingOut(BaseModel):
    """The account, and where to send the practitioner to onboard it."""

    model_config = examples(
        {
            "payout_account": PAYOUT_ACCOUNT,
            "onboarding_url": "https://connect.stripe.com/setup/e/acct_1Qk8sZ2eZvKYlo2C/x1y2z3",
        }
    )
    payout_account: PayoutAccountOut
    onboarding_url: str = Field(description="Single-use; it expires within minutes.")

    @classmethod
    def from_proto(cls, o: pb.PayoutAccountOnboarding) -> PayoutOnboardingOut:
        return cls.model_construct(
            payout_account=PayoutAccountOut.from_proto(o.payout_account),
            onboarding_url=o.onboarding_url,
        )


class PayoutBody(StrictBody):
    model_config = examples({"currency": "EUR"})
    currency: str = Field(
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217: the currency whose whole available balance is paid out.",
    )


class PayoutOut(BaseModel):
    """A payout of a practitioner's available earnings to their bank."""

    model_config = examples(PAYOUT)
    payout_id: str
    amount: Money
    status: PayoutStatusName = Field(
        description="pending (the provider not yet told), submitted, paid, or failed (its "
        "money available again)."
    )
    failure_code: str | None = Field(description="The provider's, when failed.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_proto(cls, p: pb.Payout) -> PayoutOut:
        return cls.model_construct(
            payout_id=p.name.removeprefix("payouts/"),
            amount=Money.from_proto(p.amount),
            status=PAYOUT_STATUSES.from_proto(p.status) or "pending",
            failure_code=p.failure_code or None,
            created_at=instant(p.create_time),
            updated_at=instant(p.update_time),
        )


SUBSCRIPTION_STATUSES = ProtoNames(pb.PlatformSubscriptionStatus)

if TYPE_CHECKING:
    SubscriptionStatusName = str
else:
    SubscriptionStatusName = SUBSCRIPTION_STATUSES.literal

PLATFORM_SUBSCRIPTION = {
    "subscription_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a13",
    "tier": "premium",
    "next_tier": "entry",
    "held_tier": "premium",
    "status": "active",
    "current_period_end": "2026-04-09T09:30:00Z",
    "cancel_at_period_end": False,
    "failure_code": None,
    "created_at": "2026-03-10T09:30:00Z",
    "updated_at": "2026-03-25T14:00:00Z",
}


class SubscribeBody(StrictBody):
    model_config = examples({"tier": "entry", "payment_method": "pm_card_visa"})
    tier: Literal["entry", "premium"] = Field(description="The paid tier to subscribe to.")
    payment_method: str = Field(
        min_length=1,
        max_length=100,
        description="The provider's payment method id (pm_...) from its card form; on the "
        "sandbox, a test one: pm_card_visa pays, pm_card_chargeDeclined is declined.",
    )


class TierChangeBody(StrictBody):
    model_config = examples({"tier": "premium"})
    tier: Literal["free", "entry", "premium"] = Field(
        description="Up: at once, the rest of the period charged now. Down: from the next "
        "period. free: cancels at the period's end."
    )


class PlatformSubscriptionOut(BaseModel):
    """A practitioner's subscription to a paid platform tier (service limit, commission)."""

    model_config = examples(PLATFORM_SUBSCRIPTION)
    subscription_id: str
    tier: TierName = Field(description="The tier subscribed to (the paid period's).")
    next_tier: TierName | None = Field(
        description="A downgrade asked for, billed and held from the next period."
    )
    held_tier: TierName = Field(
        description="The tier this subscription gives now: its tier while active or past "
        "due, else free."
    )
    status: SubscriptionStatusName = Field(
        description="pending (first payment not made yet), active, past_due (a renewal is "
        "retried; the tier kept), ended (back to free), failed (the first payment refused)."
    )
    current_period_end: datetime | None = Field(
        description="The next renewal, or the end after a cancellation."
    )
    cancel_at_period_end: bool
    failure_code: str | None = Field(description="The provider's reason, when failed.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_proto(cls, s: pb.PlatformSubscription) -> PlatformSubscriptionOut:
        return cls.model_construct(
            subscription_id=s.name.removeprefix("platformSubscriptions/"),
            tier=TIERS.from_proto(s.tier) or "free",
            next_tier=TIERS.from_proto(s.next_tier),
            held_tier=TIERS.from_proto(s.held_tier) or "free",
            status=SUBSCRIPTION_STATUSES.from_proto(s.status) or "pending",
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


CREDIT_PURCHASE_STATUSES = ProtoNames(pb.CreditPurchaseStatus)
TRANSACTION_KINDS = ProtoNames(pb.TransactionKind)

if TYPE_CHECKING:
    CreditPurchaseStatusName = str
    TransactionKindName = str
else:
    CreditPurchaseStatusName = CREDIT_PURCHASE_STATUSES.literal
    TransactionKindName = TRANSACTION_KINDS.literal

EUR_25 = {"amount_minor": 2500, "currency": "EUR"}
TOP_UP = {
    "top_up_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a14",
    "status": "pending",
    "amount": EUR_25,
    "payment_intent_id": "pi_3Qk8sZ2eZvKYlo2C0x1y2z3b",
    "client_secret": "pi_3Qk8sZ2eZvKYlo2C0x1y2z3b_secret_9xYzAbCdEfGh",
    "failure_code": None,
    "created_at": "2026-03-10T09:30:00Z",
    "updated_at": "2026-03-10T09:30:00Z",
}
PROMO_CODE = {
    "promo_code_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a15",
    "code": "SPRING-26",
    "amount": {"amount_minor": 1000, "currency": "EUR"},
    "max_redemptions": 100,
    "redemptions": 12,
    "expires_at": "2026-06-01T00:00:00Z",
    "created_at": "2026-03-01T09:00:00Z",
}
MOVEMENT = {
    "movement_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a16",
    "kind": "credit_spend",
    "amount": {"amount_minor": -4500, "currency": "EUR"},
    "booking_id": CHECKOUT["booking_id"],
    "description": "credits applied at checkout",
    "created_at": "2026-03-10T09:30:00Z",
}


class TopUpBody(StrictBody):
    model_config = examples({"amount": EUR_25})
    amount: MoneyIn = Field(
        description="What to add to your credit by card: 5.00 to 500.00 of the currency by "
        "default (ESTUARY_CREDIT_TOP_UP_MINIMUM, ESTUARY_CREDIT_TOP_UP_MAXIMUM)."
    )


class TopUpOut(BaseModel):
    """A top-up of your credit by card and what your payment form needs to pay it."""

    model_config = examples(TOP_UP)
    top_up_id: str
    status: CreditPurchaseStatusName = Field(
        description="pending (waiting for the card), paid (the amount is in your credit), "
        "failed (the card was refused: confirm the same intent with another card)."
    )
    amount: Money
    payment_intent_id: str = Field(description="The payment intent to confirm.")
    client_secret: str = Field(description="For Stripe.js (confirmCardPayment).")
    failure_code: str | None = Field(description="The provider's reason, when failed.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_proto(cls, p: pb.CreditPurchase) -> TopUpOut:
        return cls.model_construct(
            top_up_id=p.name.removeprefix("creditPurchases/"),
            status=CREDIT_PURCHASE_STATUSES.from_proto(p.status) or "pending",
            amount=Money.from_proto(p.amount),
            payment_intent_id=p.payment_intent_id,
            client_secret=p.client_secret,
            failure_code=p.failure_code or None,
            created_at=instant(p.create_time),
            updated_at=instant(p.update_time),
        )


GIFT_CARD = {
    "gift_card_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a17",
    "status": "pending",
    "amount": EUR_25,
    "payment_intent_id": "pi_3Qk8sZ2eZvKYlo2C0x1y2z3c",
    "client_secret": "pi_3Qk8sZ2eZvKYlo2C0x1y2z3c_secret_9xYzAbCdEfGh",
    "code": "H7KQ-2MXP-RT9B-WC4N-ZJ6E",
    "redeem_by": "2027-03-10T09:30:00Z",
    "created_at": "2026-03-10T09:30:00Z",
}


class GiftCardBody(StrictBody):
    model_config = examples({"amount": EUR_25})
    amount: MoneyIn = Field(
        description="The card's value, paid by card: within the credit top-up bounds (5.00 to "
        "500.00 of the currency by default)."
    )


class GiftCardOut(BaseModel):
    """A gift card you bought, what your payment form needs to pay it, and its code: shown
    in this answer only."""

    model_config = examples(GIFT_CARD)
    gift_card_id: str
    status: CreditPurchaseStatusName = Field(
        description="pending (waiting for the card), paid (it may be redeemed), failed (the "
        "card was refused: confirm the same intent with another card)."
    )
    amount: Money
    payment_intent_id: str = Field(description="The payment intent to confirm.")
    client_secret: str = Field(description="For Stripe.js (confirmCardPayment).")
    code: str | None = Field(
        description="The code that redeems it, to give to whoever it is for. Shown here only: "
        "a retry with the same Idempotency-Key answers a new code while the card is not paid "
        "for (the earlier one no longer works), none once it is."
    )
    redeem_by: datetime = Field(description="Until when it may be redeemed.")
    created_at: datetime

    @classmethod
    def from_proto(cls, p: pb.GiftCard) -> GiftCardOut:
        return cls.model_construct(
            gift_card_id=p.name.removeprefix("giftCards/"),
            status=CREDIT_PURCHASE_STATUSES.from_proto(p.status) or "pending",
            amount=Money.from_proto(p.amount),
            payment_intent_id=p.payment_intent_id,
            client_secret=p.client_secret,
            code=p.code or None,
            redeem_by=instant(p.redeem_expire_time),
            created_at=instant(p.create_time),
        )


class GiftCardRedeemBody(StrictBody):
    model_config = examples({"code": GIFT_CARD["code"]})
    code: str = Field(
        min_length=1,
        max_length=40,
        description="The gift card's code (case, spaces and dashes ignored).",
    )


class GiftCardRedemptionOut(BaseModel):
    """A gift card you redeemed: what it put in your credit, and when what is left of that
    expires."""

    model_config = examples(
        {
            "gift_card_id": GIFT_CARD["gift_card_id"],
            "amount": EUR_25,
            "redeemed_at": "2026-03-12T09:30:00Z",
            "credit_expires_at": "2027-03-12T09:30:00Z",
        }
    )
    gift_card_id: str
    amount: Money
    redeemed_at: datetime
    credit_expires_at: datetime

    @classmethod
    def from_proto(cls, r: pb.GiftCardRedemption) -> GiftCardRedemptionOut:
        return cls.model_construct(
            gift_card_id=r.gift_card.removeprefix("giftCards/"),
            amount=Money.from_proto(r.amount),
            redeemed_at=instant(r.redeem_time),
            credit_expires_at=instant(r.credit_expire_time),
        )


class CreditMovementOut(BaseModel):
    """One movement of your credit: a top-up (credit_purchase), a promo code (promotion), a
    gift card (gift_card_redemption), a spend at checkout (credit_spend), a refund to credit
    (refund) or given credit that expired unspent (credit_expiry)."""

    model_config = examples(MOVEMENT)
    movement_id: str
    kind: TransactionKindName
    amount: Money = Field(description="Into (positive) or out of (negative) your credit.")
    booking_id: str | None = Field(description="The booking it paid or refunded, if any.")
    description: str
    created_at: datetime

    @classmethod
    def from_proto(cls, m: pb.CreditMovement) -> CreditMovementOut:
        return cls.model_construct(
            movement_id=m.id,
            kind=TRANSACTION_KINDS.from_proto(m.kind) or "adjustment",
            amount=Money.from_proto(m.amount),
            booking_id=m.booking_id or None,
            description=m.description,
            created_at=instant(m.create_time),
        )


class CreditsOut(BaseModel):
    """Your credit: the balance in each currency, and its movements, newest first."""

    model_config = examples(
        {
            "balances": [EUR_25],
            "history": {
                "results": [MOVEMENT],
                "next_cursor": None,
                "has_more": False,
                "total": 1,
            },
        }
    )
    balances: list[Money] = Field(description="One per currency you have held credit in.")
    history: Page[CreditMovementOut]

    @classmethod
    def from_proto(cls, c: pb.Credits) -> CreditsOut:
        return cls.model_construct(
            balances=[Money.from_proto(b) for b in c.balances],
            history=page_of(
                [CreditMovementOut.from_proto(m) for m in c.movements],
                c.next_page_token,
                c.total_size,
            ),
        )


class RedeemBody(StrictBody):
    model_config = examples({"code": "SPRING-26"})
    code: str = Field(
        min_length=1, max_length=40, description="The promo code (matched whatever its case)."
    )


class RedemptionOut(BaseModel):
    """A promo code you redeemed and what it put in your credit."""

    model_config = examples(
        {"code": "SPRING-26", "amount": PROMO_CODE["amount"], "redeemed_at": "2026-03-10T09:30:00Z"}
    )
    code: str
    amount: Money
    redeemed_at: datetime

    @classmethod
    def from_proto(cls, r: pb.PromoCodeRedemption) -> RedemptionOut:
        return cls.model_construct(
            code=r.code, amount=Money.from_proto(r.amount), redeemed_at=instant(r.redeem_time)
        )


class PromoCodeBody(StrictBody):
    model_config = examples(
        {
            "code": "SPRING-26",
            "amount": PROMO_CODE["amount"],
            "max_redemptions": 100,
            "expires_at": "2026-06-01T00:00:00Z",
        }
    )
    code: str = Field(
        min_length=3,
        max_length=40,
        description="3 to 40 letters, digits, - or _, starting with a letter or digit; kept "
        "in upper case.",
    )
    amount: MoneyIn = Field(description="The credit each redemption gives (above zero).")
    max_redemptions: int = Field(
        ge=1, le=MAX_REDEMPTIONS, description="How many clients may redeem it, each once."
    )
    expires_at: AwareDatetime = Field(description="When it stops being redeemable (future).")


class PromoCodeOut(BaseModel):
    """A promo code staff made, and how many clients redeemed it."""

    model_config = examples(PROMO_CODE)
    promo_code_id: str
    code: str
    amount: Money
    max_redemptions: Int32
    redemptions: Int32
    expires_at: datetime
    created_at: datetime

    @classmethod
    def from_proto(cls, p: pb.PromoCode) -> PromoCodeOut:
        return cls.model_construct(
            promo_code_id=p.name.removeprefix("promoCodes/"),
            code=p.code,
            amount=Money.from_proto(p.amount),
            max_redemptions=p.max_redemptions,
            redemptions=p.redemptions,
            expires_at=instant(p.expire_time),
            created_at=instant(p.create_time),
        )


ORDER_STATUSES = ProtoNames(pb.OrderStatus)
ACCOUNT_KINDS = ProtoNames(pb.AccountKind)

if TYPE_CHECKING:
    OrderStatusName = str
else:
    OrderStatusName = ORDER_STATUSES.literal

if TYPE_CHECKING:
    AccountKindName = str
else:
    AccountKindName = ACCOUNT_KINDS.literal

REFUND = {
    "transaction_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a15",
    "amount": {"amount_minor": 2250, "currency": "EUR"},
    "to_card": {"amount_minor": 1750, "currency": "EUR"},
    "to_credit": {"amount_minor": 500, "currency": "EUR"},
    "created_at": "2026-03-11T10:00:00Z",
}
CLIENT_PAYMENT = {
    "order_id": CHECKOUT["order_id"],
    "booking_id": CHECKOUT["booking_id"],
    "status": "paid",
    "amount": CHECKOUT["amount"],
    "credit_applied": CHECKOUT["credit_applied"],
    "created_at": "2026-03-10T09:30:00Z",
    "refunds": [REFUND],
}
LEDGER_ACCOUNT = {
    "account_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a16",
    "owner": "users/5f0c8f64-2f2e-4f8e-8a8e-0c1f1f6f2b7e",
    "kind": "client_credit",
    "currency": "EUR",
    "balance": {"amount_minor": 1000, "currency": "EUR"},
    "non_negative": True,
    "created_at": "2026-03-10T09:30:00Z",
}
LEDGER_ENTRY = {
    "transaction_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a17",
    "transaction_kind": "adjustment",
    "amount": {"amount_minor": -250, "currency": "EUR"},
    "balance_after": {"amount_minor": 750, "currency": "EUR"},
    "description": "credit granted twice by a support ticket",
    "created_at": "2026-03-12T08:00:00Z",
}
POSTING = {
    "owner": "users/5f0c8f64-2f2e-4f8e-8a8e-0c1f1f6f2b7e",
    "kind": "client_credit",
    "amount": {"amount_minor": -250, "currency": "EUR"},
}


class RefundOut(BaseModel):
    """Money given back on an order: to the card and to the client's credit."""

    transaction_id: str
    amount: Money = Field(description="All of it: to_card + to_credit.")
    to_card: Money
    to_credit: Money
    created_at: datetime

    @classmethod
    def from_proto(cls, r: pb.PaymentRefund) -> RefundOut:
        return cls.model_construct(
            transaction_id=r.transaction_id,
            amount=Money.from_proto(r.amount),
            to_card=Money.from_proto(r.to_card),
            to_credit=Money.from_proto(r.to_credit),
            created_at=instant(r.create_time),
        )


class ClientPaymentOut(BaseModel):
    """One of your checkouts: what it cost, what credits covered, and its refunds."""

    model_config = examples(CLIENT_PAYMENT)
    order_id: str
    booking_id: str
    status: OrderStatusName = Field(
        description="open (waiting for the card), paid, or released (the booking ended "
        "unpaid: credits given back)."
    )
    amount: Money = Field(description="The booking's price.")
    credit_applied: Money
    created_at: datetime
    refunds: list[RefundOut] = Field(description="Oldest first.")

    @classmethod
    def from_proto(cls, p: pb.ClientPayment) -> ClientPaymentOut:
        return cls.model_construct(
            order_id=p.name.removeprefix("orders/"),
            booking_id=p.booking_id,
            status=ORDER_STATUSES.from_proto(p.status) or "open",
            amount=Money.from_proto(p.amount),
            credit_applied=Money.from_proto(p.credit_applied),
            created_at=instant(p.create_time),
            refunds=[RefundOut.from_proto(r) for r in p.refunds],
        )


class LedgerAccountOut(BaseModel):
    """A ledger account and its balance (staff)."""

    model_config = examples(LEDGER_ACCOUNT)
    account_id: str
    owner: str = Field(description='"users/{user_id}", "platform" or "external".')
    kind: AccountKindName
    currency: str
    balance: Money = Field(description="The sum of its postings.")
    non_negative: bool = Field(description="Whether it must never go below zero.")
    created_at: datetime

    @classmethod
    def from_proto(cls, a: pb.LedgerAccountBalance) -> LedgerAccountOut:
        return cls.model_construct(
            account_id=a.name.removeprefix("ledgerAccounts/"),
            owner=a.account.owner,
            kind=ACCOUNT_KINDS.from_proto(a.account.kind) or "external",
            currency=a.account.currency,
            balance=Money.from_proto(a.balance),
            non_negative=a.non_negative,
            created_at=instant(a.create_time),
        )


class LedgerEntryOut(BaseModel):
    """One posting on an account, with the balance it left (staff)."""

    model_config = examples(LEDGER_ENTRY)
    transaction_id: str
    transaction_kind: TransactionKindName
    amount: Money = Field(description="Into (positive) or out of (negative) the account.")
    balance_after: Money
    description: str
    created_at: datetime

    @classmethod
    def from_proto(cls, e: pb.LedgerEntry) -> LedgerEntryOut:
        return cls.model_construct(
            transaction_id=e.transaction_id,
            transaction_kind=TRANSACTION_KINDS.from_proto(e.transaction_kind) or "adjustment",
            amount=Money.from_proto(e.amount),
            balance_after=Money.from_proto(e.balance_after),
            description=e.description,
            created_at=instant(e.create_time),
        )


class AdjustmentLegBody(StrictBody):
    account_id: str = Field(pattern=ID, description="A ledger account in the currency.")
    amount_minor: int = Field(
        ge=-MAX_ADJUSTMENT_MINOR,
        le=MAX_ADJUSTMENT_MINOR,
        description="Into (positive) or out of (negative) the account, never zero.",
    )


class AdjustmentBody(StrictBody):
    model_config = examples(
        {
            "reason": LEDGER_ENTRY["description"],
            "currency": "EUR",
            "legs": [
                {"account_id": LEDGER_ACCOUNT["account_id"], "amount_minor": -250},
                {"account_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a18", "amount_minor": 250},
            ],
        }
    )
    reason: str = Field(min_length=1, max_length=500, description="Why; filed in the audit log.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217: every leg's account's.")
    legs: list[AdjustmentLegBody] = Field(
        min_length=2, max_length=20, description="On distinct accounts, summing to zero."
    )


class PostingOut(BaseModel):
    owner: str
    kind: AccountKindName
    amount: Money

    @classmethod
    def from_proto(cls, p: pb.Posting) -> PostingOut:
        return cls.model_construct(
            owner=p.account.owner,
            kind=ACCOUNT_KINDS.from_proto(p.account.kind) or "external",
            amount=Money.from_proto(p.amount),
        )


class LedgerTransactionOut(BaseModel):
    """One balanced ledger transaction and its postings."""

    model_config = examples(
        {
            "transaction_id": LEDGER_ENTRY["transaction_id"],
            "kind": "adjustment",
            "description": LEDGER_ENTRY["description"],
            "created_at": LEDGER_ENTRY["created_at"],
            "postings": [
                POSTING,
                {
                    "owner": "platform",
                    "kind": "platform_revenue",
                    "amount": {"amount_minor": 250, "currency": "EUR"},
                },
            ],
        }
    )
    transaction_id: str
    kind: TransactionKindName
    description: str
    created_at: datetime
    postings: list[PostingOut]

    @classmethod
    def from_proto(cls, t: pb.LedgerTransaction) -> LedgerTransactionOut:
        return cls.model_construct(
            transaction_id=t.id,
            kind=TRANSACTION_KINDS.from_proto(t.kind) or "adjustment",
            description=t.description,
            created_at=instant(t.create_time),
            postings=[PostingOut.from_proto(p) for p in t.postings],
        )
