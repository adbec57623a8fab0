"""Payments' proto mapping: enums, money, ledger transactions, earnings summaries, checkouts,
credits, payouts, platform subscriptions, stream orders and stream subscriptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from chassis.money import Money
from chassis.wire import ProtoEnum, timestamp
from estuary.payments.v1 import events_pb2
from estuary.payments.v1 import payments_pb2 as pb
from estuary.type.v1 import money_pb2
from services.payments.domain.credits import (
    CreditPurchase,
    CreditPurchaseStatus,
    GiftCardRedemption,
    PromoCode,
    Redemption,
)
from services.payments.domain.earnings import Tier
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Transaction,
    TransactionKind,
)
from services.payments.domain.orders import OrderStatus
from services.payments.domain.payouts import Payout, PayoutAccount, PayoutStatus
from services.payments.domain.stream_orders import StreamOrderKind, StreamOrderStatus
from services.payments.domain.stream_subscriptions import StreamSubscription
from services.payments.domain.subscriptions import PlatformSubscription, SubscriptionStatus
from services.payments.provider.port import PaymentStatus

if TYPE_CHECKING:
    # The handlers import this module's mappings (through events), so the view is named for
    # the checker only: importing it here first made a cycle whichever module came first.
    from services.payments.repository import AccountBalance, Entry
    from services.payments.service_layer.checkout import CheckoutView
    from services.payments.service_layer.client_payments import ClientPayment
    from services.payments.service_layer.credits import (
        CreditPurchaseView,
        Credits,
        GiftCardView,
    )
    from services.payments.service_layer.stream_orders import StreamOrderView

TIERS = ProtoEnum(events_pb2.PlatformTier, Tier)
ACCOUNT_KINDS = ProtoEnum(pb.AccountKind, AccountKind)
TRANSACTION_KINDS = ProtoEnum(pb.TransactionKind, TransactionKind)
PAYOUT_STATUSES = ProtoEnum(pb.PayoutStatus, PayoutStatus)
SUBSCRIPTION_STATUSES = ProtoEnum(pb.PlatformSubscriptionStatus, SubscriptionStatus)
CREDIT_PURCHASE_STATUSES = ProtoEnum(pb.CreditPurchaseStatus, CreditPurchaseStatus)
ORDER_STATUSES = ProtoEnum(pb.OrderStatus, OrderStatus)
STREAM_ORDER_KINDS = ProtoEnum(events_pb2.StreamOrderKind, StreamOrderKind)
STREAM_ORDER_STATUSES = ProtoEnum(pb.StreamOrderStatus, StreamOrderStatus)
STREAM_SUBSCRIPTION_STATUSES = ProtoEnum(events_pb2.StreamSubscriptionStatus, SubscriptionStatus)


def money(value: Money) -> money_pb2.Money:
    return value.to_proto()


def owner_name(owner: str) -> str:
    """An account owner as the API names it: "users/{id}", "platform" or "external"."""
    return owner if owner in (PLATFORM, EXTERNAL) else f"users/{owner}"


def account_to_proto(account: Account) -> pb.LedgerAccount:
    return pb.LedgerAccount(
        owner=owner_name(account.owner),
        kind=ACCOUNT_KINDS.to_proto(account.kind),
        currency=account.currency,
    )


def transaction_to_proto(transaction: Transaction) -> pb.LedgerTransaction:
    return pb.LedgerTransaction(
        id=transaction.id,
        kind=TRANSACTION_KINDS.to_proto(transaction.kind),
        cause=transaction.cause,
        booking_id=transaction.booking_id,
        description=transaction.description,
        create_time=timestamp(transaction.created_at),
        postings=[
            pb.Posting(account=account_to_proto(p.account), amount=money(p.amount))
            for p in transaction.postings
        ],
    )


def summary_to_proto(name: str, balances: Mapping[Account, int]) -> pb.EarningsSummary:
    """A practitioner's pending, available and paid-out balances, one entry per currency."""
    kinds = {
        AccountKind.PRACTITIONER_PENDING: "pending",
        AccountKind.PRACTITIONER_AVAILABLE: "available",
        AccountKind.PRACTITIONER_PAID_OUT: "paid_out",
    }
    by_currency: dict[str, dict[str, int]] = {}
    for account, balance in balances.items():
        if account.kind in kinds:
            by_currency.setdefault(account.currency, {})[kinds[account.kind]] = balance
    return pb.EarningsSummary(
        name=name,
        currencies=[
            pb.CurrencyEarnings(
                currency=currency,
                **{
                    field: money(Money(amounts.get(field, 0), currency)) for field in kinds.values()
                },
            )
            for currency, amounts in sorted(by_currency.items())
        ],
    )


