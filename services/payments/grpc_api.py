"""Payments' gRPC servicer: proto messages in and out (mapped in wire.py), nothing else."""

from __future__ import annotations

from typing import Any

from chassis.context import current_principal
from chassis.money import money_from_proto
from chassis.wire import optional_instant
from estuary.payments.v1 import payments_pb2 as pb
from estuary.payments.v1 import payments_pb2_grpc
from services.payments.domain.stream_orders import StreamOrderKind
from services.payments.service_layer import Treasury
from services.payments.service_layer.credits import CreditPurchaseView
from services.payments.service_layer.stream_orders import StreamOrderView
from services.payments.wire import (
    ACCOUNT_KINDS,
    STREAM_ORDER_KINDS,
    account_balance_to_proto,
    checkout_to_proto,
    client_payment_to_proto,
    credit_purchase_to_proto,
    credits_to_proto,
    entry_to_proto,
    gift_card_redemption_to_proto,
    gift_card_to_proto,
    payout_account_to_proto,
    payout_to_proto,
    promo_code_to_proto,
    redemption_to_proto,
    stream_order_checkout_to_proto,
    stream_order_to_proto,
    stream_subscription_to_proto,
    subscription_to_proto,
    summary_to_proto,
    tier_name,
    top_up_checkout_to_proto,
    transaction_to_proto,
)


