"""Client credits: top-ups by card, promo codes staff make and clients redeem, gift cards
clients buy and anyone redeems, the expiry of credit given, and a client's balance and
history.

A top-up is recorded (PENDING) before the provider is asked, its payment intent keyed by its
id and naming it in its metadata, so a retry after a crash or a lost answer makes one intent,
and the webhook finds the purchase even when the answer never reached us. The client's
credit is moved only by the webhook, in the unit of work that claims the provider's event
and moves the purchase on (guarded), with the purchase as the ledger's cause: once. A gift
card is bought the same way (a purchase of its kind), its money held as outstanding gift
cards until its code is redeemed.

Credit given by a promo code or a gift card is a lot that expires; checkout takes from a
client's lots (locked, soonest to expire first) in the unit of work that spends their
credit, and the expiry job, under the lot's lock, moves only what is left of it, once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chassis.audit import StaffAction
from chassis.auth.principal import Principal
from chassis.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
)
from chassis.idempotency import IdempotentRequest
from chassis.ids import new_id
from chassis.jobs import PeriodicJob
from chassis.lifecycle import WrongState
from chassis.money import Money
from chassis.pagination import KeyPart, Page, page_request
from services.payments.domain.credits import (
    CreditLot,
    CreditPurchase,
    CreditPurchaseStatus,
    GiftCard,
    GiftCardRedemption,
    PromoCode,
    PurchaseKind,
    Redemption,
    already_redeemed,
    gift_card_already_redeemed,
    gift_card_code_hash,
    gift_card_refusal,
    new_gift_card_code,
    normalized_code,
    spent_from_lots,
)
from services.payments.domain.ledger import Account, AccountKind, Transaction, TransactionKind
from services.payments.provider.port import (
    PaymentIntent,
    PaymentStatus,
    idempotency_key,
)
from services.payments.service_layer.base import Handlers, caller, paid_by, staff
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


@dataclass(frozen=True)
class GiftCardView:
    """A gift card bought, where its payment intent stands, and its code: shown in this
    answer only (an empty code once the card is paid for: it is kept as a hash)."""

    purchase: CreditPurchase
    status: PaymentStatus
    code: str
    redeem_by: datetime


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

    async def buy_gift_card(
        self, principal: Principal | None, amount: Money, request_id: str
    ) -> GiftCardView:
        """A gift card of an amount (within the top-up bounds) bought by card: the purchase
        and the card recorded, then one payment intent; its code is answered here only. A
        retry with the same request_id answers the same card and intent, with a new code
        while it is not paid for (nobody could redeem the first), none once it is."""
        user = caller(principal)
        amount = self._top_up_amount(amount)
        idempotent = IdempotentRequest.of(
            "CreateGiftCard", user, request_id, amount.currency, str(amount.amount_minor)
        )
        code = new_gift_card_code()
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            purchase = await uow.credit_purchases.get(earlier) if earlier else None
            card = await uow.gift_cards.get(earlier) if earlier else None
            if purchase is None or card is None:
                now = self.now()
                purchase = CreditPurchase(
                    new_id(),
                    user.user_id,
                    amount,
                    CreditPurchaseStatus.PENDING,
                    now,
                    now,
                    kind=PurchaseKind.GIFT_CARD,
                )
                card = GiftCard(
                    purchase.id,
                    gift_card_code_hash(code),
                    now + timedelta(days=self._settings.gift_card_valid_days),
                )
                await uow.credit_purchases.add(purchase)
                await uow.gift_cards.add(card)
                await uow.remember(idempotent, purchase.id)
            elif purchase.status is CreditPurchaseStatus.PAID:
                code = ""
            else:
                await uow.gift_cards.recode(card.id, gift_card_code_hash(code))
            await uow.commit()
        view = await self._with_purchase_intent(purchase)
        return GiftCardView(view.purchase, view.status, code, card.redeem_by)

    async def redeem_gift_card(self, principal: Principal | None, code: str) -> GiftCardRedemption:
        """A paid gift card's amount into the caller's credit (whoever bought it), once: the
        card taken by a guarded UPDATE and the redemption posted with the card as its cause,
        in one unit of work; its credit expires after gift_card_credit_days."""
        user = caller(principal)
        code_hash = gift_card_code_hash(code)
        async with self._uow() as uow:
            card = await uow.gift_cards.by_code_hash(code_hash)
            purchase = await uow.credit_purchases.get(card.id) if card else None
            if card is None or purchase is None:
                raise NotFound("no such gift card", reason="GIFT_CARD_NOT_FOUND")
            now = self.now()
            refusal = gift_card_refusal(card, purchase, now)
            if refusal is not None:
                raise refusal
            if not await uow.gift_cards.redeem(card.id, user.user_id, now):
                # Another redemption committed first (or the card expired meanwhile).
                taken = await uow.gift_cards.get(card.id)
                assert taken is not None
                raise gift_card_refusal(taken, purchase, now) or gift_card_already_redeemed()
            transaction = card.redeemed(purchase.amount, user.user_id, new_id(), now)
            await uow.ledger.post(transaction)
            expires_at = now + timedelta(days=self._settings.gift_card_credit_days)
            await uow.credit_lots.add(
                CreditLot.of_grant(new_id(), transaction, user.user_id, purchase.amount, expires_at)
            )
            await uow.commit()
        return GiftCardRedemption(card.id, purchase.amount, transaction.id, now, expires_at)

    def credit_jobs(self) -> list[PeriodicJob]:
        every = timedelta(seconds=self._settings.job_interval_seconds)
        return [PeriodicJob("payments.expire_credits", every, lambda: self.expire_credits())]

    async def expire_credits(self, now: datetime | None = None) -> int:
        """Expires the lots whose end has come, each in its own unit of work under its lock:
        its unspent remainder moved to breakage once (a lot expired meanwhile, by another
        replica or a checkout, is left as it is); how many lots expired."""
        now = now or self.now()
        async with self._uow(write=False) as uow:
            due = await uow.credit_lots.due(now, self._settings.job_batch_size)
        expired = 0
        for lot_id in due:
            async with self._uow() as uow:
                lot = await uow.credit_lots.open_lot(lot_id)
                if lot is None:
                    continue
                await expire_lot(uow, lot, now)
                await uow.commit()
            expired += 1
        return expired

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
            expires_at = now + timedelta(days=self._settings.promo_credit_days)
            await uow.credit_lots.add(
                CreditLot.of_grant(new_id(), transaction, user.user_id, promo.amount, expires_at)
            )
            await uow.commit()
        return Redemption(promo.code, promo.amount, transaction.id, now)


async def expire_lot(uow: PaymentsUnitOfWork, lot: CreditLot, now: datetime) -> None:
    """Ends a lot its caller locked: what is left of it (never more than the client's credit
    holds, should staff have taken some) moves to breakage, posted once per lot."""
    credit = Account(lot.client_id, AccountKind.CLIENT_CREDIT, lot.currency)
    unspent = min(lot.remaining_minor, await uow.ledger.balance(credit))
    if unspent > 0:
        await uow.ledger.post(lot.expiry(new_id(), unspent, now))
    await uow.credit_lots.expire(lot.id, now)


async def spendable_lots(
    uow: PaymentsUnitOfWork, client_id: str, currency: str, now: datetime
) -> list[CreditLot]:
    """A client's open lots in a currency, locked for a spend of their credit, after those
    whose end has come are expired (so a spend never takes expired credit)."""
    lots = await uow.credit_lots.open_of(client_id, currency)
    for lot in lots:
        if lot.expires_at <= now:
            await expire_lot(uow, lot, now)
    return [lot for lot in lots if lot.expires_at > now]


async def take_from_lots(
    uow: PaymentsUnitOfWork, lots: list[CreditLot], amount_minor: int, now: datetime
) -> None:
    """A spend of a client's credit takes from their locked lots, soonest to expire first."""
    for lot, take in spent_from_lots(lots, amount_minor):
        await uow.credit_lots.take(lot.id, take, now)


async def purchase_of(uow: PaymentsUnitOfWork, intent: PaymentIntent) -> CreditPurchase | None:
    """The top-up an intent pays, by its id or its metadata."""
    return await paid_by(
        intent, uow.credit_purchases.for_intent, uow.credit_purchases.get, "credit_purchase_id"
    )


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