CHECKOUT_STATUSES = {
    PaymentStatus.REQUIRES_PAYMENT_METHOD: pb.CHECKOUT_STATUS_REQUIRES_PAYMENT_METHOD,
    PaymentStatus.REQUIRES_CONFIRMATION: pb.CHECKOUT_STATUS_REQUIRES_PAYMENT_METHOD,
    PaymentStatus.REQUIRES_ACTION: pb.CHECKOUT_STATUS_REQUIRES_ACTION,
    PaymentStatus.PROCESSING: pb.CHECKOUT_STATUS_PROCESSING,
    PaymentStatus.REQUIRES_CAPTURE: pb.CHECKOUT_STATUS_PROCESSING,
    PaymentStatus.SUCCEEDED: pb.CHECKOUT_STATUS_SUCCEEDED,
    PaymentStatus.CANCELED: pb.CHECKOUT_STATUS_CANCELED,
}


def checkout_to_proto(view: CheckoutView) -> pb.Checkout:
    """An order and its payment's state, as the client's payment form needs them."""
    order = view.order
    return pb.Checkout(
        name=f"orders/{order.id}",
        booking_id=order.booking_id,
        status=CHECKOUT_STATUSES[view.status],
        amount=money(order.amount),
        credit_applied=money(order.credit),
        amount_due=money(order.card),
        payment_intent_id=order.payment_intent_id or "",
        client_secret=order.client_secret,
        create_time=timestamp(order.created_at),
    )


def top_up_checkout_to_proto(view: CreditPurchaseView) -> pb.Checkout:
    """A credit top-up's intent as the sandbox's card step answers it: nothing of a booking,
    all of its amount due by card."""
    purchase = view.purchase
    return pb.Checkout(
        name=f"creditPurchases/{purchase.id}",
        status=CHECKOUT_STATUSES[view.status],
        amount=money(purchase.amount),
        credit_applied=money(Money(0, purchase.amount.currency)),
        amount_due=money(purchase.amount),
        payment_intent_id=purchase.payment_intent_id or "",
        client_secret=purchase.client_secret,
        create_time=timestamp(purchase.created_at),
    )


def stream_order_to_proto(view: StreamOrderView) -> pb.StreamOrder:
    """A tip or unlock and its payment's state, as the client's payment form needs them."""
    order = view.order
    stream = f"streams/{order.stream_id}"
    return pb.StreamOrder(
        name=order.name,
        kind=STREAM_ORDER_KINDS.to_proto(order.kind),  # type: ignore[arg-type]
        stream=stream,
        post=f"{stream}/posts/{order.post_id}" if order.post_id else "",
        status=STREAM_ORDER_STATUSES.to_proto(order.status),  # type: ignore[arg-type]
        amount=money(order.amount),
        credit_applied=money(order.credit),
        amount_due=money(order.card),
        payment_intent_id=order.payment_intent_id or "",
        client_secret=order.client_secret,
        payment_status=CHECKOUT_STATUSES[view.status],
        create_time=timestamp(order.created_at),
    )


def stream_order_checkout_to_proto(view: StreamOrderView) -> pb.Checkout:
    """A stream order's intent as the sandbox's card step answers it: nothing of a booking."""
    order = view.order
    return pb.Checkout(
        name=order.name,
        status=CHECKOUT_STATUSES[view.status],
        amount=money(order.amount),
        credit_applied=money(order.credit),
        amount_due=money(order.card),
        payment_intent_id=order.payment_intent_id or "",
        client_secret=order.client_secret,
        create_time=timestamp(order.created_at),
    )


def credit_purchase_to_proto(purchase: CreditPurchase) -> pb.CreditPurchase:
    return pb.CreditPurchase(
        name=f"creditPurchases/{purchase.id}",
        amount=money(purchase.amount),
        status=CREDIT_PURCHASE_STATUSES.to_proto(purchase.status),
        payment_intent_id=purchase.payment_intent_id or "",
        client_secret=purchase.client_secret,
        failure_code=purchase.failure_code,
        create_time=timestamp(purchase.created_at),
        update_time=timestamp(purchase.updated_at),
    )


def credits_to_proto(credits: Credits) -> pb.Credits:
    """A client's balances by currency and a page of their credit's movements (each the sum
    of the transaction's postings on their credit)."""
    return pb.Credits(
        balances=[money(Money(b, c)) for c, b in sorted(credits.balances.items())],
        movements=[
            pb.CreditMovement(
                id=t.id,
                kind=TRANSACTION_KINDS.to_proto(t.kind),
                amount=money(Money(sum(p.amount_minor for p in t.postings), currency)),
                booking_id=t.booking_id,
                description=t.description,
                create_time=timestamp(t.created_at),
            )
            for t in credits.history.items
            for currency in sorted({p.account.currency for p in t.postings})
        ],
        next_page_token=credits.history.next_page_token,
        total_size=credits.history.total,
    )


def redemption_to_proto(redemption: Redemption) -> pb.PromoCodeRedemption:
    return pb.PromoCodeRedemption(
        code=redemption.code,
        amount=money(redemption.amount),
        redeem_time=timestamp(redemption.redeemed_at),
    )


def gift_card_to_proto(view: GiftCardView) -> pb.GiftCard:
    purchase = view.purchase
    return pb.GiftCard(
        name=f"giftCards/{purchase.id}",
        amount=money(purchase.amount),
        status=CREDIT_PURCHASE_STATUSES.to_proto(purchase.status),
        payment_intent_id=purchase.payment_intent_id or "",
        client_secret=purchase.client_secret,
        code=view.code,
        redeem_expire_time=timestamp(view.redeem_by),
        create_time=timestamp(purchase.created_at),
    )