class PaymentsServicer(payments_pb2_grpc.PaymentsServiceServicer):
    def __init__(self, treasury: Treasury) -> None:
        self._treasury = treasury

    async def GetEarningsSummary(
        self, request: pb.GetEarningsSummaryRequest, context: Any
    ) -> pb.EarningsSummary:
        name, balances = await self._treasury.earnings_summary(current_principal(), request.name)
        return summary_to_proto(name, balances)

    async def ListLedgerTransactions(
        self, request: pb.ListLedgerTransactionsRequest, context: Any
    ) -> pb.ListLedgerTransactionsResponse:
        page = await self._treasury.list_transactions(
            current_principal(), request.owner, request.page_size, request.page_token
        )
        return pb.ListLedgerTransactionsResponse(
            transactions=[transaction_to_proto(t) for t in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def CreateCheckout(self, request: pb.CreateCheckoutRequest, context: Any) -> pb.Checkout:
        view = await self._treasury.create_checkout(
            current_principal(), request.booking, request.request_id
        )
        return checkout_to_proto(view)

    async def ReceiveStripeEvent(
        self, request: pb.ReceiveStripeEventRequest, context: Any
    ) -> pb.ReceiveStripeEventResponse:
        event_id, applied = await self._treasury.receive_stripe_event(
            request.payload, request.signature
        )
        return pb.ReceiveStripeEventResponse(event_id=event_id, applied=applied)

    async def ConfirmSandboxPayment(
        self, request: pb.ConfirmSandboxPaymentRequest, context: Any
    ) -> pb.Checkout:
        view = await self._treasury.confirm_sandbox_payment(
            current_principal(), request.payment_intent_id, request.payment_method
        )
        if isinstance(view, CreditPurchaseView):
            return top_up_checkout_to_proto(view)
        if isinstance(view, StreamOrderView):
            return stream_order_checkout_to_proto(view)
        return checkout_to_proto(view)

    async def CreateStreamOrder(
        self, request: pb.CreateStreamOrderRequest, context: Any
    ) -> pb.StreamOrder:
        kind = STREAM_ORDER_KINDS.from_proto(request.kind)
        # An unlock's price is streams': whatever amount came with one is not read.
        tip = kind is StreamOrderKind.TIP
        view = await self._treasury.create_stream_order(
            current_principal(),
            kind,
            request.target,
            money_from_proto(request.amount, "amount") if tip else None,
            request.request_id,
        )
        return stream_order_to_proto(view)

    async def CreateStreamSubscription(
        self, request: pb.CreateStreamSubscriptionRequest, context: Any
    ) -> pb.StreamSubscription:
        made = await self._treasury.subscribe_to_stream(
            current_principal(), request.tier, request.payment_method, request.request_id
        )
        return stream_subscription_to_proto(made)

    async def GetStreamSubscription(
        self, request: pb.GetStreamSubscriptionRequest, context: Any
    ) -> pb.StreamSubscription:
        found = await self._treasury.stream_subscription(current_principal(), request.name)
        return stream_subscription_to_proto(found)

    async def ListStreamSubscriptions(
        self, request: pb.ListStreamSubscriptionsRequest, context: Any
    ) -> pb.ListStreamSubscriptionsResponse:
        page = await self._treasury.list_stream_subscriptions(
            current_principal(), request.page_size, request.page_token
        )
        return pb.ListStreamSubscriptionsResponse(
            stream_subscriptions=[stream_subscription_to_proto(s) for s in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def UpdateStreamSubscription(
        self, request: pb.UpdateStreamSubscriptionRequest, context: Any
    ) -> pb.StreamSubscription:
        changed = await self._treasury.change_stream_level(
            current_principal(), request.name, request.level
        )
        return stream_subscription_to_proto(changed)

    async def CancelStreamSubscription(
        self, request: pb.CancelStreamSubscriptionRequest, context: Any
    ) -> pb.StreamSubscription:
        cancelled = await self._treasury.cancel_stream_subscription(
            current_principal(), request.name
        )
        return stream_subscription_to_proto(cancelled)

    async def CompleteSandboxOnboarding(
        self, request: pb.CompleteSandboxOnboardingRequest, context: Any
    ) -> pb.CompleteSandboxOnboardingResponse:
        next_url = await self._treasury.complete_sandbox_onboarding(request.token)
        return pb.CompleteSandboxOnboardingResponse(next_url=next_url)

    async def CreatePayoutAccount(
        self, request: pb.CreatePayoutAccountRequest, context: Any
    ) -> pb.PayoutAccountOnboarding:
        account, url = await self._treasury.create_payout_account(current_principal())
        return pb.PayoutAccountOnboarding(
            payout_account=payout_account_to_proto(account), onboarding_url=url
        )

    async def GetPayoutAccount(
        self, request: pb.GetPayoutAccountRequest, context: Any
    ) -> pb.PayoutAccount:
        return payout_account_to_proto(await self._treasury.payout_account(current_principal()))

    async def CreatePayout(self, request: pb.CreatePayoutRequest, context: Any) -> pb.Payout:
        payout = await self._treasury.create_payout(
            current_principal(), request.currency, request.request_id
        )
        return payout_to_proto(payout)

    async def ListPayouts(
        self, request: pb.ListPayoutsRequest, context: Any
    ) -> pb.ListPayoutsResponse:
        page = await self._treasury.list_payouts(
            current_principal(), request.page_size, request.page_token
        )
        return pb.ListPayoutsResponse(
            payouts=[payout_to_proto(p) for p in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def GetPlatformSubscription(
        self, request: pb.GetPlatformSubscriptionRequest, context: Any
    ) -> pb.PlatformSubscription:
        found = await self._treasury.platform_subscription(current_principal())
        return subscription_to_proto(found)

    async def CreatePlatformSubscription(
        self, request: pb.CreatePlatformSubscriptionRequest, context: Any
    ) -> pb.PlatformSubscription:
        made = await self._treasury.subscribe(
            current_principal(),
            tier_name(request.tier),
            request.payment_method,
            request.request_id,
        )
        return subscription_to_proto(made)

    async def UpdatePlatformSubscription(
        self, request: pb.UpdatePlatformSubscriptionRequest, context: Any
    ) -> pb.PlatformSubscription:
        changed = await self._treasury.change_platform_tier(
            current_principal(), tier_name(request.tier)
        )
        return subscription_to_proto(changed)

    async def CancelPlatformSubscription(
        self, request: pb.CancelPlatformSubscriptionRequest, context: Any
    ) -> pb.PlatformSubscription:
        cancelled = await self._treasury.cancel_platform_subscription(current_principal())
        return subscription_to_proto(cancelled)

    async def CreateCreditPurchase(
        self, request: pb.CreateCreditPurchaseRequest, context: Any
    ) -> pb.CreditPurchase:
        view = await self._treasury.top_up_credits(
            current_principal(), money_from_proto(request.amount, "amount"), request.request_id
        )
        return credit_purchase_to_proto(view.purchase)

    async def GetCredits(self, request: pb.GetCreditsRequest, context: Any) -> pb.Credits:
        credits = await self._treasury.credits(
            current_principal(), request.page_size, request.page_token
        )
        return credits_to_proto(credits)

    async def RedeemPromoCode(
        self, request: pb.RedeemPromoCodeRequest, context: Any
    ) -> pb.PromoCodeRedemption:
        redeemed = await self._treasury.redeem_promo_code(current_principal(), request.code)
        return redemption_to_proto(redeemed)

    async def CreateGiftCard(self, request: pb.CreateGiftCardRequest, context: Any) -> pb.GiftCard:
        view = await self._treasury.buy_gift_card(
            current_principal(), money_from_proto(request.amount, "amount"), request.request_id
        )
        return gift_card_to_proto(view)

    async def RedeemGiftCard(
        self, request: pb.RedeemGiftCardRequest, context: Any
    ) -> pb.GiftCardRedemption:
        redeemed = await self._treasury.redeem_gift_card(current_principal(), request.code)
        return gift_card_redemption_to_proto(redeemed)

    async def CreatePromoCode(
        self, request: pb.CreatePromoCodeRequest, context: Any
    ) -> pb.PromoCode:
        made = await self._treasury.create_promo_code(
            current_principal(),
            request.code,
            money_from_proto(request.amount, "amount"),
            request.max_redemptions,
            optional_instant(request.expire_time, request.HasField("expire_time")),
        )
        return promo_code_to_proto(made)

    async def ListPromoCodes(
        self, request: pb.ListPromoCodesRequest, context: Any
    ) -> pb.ListPromoCodesResponse:
        page = await self._treasury.list_promo_codes(
            current_principal(), request.page_size, request.page_token
        )
        return pb.ListPromoCodesResponse(
            promo_codes=[promo_code_to_proto(p) for p in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def ListClientPayments(
        self, request: pb.ListClientPaymentsRequest, context: Any
    ) -> pb.ListClientPaymentsResponse:
        page = await self._treasury.client_payments(
            current_principal(), request.page_size, request.page_token
        )
        return pb.ListClientPaymentsResponse(
            payments=[client_payment_to_proto(p) for p in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def ListLedgerAccounts(
        self, request: pb.ListLedgerAccountsRequest, context: Any
    ) -> pb.ListLedgerAccountsResponse:
        page = await self._treasury.ledger_accounts(
            current_principal(),
            request.owner,
            ACCOUNT_KINDS.from_proto(request.kind),
            request.currency,
            request.page_size,
            request.page_token,
        )
        return pb.ListLedgerAccountsResponse(
            accounts=[account_balance_to_proto(a) for a in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def ListLedgerEntries(
        self, request: pb.ListLedgerEntriesRequest, context: Any
    ) -> pb.ListLedgerEntriesResponse:
        account, page = await self._treasury.ledger_entries(
            current_principal(), request.account, request.page_size, request.page_token
        )
        return pb.ListLedgerEntriesResponse(
            entries=[entry_to_proto(account, e) for e in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def CreateLedgerAdjustment(
        self, request: pb.CreateLedgerAdjustmentRequest, context: Any
    ) -> pb.LedgerTransaction:
        made = await self._treasury.adjust_ledger(
            current_principal(),
            request.reason,
            request.currency,
            [(leg.account, leg.amount_minor) for leg in request.legs],
            request.request_id,
        )
        return transaction_to_proto(made)

    async def RetryPayout(self, request: pb.RetryPayoutRequest, context: Any) -> pb.Payout:
        payout = await self._treasury.retry_payout(
            current_principal(), request.name, request.request_id
        )
        return payout_to_proto(payout)
