"""Client credits: top-ups by card, promo codes staff make and clients redeem, and a client's
balance and history.

A top-up is recorded (PENDING) before the provider is asked, its payment intent keyed by its
id and naming it in its metadata, so a retry after a crash or a lost answer makes one intent,
and the webhook finds the purchase even when the answer never reached us. The client's
credit is moved only by the webhook, in the unit of work that claims the provider's event
and moves the purchase on (guarded), with the purchase as the ledger's cause: once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from chassis.audit import StaffAction
from chassis.auth.principal import Principal
from chassis.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
)
from chassis.idempotency import IdempotentRequest
from chassis.ids import new_id
from chassis.lifecycle import WrongState
from chassis.money import Money
from chassis.pagination import KeyPart, Page, page_request
from services.payments.domain.credits import (
    CreditPurchase,
    CreditPurchaseStatus,
    PromoCode,
    Redemption,
    already_redeemed,
    normalized_code,
)
from services.payments.domain.ledger import AccountKind, Transaction, TransactionKind
from services.payments.provider.port import (
    PaymentIntent,
    PaymentStatus,
    idempotency_key,
)
from services.payments.service_layer.base import Handlers, caller, staff
from services.payments.uow import PaymentsUnitOfWork


@dataclass(frozen=True)
class CreditPurchaseView:
    """A top-up and where its payment intent stands."""

    purchase: CreditPurchase
    status: PaymentStatus


@dataclass(frozen=True)
class Credits:
    """A client's credit: the balance in each currency they hold some in, and a page of the
    movements of their credit, newest first."""

    balances: dict[str, int]
    history: Page[Transaction]


class CreditHandlers(Handlers):
    async def top_up_credits(
        self, principal: Principal | None, amount: Money, request_id: str
    ) -> CreditPurchaseView:
        """A top-up of the caller's credit by card: the purchase recorded, then one payment
        intent for it; the credit is theirs once the provider says the intent succeeded. A
        retry with the same request_id answers the same purchase and intent."""
        user = caller(principal)
        amount = self._top_up_amount(amount)
        idempotent = IdempotentRequest.of(
            "CreateCreditPurchase", user, request_id, amount.currency, str(amount.amount_minor)
        )
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            purchase = await uow.credit_purchases.get(earlier) if earlier else None
            if purchase is None:
                now = self.now()
                purchase = CreditPurchase(
                    new_id(), user.user_id, amount, CreditPurchaseStatus.PENDING, now, now
                )
                await uow.credit_purchases.add(purchase)
                await uow.remember(idempotent, purchase.id)
            await uow.commit()
        return await self._with_purchase_intent(purchase)

    def _top_up_amount(self, amount: Money) -> Money:
        least, most = self._settings.credit_top_up_bounds(amount.currency)
        if not least.amount_minor <= amount.amount_minor <= most.amount_minor:
            raise InvalidArgument.field(
                "amount.amount_minor",
                f"must be between {least.amount_minor} and {most.amount_minor} minor units of "
                f"{amount.currency}",
                "out_of_range",
            )
        return amount

    async def _with_purchase_intent(self, purchase: CreditPurchase) -> CreditPurchaseView:
        """The purchase with its payment intent, made now under the purchase's key if it has
        none yet (the same intent for every retry)."""
        intent = await self._payment_intent(
            purchase.payment_intent_id,
            amount=purchase.amount,
            # Not an order's: the webhook finds the purchase by the metadata below.
            order_id="",
            key=idempotency_key("credit_purchase", purchase.id),
            metadata={"credit_purchase_id": purchase.id, "client_id": purchase.client_id},
        )
        if purchase.payment_intent_id is None:
            async with self._uow() as uow:
                await uow.credit_purchases.attach_intent(
                    purchase.id, intent.id, intent.client_secret
                )
                await uow.commit()
            purchase = replace(
                purchase, payment_intent_id=intent.id, client_secret=intent.client_secret
            )
        return CreditPurchaseView(purchase, intent.status)

    async def credits(
        self, principal: Principal | None, page_size: int, page_token: str
    ) -> Credits:
        """The caller's credit balance per currency and its movements, newest first: top-ups,
        promo codes, spends at checkout and refunds to credit."""
        user = caller(principal)
        page = page_request(
            page_size, page_token, query={"credits": user.user_id}, key=(KeyPart.ID,)
        )
        async with self._uow(write=False) as uow:
            balances = await uow.ledger.balances_of(user.user_id)
            found, total = await uow.ledger.page_of_owner(
                user.user_id,
                after=page.after[0] if page.after else None,
                limit=page.fetch,
                all_postings=False,
                kind=AccountKind.CLIENT_CREDIT,
            )
        return Credits(
            {a.currency: b for a, b in balances.items() if a.kind is AccountKind.CLIENT_CREDIT},
            page.page(found, total, key=lambda t: [t.id]),
        )

    async def create_promo_code(
        self,
        principal: Principal | None,
        code: str,
        amount: Money,
        max_redemptions: int,
        expires_at: datetime | None,
    ) -> PromoCode:
        """Staff make a promo code giving each client who redeems it its amount in credit, up
        to max_redemptions clients, until it expires; filed in the audit log."""
        user = _staff(principal)
        if expires_at is None:
            raise InvalidArgument.field("expires_at", "is required", "required")
        promo = PromoCode.create(
            new_id(), code, amount, max_redemptions, expires_at, user.user_id, self.now()
        )
        async with self._uow() as uow:
            if not await uow.promo_codes.add(promo):
                raise AlreadyExists(
                    f"promo code {promo.code} exists already", reason="PROMO_CODE_EXISTS"
                )
            await uow.record_staff_action(
                StaffAction(
                    user, "promo_code.create", f"promoCodes/{promo.id}", "", {}, _view(promo)
                )
            )
            await uow.commit()
        return promo

    async def list_promo_codes(
        self, principal: Principal | None, page_size: int, page_token: str
    ) -> Page[PromoCode]:
        """Every promo code, newest first, with how often each was redeemed (staff)."""
        _staff(principal)
        page = page_request(page_size, page_token, query={"promo_codes": ""}, key=(KeyPart.ID,))
        async with self._uow(write=False) as uow:
            found, total = await uow.promo_codes.page(
                after=page.after[0] if page.after else None, limit=page.fetch
            )
        return page.page(found, total, key=lambda p: [p.id])

    async def redeem_promo_code(self, principal: Principal | None, code: str) -> Redemption:
        """The code's amount into the caller's credit: once per client, never beyond the
        code's limit (its counter moved by a guarded UPDATE in this unit of work), never
        after it expires."""
        user = caller(principal)
        spelled = normalized_code(code)
        async with self._uow() as uow:
            promo = await uow.promo_codes.by_code(spelled)
            if promo is None:
                raise NotFound(f"no such promo code: {spelled}")
            now = self.now()
            cause = promo.redemption_cause(user.user_id)
            if await uow.ledger.find(TransactionKind.PROMOTION, cause):
                raise already_redeemed(promo.code)
            if not await uow.promo_codes.count_redemption(promo.id, now):
                raise promo.refusal(now)
            transaction = promo.redeemed_by(user.user_id, new_id(), now)
            if not await uow.ledger.post(transaction):
                # A concurrent redemption by the same client posted first; this one's count
                # goes with the rollback.
                raise already_redeemed(promo.code)
            await uow.commit()
        return Redemption(promo.code, promo.amount, transaction.id, now)


async def purchase_of(uow: PaymentsUnitOfWork, intent: PaymentIntent) -> CreditPurchase | None:
    """The top-up an intent pays: by the intent's id, or by the purchase named in its
    metadata for an intent whose creation's answer never reached the purchase."""
    purchase = await uow.credit_purchases.for_intent(intent.id)
    named = intent.metadata.get("credit_purchase_id", "")
    if purchase is None and named:
        purchase = await uow.credit_purchases.get(named)
        if purchase is not None and purchase.payment_intent_id not in (None, intent.id):
            return None  # another intent is this purchase's: not one of ours to apply
    return purchase


