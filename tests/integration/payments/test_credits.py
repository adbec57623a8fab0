"""Clients' credits on the real unit of work and sandbox, on both databases: a top-up by card
credited once whatever the webhook's redeliveries, races or lost answers (and once on the
Stripe adapter against localstripe); a declined card crediting nothing; promo codes redeemed
once per client, never beyond their limit (ten clients racing on PostgreSQL) nor after they
expire, their making filed in the audit log; the balance and history a client reads; and
checkout spending the credit topped up. The ledger's invariants hold after each, and its
check reports a paid top-up never credited."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from chassis.audit import STAFF_ACTION_RECORDED
from chassis.auth.principal import Principal, Role
from chassis.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from chassis.ids import new_id
from chassis.money import Money
from services.payments.domain.credits import CreditPurchaseStatus, PromoCode
from services.payments.domain.ledger import PLATFORM, Account, AccountKind, TransactionKind
from services.payments.events import BOOKING_CREATED, PAYMENT_SUCCEEDED
from services.payments.provider.port import PaymentStatus
from services.payments.service_layer.credits import CreditPurchaseView
from tests.builders import outbox_messages, person
from tests.integration.payments import test_checkout_on_stripe as on_stripe
from tests.integration.payments.world import World, world
from tests.races import race

VISA, DECLINED = "pm_card_visa", "pm_card_chargeDeclined"
# localstripe's webhooks for this module's tests, as the checkout's tests on Stripe get them.
stripe_webhooks = on_stripe.stripe_webhooks
EUR = "EUR"


def eur(minor: int) -> Money:
    return Money(minor, EUR)


async def credit_of(w: World, client: Principal) -> int:
    """The client's EUR credit; the ledger's invariants checked."""
    async with w.uow(write=False) as uow:
        assert await uow.audit.violations() == []
        return await uow.ledger.balance(Account(client.user_id, AccountKind.CLIENT_CREDIT, EUR))


async def purchase_status(w: World, purchase_id: str) -> CreditPurchaseStatus:
    async with w.uow(write=False) as uow:
        found = await uow.credit_purchases.get(purchase_id)
    assert found is not None
    return found.status


async def paid_top_up(w: World, client: Principal, minor: int) -> CreditPurchaseView:
    """A top-up the client paid by card, its webhooks applied."""
    view = await w.treasury.top_up_credits(client, eur(minor), new_id())
    assert view.purchase.payment_intent_id
    await w.treasury.confirm_sandbox_payment(client, view.purchase.payment_intent_id, VISA)
    await w.apply_webhooks()
    return view


async def test_a_top_up_is_credited_once_however_often_and_however_concurrently_its_webhook_comes(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = person()
        view = await w.treasury.top_up_credits(client, eur(2_500), "k1")
        purchase = view.purchase
        assert purchase.status is CreditPurchaseStatus.PENDING
        assert view.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
        assert purchase.payment_intent_id and purchase.client_secret
        intent = await w.sandbox.retrieve_payment_intent(purchase.payment_intent_id)
        assert (intent.amount, intent.currency) == (2_500, EUR)
        assert intent.metadata["credit_purchase_id"] == purchase.id
        assert await credit_of(w, client) == 0

        paid = await w.treasury.confirm_sandbox_payment(client, intent.id, VISA)
        assert isinstance(paid, CreditPurchaseView)
        assert paid.status is PaymentStatus.SUCCEEDED
        # Nothing is credited on the card step's answer: only the provider's word counts.
        assert await credit_of(w, client) == 0
        sent = await w.sent_webhooks()
        # Every event the sandbox sent (the intent's success among them), ten times at once.
        outcome = await race([partial(w.treasury.receive_stripe_event, p, s) for p, s in sent * 10])
        assert outcome.losses == []
        for payload, signature in sent:
            assert (await w.treasury.receive_stripe_event(payload, signature))[1] is False
        assert await credit_of(w, client) == 2_500
        assert await purchase_status(w, purchase.id) is CreditPurchaseStatus.PAID
        # A top-up is no booking's payment: booking hears of nothing.
        assert await w.events(PAYMENT_SUCCEEDED) == []


async def test_a_declined_card_credits_nothing_and_another_card_pays_the_same_top_up_once(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = person()
        purchase = (await w.treasury.top_up_credits(client, eur(1_000), "")).purchase
        assert purchase.payment_intent_id
        declined = await w.treasury.confirm_sandbox_payment(
            client, purchase.payment_intent_id, DECLINED
        )
        assert isinstance(declined, CreditPurchaseView)
        assert declined.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
        await w.apply_webhooks()
        assert await purchase_status(w, purchase.id) is CreditPurchaseStatus.FAILED
        assert await credit_of(w, client) == 0
        await w.treasury.confirm_sandbox_payment(client, purchase.payment_intent_id, VISA)
        await w.apply_webhooks()
        assert await purchase_status(w, purchase.id) is CreditPurchaseStatus.PAID
        assert await credit_of(w, client) == 1_000


async def test_a_retried_top_up_answers_the_same_purchase_and_intent(empty_database_url):
    async with world(empty_database_url) as w:
        client = person()
        first = await w.treasury.top_up_credits(client, eur(5_000), "key")
        again = await w.treasury.top_up_credits(client, eur(5_000), "key")
        assert again.purchase == first.purchase
        # Another key is another top-up; the same key from another client is theirs.
        other = await w.treasury.top_up_credits(client, eur(5_000), "other-key")
        someone = await w.treasury.top_up_credits(person(), eur(5_000), "key")
        assert len({first.purchase.id, other.purchase.id, someone.purchase.id}) == 3
        assert len({first.purchase.payment_intent_id, other.purchase.payment_intent_id}) == 2


async def test_a_top_up_whose_intent_answer_was_lost_is_credited_once_and_retried_to_it(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = person()
        with w.intent_answers_lost() as made, pytest.raises(Unavailable):
            await w.treasury.top_up_credits(client, eur(2_000), "k")
        # Paid before our row knew its intent: the webhook finds the purchase by metadata.
        await w.sandbox.confirm_payment_intent(
            made[0].id, idempotency_key="test-confirm", payment_method=VISA
        )
        await w.apply_webhooks()
        assert await credit_of(w, client) == 2_000
        retried = await w.treasury.top_up_credits(client, eur(2_000), "k")
        assert retried.purchase.payment_intent_id == made[0].id
        assert retried.status is PaymentStatus.SUCCEEDED
        assert await credit_of(w, client) == 2_000


@pytest.mark.parametrize("amount", [eur(499), eur(50_001), Money(2, "JPY"), Money(50_001, "JPY")])
async def test_a_top_up_outside_its_bounds_is_refused_naming_the_field(empty_database_url, amount):
    async with world(empty_database_url) as w:
        client = person()
        with pytest.raises(InvalidArgument) as refused:
            await w.treasury.top_up_credits(client, amount, "")
        assert [v.field for v in refused.value.violations] == ["amount.amount_minor"]
        # The bounds themselves are taken: 5.00 and 500.00 (5 and 500 yen).
        for minor in (500, 50_000):
            made = await w.treasury.top_up_credits(client, eur(minor), "")
            assert made.purchase.amount == eur(minor)
        assert (await w.treasury.top_up_credits(client, Money(5, "JPY"), "")).purchase


async def test_another_clients_top_up_intent_is_not_found_at_the_card_step(empty_database_url):
    async with world(empty_database_url) as w:
        owner = person()
        purchase = (await w.treasury.top_up_credits(owner, eur(1_000), "")).purchase
        assert purchase.payment_intent_id
        with pytest.raises(NotFound):
            await w.treasury.confirm_sandbox_payment(person(), purchase.payment_intent_id, VISA)
        intent = await w.sandbox.retrieve_payment_intent(purchase.payment_intent_id)
        assert intent.status is PaymentStatus.REQUIRES_PAYMENT_METHOD


async def make_code(
    w: World, code: str = "SPRING", minor: int = 1_000, limit: int = 3, days: int = 30
) -> PromoCode:
    staff = person(None, Role.STAFF)
    return await w.treasury.create_promo_code(
        staff, code, eur(minor), limit, w.clock.now() + timedelta(days=days)
    )


async def redemptions_of(w: World, code: str) -> int:
    """How many clients the code's counter says redeemed it."""
    async with w.uow(write=False) as uow:
        found = await uow.promo_codes.by_code(code)
    assert found is not None
    return found.redemptions