def gift_card_redemption_to_proto(redemption: GiftCardRedemption) -> pb.GiftCardRedemption:
    return pb.GiftCardRedemption(
        gift_card=f"giftCards/{redemption.gift_card_id}",
        amount=money(redemption.amount),
        redeem_time=timestamp(redemption.redeemed_at),
        credit_expire_time=timestamp(redemption.credit_expires_at),
    )


def promo_code_to_proto(promo: PromoCode) -> pb.PromoCode:
    return pb.PromoCode(
        name=f"promoCodes/{promo.id}",
        code=promo.code,
        amount=money(promo.amount),
        max_redemptions=promo.max_redemptions,
        redemptions=promo.redemptions,
        expire_time=timestamp(promo.expires_at),
        create_time=timestamp(promo.created_at),
    )


def payout_account_to_proto(account: PayoutAccount) -> pb.PayoutAccount:
    return pb.PayoutAccount(
        account_id=account.account_id,
        payouts_enabled=account.payouts_enabled,
        create_time=timestamp(account.created_at),
    )


def payout_to_proto(payout: Payout) -> pb.Payout:
    return pb.Payout(
        name=f"payouts/{payout.id}",
        amount=money(payout.amount),
        status=PAYOUT_STATUSES.to_proto(payout.status),
        failure_code=payout.failure_code,
        create_time=timestamp(payout.created_at),
        update_time=timestamp(payout.updated_at),
    )


def tier_name(tier: int) -> str:
    """A tier as the handlers name it; "" for one not given."""
    found = TIERS.from_proto(tier)
    return found.value if found is not None else ""


def subscription_to_proto(subscription: PlatformSubscription) -> pb.PlatformSubscription:
    made = pb.PlatformSubscription(
        name=f"platformSubscriptions/{subscription.id}",
        tier=TIERS.to_proto(subscription.tier),
        held_tier=TIERS.to_proto(subscription.granted_tier),
        status=SUBSCRIPTION_STATUSES.to_proto(subscription.status),
        cancel_at_period_end=subscription.cancel_at_period_end,
        failure_code=subscription.failure_code,
        create_time=timestamp(subscription.created_at),
        update_time=timestamp(subscription.updated_at),
    )
    if subscription.next_tier is not None:
        made.next_tier = TIERS.to_proto(subscription.next_tier)
    if subscription.current_period_end is not None:
        made.current_period_end_time.CopyFrom(timestamp(subscription.current_period_end))
    return made


def stream_subscription_to_proto(subscription: StreamSubscription) -> pb.StreamSubscription:
    made = pb.StreamSubscription(
        name=subscription.name,
        stream=f"streams/{subscription.stream_id}",
        tier=subscription.tier,
        level=subscription.level,
        next_level=subscription.next_level or 0,
        granted_level=subscription.granted_level,
        status=STREAM_SUBSCRIPTION_STATUSES.to_proto(subscription.status),  # type: ignore[arg-type]
        price=money(subscription.price),
        cancel_at_period_end=subscription.cancel_at_period_end,
        failure_code=subscription.failure_code,
        create_time=timestamp(subscription.created_at),
        update_time=timestamp(subscription.updated_at),
    )
    if subscription.current_period_end is not None:
        made.current_period_end_time.CopyFrom(timestamp(subscription.current_period_end))
    return made


def client_payment_to_proto(payment: ClientPayment) -> pb.ClientPayment:
    order = payment.order
    return pb.ClientPayment(
        name=f"orders/{order.id}",
        booking_id=order.booking_id,
        status=ORDER_STATUSES.to_proto(order.status),
        amount=money(order.amount),
        credit_applied=money(order.credit),
        create_time=timestamp(order.created_at),
        refunds=[
            pb.PaymentRefund(
                transaction_id=r.transaction_id,
                amount=money(r.amount),
                to_card=money(r.to_card),
                to_credit=money(r.to_credit),
                create_time=timestamp(r.created_at),
            )
            for r in payment.refunds
        ],
    )


def account_balance_to_proto(found: AccountBalance) -> pb.LedgerAccountBalance:
    return pb.LedgerAccountBalance(
        name=f"ledgerAccounts/{found.id}",
        account=account_to_proto(found.account),
        balance=money(Money(found.balance_minor, found.account.currency)),
        non_negative=found.non_negative,
        create_time=timestamp(found.created_at),
    )


def entry_to_proto(account: Account, entry: Entry) -> pb.LedgerEntry:
    return pb.LedgerEntry(
        transaction_id=entry.transaction_id,
        transaction_kind=TRANSACTION_KINDS.to_proto(entry.kind),
        amount=money(Money(entry.amount_minor, account.currency)),
        balance_after=money(Money(entry.balance_after_minor, account.currency)),
        description=entry.description,
        create_time=timestamp(entry.created_at),
    )