async def apply_purchase_intent(
    uow: PaymentsUnitOfWork, purchase: CreditPurchase, intent: PaymentIntent, *, declined: bool
) -> None:
    """A succeeded intent credits the client once (the purchase moves to PAID, guarded, and
    the ledger's cause is the purchase); a decline (its event, the intent back to needing a
    payment method) marks a pending purchase FAILED."""
    now = uow.clock.now()
    if intent.status is PaymentStatus.SUCCEEDED:
        if intent.amount != purchase.amount.amount_minor:
            return  # not the intent made for this purchase's amount: nothing of ours
        try:
            await uow.credit_purchases.settle(
                purchase.id,
                CreditPurchaseStatus.PAID,
                (CreditPurchaseStatus.PENDING, CreditPurchaseStatus.FAILED),
                "",
                now,
            )
        except WrongState:
            return  # credited by an earlier event about the same intent
        if purchase.payment_intent_id is None:
            await uow.credit_purchases.attach_intent(purchase.id, intent.id, intent.client_secret)
        await uow.ledger.post(purchase.credited(new_id(), now))
    elif declined and intent.status is PaymentStatus.REQUIRES_PAYMENT_METHOD:
        try:
            await uow.credit_purchases.settle(
                purchase.id,
                CreditPurchaseStatus.FAILED,
                (CreditPurchaseStatus.PENDING,),
                intent.failure_code or "payment_failed",
                now,
            )
        except WrongState:
            return  # failed (or paid) already


def _staff(principal: Principal | None) -> Principal:
    return staff(principal, "only staff manage promo codes")


def _view(promo: PromoCode) -> dict[str, object]:
    """A promo code as the audit log shows it."""
    return {
        "code": promo.code,
        "amount_minor": promo.amount.amount_minor,
        "currency": promo.amount.currency,
        "max_redemptions": promo.max_redemptions,
        "expires_at": promo.expires_at.isoformat(),
    }
