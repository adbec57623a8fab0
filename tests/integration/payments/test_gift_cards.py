"""Gift cards on the real unit of work and sandbox, on both databases (PostgreSQL is where the
races are real): bought by card like a top-up, the money held as outstanding gift cards
until anyone redeems the code (shown to the buyer, kept as a hash) once into their credit,
which then expires; unknown, malformed, unpaid, expired and redeemed codes refused with
their reason, nothing moved; ten clients racing for one card get it once; the ledger's
check reports a card redeemed without its money."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from chassis.auth.principal import Principal
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from chassis.ids import new_id
from services.payments.domain.credits import CreditLotStatus, CreditPurchaseStatus
from services.payments.domain.ledger import PLATFORM, Account, AccountKind, TransactionKind
from services.payments.provider.port import PaymentStatus
from services.payments.service_layer.credits import GiftCardView
from services.payments.tables import gift_cards
from tests.builders import person
from tests.integration.payments.test_credits import EUR, VISA, credit_of, eur
from tests.integration.payments.world import World, world
from tests.races import race

OUTSTANDING = Account(PLATFORM, AccountKind.PLATFORM_GIFT_CARDS, EUR)


async def outstanding(w: World) -> int:
    async with w.uow(write=False) as uow:
        return await uow.ledger.balance(OUTSTANDING)


async def paid_gift_card(w: World, buyer: Principal, minor: int) -> GiftCardView:
    """A gift card the buyer paid by card, its webhooks applied."""
    view = await w.treasury.buy_gift_card(buyer, eur(minor), new_id())
    assert view.purchase.payment_intent_id and view.code
    await w.treasury.confirm_sandbox_payment(buyer, view.purchase.payment_intent_id, VISA)
    await w.apply_webhooks()
    return view


async def refusal(w: World, client: Principal, code: str) -> str:
    """The reason a redemption was refused with."""
    with pytest.raises((FailedPrecondition, NotFound)) as refused:
        await w.treasury.redeem_gift_card(client, code)
    return refused.value.reason


async def test_a_gift_card_bought_is_held_outstanding_until_someone_redeems_it_once(
    empty_database_url,
):
    async with world(empty_database_url, gift_card_credit_days=180) as w:
        buyer, friend = person(), person()
        first = await w.treasury.buy_gift_card(buyer, eur(5_000), "gift-1")
        assert first.purchase.status is CreditPurchaseStatus.PENDING
        assert first.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
        assert first.redeem_by == w.clock.now() + timedelta(days=365)
        # The answer was lost: asked again, the same card and intent with a new code; the
        # first code no longer redeems anything.
        again = await w.treasury.buy_gift_card(buyer, eur(5_000), "gift-1")
        assert again.purchase.id == first.purchase.id
        assert again.purchase.payment_intent_id == first.purchase.payment_intent_id
        assert again.code and again.code != first.code
        assert await refusal(w, friend, again.code) == "GIFT_CARD_NOT_PAID"
        assert again.purchase.payment_intent_id
        await w.treasury.confirm_sandbox_payment(buyer, again.purchase.payment_intent_id, VISA)
        await w.apply_webhooks()
        assert await outstanding(w) == 5_000
        assert await credit_of(w, buyer) == 0
        # Paid: asked again, no code (it is kept only as a hash, never readable back).
        paid = await w.treasury.buy_gift_card(buyer, eur(5_000), "gift-1")
        assert (paid.purchase.status, paid.code) == (CreditPurchaseStatus.PAID, "")
        async with w.uow(write=False) as uow:
            stored = (await uow.connection.execute(sa.select(gift_cards))).one()
        assert again.code.replace("-", "") not in str(tuple(stored))
        assert await refusal(w, friend, first.code) == "GIFT_CARD_NOT_FOUND"

        redeemed = await w.treasury.redeem_gift_card(friend, again.code.lower())
        assert redeemed.amount == eur(5_000)
        assert redeemed.credit_expires_at == w.clock.now() + timedelta(days=180)
        assert (await credit_of(w, friend), await outstanding(w)) == (5_000, 0)
        assert await refusal(w, buyer, again.code) == "GIFT_CARD_ALREADY_REDEEMED"
        assert await credit_of(w, buyer) == 0
        credits = await w.treasury.credits(friend, 10, "")
        [movement] = credits.history.items
        assert movement.kind is TransactionKind.GIFT_CARD_REDEMPTION
        async with w.uow(write=False) as uow:
            [lot] = await uow.credit_lots.of_client(friend.user_id)
        assert (lot.remaining_minor, lot.status) == (5_000, CreditLotStatus.OPEN)

        # Its credit expires whole, unspent, after gift_card_credit_days.
        w.clock.advance(timedelta(days=180))
        assert await w.treasury.expire_credits() == 1
        assert await credit_of(w, friend) == 0


async def test_unknown_malformed_unpaid_and_expired_gift_cards_are_refused_moving_nothing(
    empty_database_url,
):
    async with world(empty_database_url, gift_card_valid_days=30) as w:
        client = person()
        assert await refusal(w, client, "ABCD-EFGH-JKLM-NPQR-STUV") == "GIFT_CARD_NOT_FOUND"
        for malformed in ("", "SHORT", "ABCD-EFGH-JKLM-NPQR-STU0"):
            with pytest.raises(InvalidArgument) as refused:
                await w.treasury.redeem_gift_card(client, malformed)
            assert [v.field for v in refused.value.violations] == ["code"]
        for amount in (eur(499), eur(50_001)):
            with pytest.raises(InvalidArgument) as bounds:
                await w.treasury.buy_gift_card(client, amount, "")
            assert [v.field for v in bounds.value.violations] == ["amount.amount_minor"]
        unpaid = await w.treasury.buy_gift_card(person(), eur(1_000), "")
        assert await refusal(w, client, unpaid.code) == "GIFT_CARD_NOT_PAID"
        paid = await paid_gift_card(w, person(), 2_000)
        w.clock.advance(timedelta(days=30))
        assert await refusal(w, client, paid.code) == "GIFT_CARD_EXPIRED"
        assert (await credit_of(w, client), await outstanding(w)) == (0, 2_000)


async def test_ten_clients_racing_for_one_gift_card_redeem_it_once(empty_database_url):
    async with world(empty_database_url) as w:
        card = await paid_gift_card(w, person(), 3_000)
        clients = [person() for _ in range(10)]
        outcome = await race([partial(w.treasury.redeem_gift_card, c, card.code) for c in clients])
        outcome.one_winner()
        assert {getattr(e, "reason", "") for e in outcome.losses} == {"GIFT_CARD_ALREADY_REDEEMED"}
        credited = sorted([await credit_of(w, c) for c in clients])
        assert credited == [0] * 9 + [3_000]
        assert await outstanding(w) == 0


async def test_the_ledger_check_reports_a_gift_card_redeemed_without_its_money(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        card = await paid_gift_card(w, person(), 1_000)
        assert await w.treasury.ledger_violations() == []
        async with w.uow() as uow:
            assert await uow.gift_cards.redeem(card.purchase.id, new_id(), w.clock.now())
            await uow.commit()
        [found] = await w.treasury.ledger_violations()
        assert (found.rule, found.subject) == ("gift_card", f"gift card {card.purchase.id}")
        assert "moved 0 to credit" in found.detail