async def test_a_promo_code_is_redeemed_once_per_client_and_its_making_audited(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        promo = await make_code(w, "spring-26", 1_500)
        assert promo.code == "SPRING-26"
        [audited] = await outbox_messages(
            w.service.runtime.database, STAFF_ACTION_RECORDED, f"promoCodes/{promo.id}"
        )
        assert (audited.action, audited.service) == ("promo_code.create", "payments")
        assert audited.after["code"] == "SPRING-26"

        client = person()
        redeemed = await w.treasury.redeem_promo_code(client, "Spring-26")
        assert (redeemed.code, redeemed.amount) == ("SPRING-26", eur(1_500))
        with pytest.raises(FailedPrecondition) as twice:
            await w.treasury.redeem_promo_code(client, "SPRING-26")
        assert twice.value.reason == "PROMO_CODE_ALREADY_REDEEMED"
        assert await credit_of(w, client) == 1_500
        async with w.uow(write=False) as uow:
            promotions = Account(PLATFORM, AccountKind.PLATFORM_PROMOTIONS, EUR)
            assert await uow.ledger.balance(promotions) == -1_500
        assert await redemptions_of(w, "SPRING-26") == 1


async def test_unknown_expired_and_taken_codes_are_refused_with_their_reason(empty_database_url):
    async with world(empty_database_url) as w:
        with pytest.raises(NotFound):
            await w.treasury.redeem_promo_code(person(), "NOSUCHCODE")
        with pytest.raises(InvalidArgument) as misspelt:
            await w.treasury.redeem_promo_code(person(), "no spaces")
        assert [v.field for v in misspelt.value.violations] == ["code"]
        await make_code(w, "SHORTLIVED", days=1)
        with pytest.raises(AlreadyExists) as taken:
            await make_code(w, "shortlived")
        assert taken.value.reason == "PROMO_CODE_EXISTS"
        with pytest.raises(PermissionDenied):
            await w.treasury.create_promo_code(
                person(), "MINE", eur(100), 1, w.clock.now() + timedelta(days=1)
            )
        with pytest.raises(InvalidArgument) as past:
            await make_code(w, "LATE", days=-1)
        assert [v.field for v in past.value.violations] == ["expires_at"]
        w.clock.advance(timedelta(days=1))
        client = person()
        with pytest.raises(FailedPrecondition) as expired:
            await w.treasury.redeem_promo_code(client, "SHORTLIVED")
        assert expired.value.reason == "PROMO_CODE_EXPIRED"
        assert await credit_of(w, client) == 0


async def test_ten_clients_racing_for_a_code_of_three_get_three_redemptions(empty_database_url):
    async with world(empty_database_url) as w:
        await make_code(w, "FIRST3", 700, limit=3)
        clients = [person() for _ in range(10)]
        outcome = await race([partial(w.treasury.redeem_promo_code, c, "FIRST3") for c in clients])
        assert len(outcome.wins) == 3
        assert {getattr(e, "reason", "") for e in outcome.losses} == {"PROMO_CODE_EXHAUSTED"}
        credited = [await credit_of(w, c) for c in clients]
        assert sorted(credited) == [0] * 7 + [700] * 3
        # One client racing themself redeems once.
        await make_code(w, "ONCE", 300, limit=5)
        client = person()
        again = await race([partial(w.treasury.redeem_promo_code, client, "ONCE")] * 5)
        again.one_winner()
        assert await credit_of(w, client) == 300
        assert (await redemptions_of(w, "FIRST3"), await redemptions_of(w, "ONCE")) == (3, 1)


async def test_checkout_spends_the_topped_up_credit_and_the_history_shows_it_newest_first(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = person()
        await paid_top_up(w, client, 5_000)
        await make_code(w, "WELCOME", 500)
        await w.treasury.redeem_promo_code(client, "WELCOME")
        created = w.created(client.user_id, 4_500)
        assert await w.booking_event(BOOKING_CREATED, created) == "ack"
        booking_id = created.booking.booking_id
        paid = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        assert paid.status is PaymentStatus.SUCCEEDED
        assert (paid.order.credit_minor, paid.order.card_minor) == (4_500, 0)
        [succeeded] = await w.events(PAYMENT_SUCCEEDED)
        assert succeeded.booking_id == booking_id
        assert await credit_of(w, client) == 1_000

        credits = await w.treasury.credits(client, 2, "")
        assert credits.balances == {EUR: 1_000}
        assert credits.history.total == 3
        moved = [(t.kind, sum(p.amount_minor for p in t.postings)) for t in credits.history.items]
        assert moved == [(TransactionKind.CREDIT_SPEND, -4_500), (TransactionKind.PROMOTION, 500)]
        rest = await w.treasury.credits(client, 2, credits.history.next_page_token)
        assert [(t.kind, t.postings[0].amount_minor) for t in rest.history.items] == [
            (TransactionKind.CREDIT_PURCHASE, 5_000)
        ]
        assert rest.history.next_page_token == ""
        # Nobody reads another's: a stranger's credits are their own, empty.
        stranger = await w.treasury.credits(person(), 10, "")
        assert (stranger.balances, stranger.history.items) == ({}, [])


async def test_staff_list_promo_codes_newest_first_with_their_redemptions(empty_database_url):
    async with world(empty_database_url) as w:
        older = await make_code(w, "OLDER")
        newer = await make_code(w, "NEWER")
        await w.treasury.redeem_promo_code(person(), "OLDER")
        staff = person(None, Role.STAFF)
        page = await w.treasury.list_promo_codes(staff, 10, "")
        assert [(p.id, p.redemptions) for p in page.items] == [(newer.id, 0), (older.id, 1)]
        with pytest.raises(PermissionDenied):
            await w.treasury.list_promo_codes(person(), 10, "")


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
async def test_a_top_up_paid_at_stripe_is_credited_once_by_its_webhook(
    tmp_path, localstripe_base, stripe_webhooks
):
    settings = {
        "stripe_secret_key": "sk_test_estuary",
        "stripe_webhook_secrets": on_stripe.SECRET,
        "stripe_api_base": localstripe_base,
    }
    async with world(f"sqlite+aiosqlite:///{tmp_path}/payments.db", **settings) as w:
        client = person()
        purchase = (await w.treasury.top_up_credits(client, eur(3_000), "")).purchase
        intent_id = purchase.payment_intent_id
        assert intent_id is not None
        await on_stripe.pay(localstripe_base, intent_id)
        body, header = await on_stripe.webhook_about(stripe_webhooks, intent_id)
        event_id, applied = await w.treasury.receive_stripe_event(body, header)
        assert applied
        assert await w.treasury.receive_stripe_event(body, header) == (event_id, False)
        assert await purchase_status(w, purchase.id) is CreditPurchaseStatus.PAID
        assert await credit_of(w, client) == 3_000


async def test_the_ledger_check_reports_a_paid_top_up_never_credited(empty_database_url):
    async with world(empty_database_url) as w:
        purchase = (await w.treasury.top_up_credits(person(), eur(1_000), "")).purchase
        async with w.uow() as uow:
            await uow.credit_purchases.settle(
                purchase.id,
                CreditPurchaseStatus.PAID,
                (CreditPurchaseStatus.PENDING,),
                "",
                w.clock.now(),
            )
            await uow.commit()
        async with w.uow(write=False) as uow:
            [found] = await uow.audit.violations()
        assert (found.rule, found.subject) == ("credit_purchase", f"credit purchase {purchase.id}")
        assert "credited 0" in found.detail
