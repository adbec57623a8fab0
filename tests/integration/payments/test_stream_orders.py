"""Tips and post unlocks on the real unit of work and sandbox, on both databases (PostgreSQL
is where the races are real): a tip paid by card becomes the creator's earning less the
Free tier's 20% once its webhook comes, however often and concurrently; credits pay first
(a tip covered by them is paid at once); one Idempotency-Key makes one order and one intent
under ten concurrent calls; streams' word decides what is sold and to whom, never the
client's; bad amounts, targets and kinds are refused naming the field, changing nothing; and
the ledger's check reports a paid order whose earning is missing."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import pytest
import sqlalchemy as sa

from chassis.auth.principal import Principal
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from chassis.ids import new_id
from chassis.money import Money
from estuary.payments.v1 import events_pb2
from services.payments.domain.ledger import PLATFORM, Account, AccountKind
from services.payments.domain.stream_orders import StreamOrderKind, StreamOrderStatus
from services.payments.events import EARNING_RECORDED, PAYMENT_SUCCEEDED, STREAM_ORDER_PAID
from services.payments.provider.port import PaymentStatus
from services.payments.service_layer.earnings import UnpaidEarning
from services.payments.service_layer.stream_orders import StreamOrderView, earn_stream_order
from services.payments.tables import earnings
from tests.builders import person
from tests.integration.payments.test_checkout_races import sandbox_objects
from tests.integration.payments.test_credits import paid_top_up
from tests.integration.payments.world import World, world
from tests.races import race

TIP, UNLOCK = StreamOrderKind.TIP, StreamOrderKind.UNLOCK
VISA = "pm_card_visa"
CONCURRENT = 10


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


async def balance(w: World, owner: str, kind: AccountKind, currency: str = "EUR") -> int:
    """An account's balance; the ledger's invariants checked."""
    async with w.uow(write=False) as uow:
        assert await uow.audit.violations() == []
        return await uow.ledger.balance(Account(owner, kind, currency))


async def stream_order_status(w: World, order_id: str) -> StreamOrderStatus:
    async with w.uow(write=False) as uow:
        found = await uow.stream_orders.get(order_id)
    assert found is not None
    return found.status


async def paid_by_card(w: World, client: Principal, view: StreamOrderView) -> None:
    """The client's card step on the order's intent, and the sandbox's webhooks applied."""
    assert view.order.payment_intent_id
    await w.treasury.confirm_sandbox_payment(client, view.order.payment_intent_id, VISA)
    await w.apply_webhooks()


async def test_a_tip_by_card_is_the_creators_earning_less_commission_once_its_webhook_comes(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = w.shelf.stream(w.practitioner_user_id)
        post = w.shelf.post(stream)
        client = person()
        view = await w.treasury.create_stream_order(client, TIP, post, eur(500), "tip-1")
        order = view.order
        assert (order.kind, order.status, order.amount) == (TIP, StreamOrderStatus.OPEN, eur(500))
        assert view.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
        assert order.payment_intent_id and order.client_secret
        intent = await w.sandbox.retrieve_payment_intent(order.payment_intent_id)
        assert (intent.amount, intent.metadata["stream_order_id"]) == (500, order.id)

        confirmed = await w.treasury.confirm_sandbox_payment(client, intent.id, VISA)
        assert isinstance(confirmed, StreamOrderView)
        # Nothing is earned on the card step's answer: only the provider's word counts.
        assert await w.events(STREAM_ORDER_PAID) == []
        sent = await w.sent_webhooks()
        outcome = await race([partial(w.treasury.receive_stripe_event, p, s) for p, s in sent * 5])
        assert outcome.losses == []

        assert await stream_order_status(w, order.id) is StreamOrderStatus.PAID
        [paid] = await w.events(STREAM_ORDER_PAID)
        assert paid.order == f"streamOrders/{order.id}"
        assert paid.kind == events_pb2.STREAM_ORDER_KIND_TIP
        assert (paid.user_id, paid.stream, paid.post) == (client.user_id, stream, post)
        assert paid.creator_user_id == w.practitioner_user_id
        # The Free tier's 20%: 4.00 to the creator, 1.00 to the platform.
        assert (paid.amount.amount_minor, paid.earning.amount_minor) == (500, 400)
        assert paid.commission.amount_minor == 100
        [earning] = await w.events(EARNING_RECORDED)
        assert earning.booking_id == order.id
        pending = AccountKind.PRACTITIONER_PENDING
        assert await balance(w, w.practitioner_user_id, pending) == 400
        assert await balance(w, PLATFORM, AccountKind.PLATFORM_REVENUE) == 100
        # A tip is no booking's payment: booking hears of nothing.
        assert await w.events(PAYMENT_SUCCEEDED) == []


async def test_credits_pay_a_tip_first_and_one_they_cover_is_paid_at_once(empty_database_url):
    async with world(empty_database_url) as w:
        stream = w.shelf.stream(w.practitioner_user_id)
        client = person()
        await paid_top_up(w, client, 1_000)

        covered = await w.treasury.create_stream_order(client, TIP, stream, eur(700), "")
        assert covered.status is PaymentStatus.SUCCEEDED
        assert covered.order.status is StreamOrderStatus.PAID
        assert covered.order.payment_intent_id is None
        assert len(await w.events(STREAM_ORDER_PAID)) == 1
        assert await balance(w, client.user_id, AccountKind.CLIENT_CREDIT) == 300

        # The 3.00 left pays part of the next; the card the rest.
        mixed = await w.treasury.create_stream_order(client, TIP, stream, eur(1_000), "")
        assert (mixed.order.credit_minor, mixed.order.card_minor) == (300, 700)
        assert await stream_order_status(w, mixed.order.id) is StreamOrderStatus.OPEN
        await paid_by_card(w, client, mixed)
        assert await stream_order_status(w, mixed.order.id) is StreamOrderStatus.PAID
        assert len(await w.events(STREAM_ORDER_PAID)) == 2
        assert await balance(w, client.user_id, AccountKind.CLIENT_CREDIT) == 0
        # 80% of 7.00 and of 10.00.
        assert await balance(w, w.practitioner_user_id, AccountKind.PRACTITIONER_PENDING) == 1_360


async def test_ten_concurrent_tips_with_one_key_make_one_order_and_one_intent(empty_database_url):
    async with world(empty_database_url) as w:
        stream = w.shelf.stream(w.practitioner_user_id)
        client = person()
        outcome = await race(
            [
                partial(w.treasury.create_stream_order, client, TIP, stream, eur(250), "same")
                for _ in range(CONCURRENT)
            ]
        )
        assert outcome.losses == []
        assert len({view.order.id for view in outcome.wins}) == 1
        intents = [i for i in sandbox_objects(w, "payment_intent") if i["amount"] == 250]
        assert len(intents) == 1
        # The same key from someone else is their own tip.
        other = await w.treasury.create_stream_order(person(), TIP, stream, eur(250), "same")
        assert other.order.id != outcome.wins[0].order.id


async def test_ten_concurrent_credit_tips_with_one_key_spend_the_credit_once(empty_database_url):
    async with world(empty_database_url) as w:
        stream = w.shelf.stream(w.practitioner_user_id)
        client = person()
        await paid_top_up(w, client, 2_000)
        outcome = await race(
            [
                partial(w.treasury.create_stream_order, client, TIP, stream, eur(1_500), "k")
                for _ in range(CONCURRENT)
            ]
        )
        assert outcome.losses == []
        assert len({view.order.id for view in outcome.wins}) == 1
        assert len(await w.events(STREAM_ORDER_PAID)) == 1
        assert await balance(w, client.user_id, AccountKind.CLIENT_CREDIT) == 500


@pytest.mark.parametrize(
    ("amount", "field"),
    [
        (eur(-500), "amount.amount_minor"),
        (eur(0), "amount.amount_minor"),
        (eur(99), "amount.amount_minor"),
        (eur(50_001), "amount.amount_minor"),
        (eur(2**62), "amount.amount_minor"),
        (Money(500, "USD"), "amount.currency"),
        (None, "amount"),
    ],
)
async def test_a_tip_outside_its_bounds_or_currency_is_refused_naming_the_field(
    empty_database_url, amount, field
):
    async with world(empty_database_url) as w:
        stream = w.shelf.stream(w.practitioner_user_id)
        client = person()
        with pytest.raises(InvalidArgument) as refused:
            await w.treasury.create_stream_order(client, TIP, stream, amount, "")
        assert [v.field for v in refused.value.violations] == [field]
        assert sandbox_objects(w, "payment_intent") == []
        # The bounds themselves are taken: 1.00 and 500.00.
        for minor in (100, 50_000):
            made = await w.treasury.create_stream_order(client, TIP, stream, eur(minor), "")
            assert made.order.amount == eur(minor)


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        (TIP, "streams/not-an-id"),
        (TIP, "posts/x"),
        (TIP, ""),
        (UNLOCK, "streams/{stream}"),
        (None, "streams/{stream}"),
    ],
)
async def test_a_malformed_target_or_kind_is_refused_naming_the_field(
    empty_database_url, kind, target
):
    async with world(empty_database_url) as w:
        stream = w.shelf.stream(w.practitioner_user_id)
        with pytest.raises(InvalidArgument) as refused:
            await w.treasury.create_stream_order(
                person(), kind, target.format(stream=stream), eur(500), ""
            )
        assert [v.field for v in refused.value.violations] == ["kind" if kind is None else "target"]


async def test_streams_word_decides_what_is_sold_and_to_whom(empty_database_url):
    async with world(empty_database_url) as w:
        stream = w.shelf.stream(w.practitioner_user_id)
        free_post = w.shelf.post(stream)
        client = person()
        # A stream or post streams does not sell (unknown, a draft, another's id made up).
        for unknown in (f"streams/{new_id()}", f"{stream}/posts/{new_id()}"):
            with pytest.raises(NotFound):
                await w.treasury.create_stream_order(client, TIP, unknown, eur(500), "")
        # Tipping one's own stream is money going round: refused.
        owner = person(w.practitioner_user_id)
        with pytest.raises(FailedPrecondition) as own:
            await w.treasury.create_stream_order(owner, TIP, stream, eur(500), "")
        assert own.value.reason == "OWN_STREAM"
        # A post not sold alone cannot be unlocked.
        with pytest.raises(FailedPrecondition) as not_sold:
            await w.treasury.create_stream_order(client, UNLOCK, free_post, None, "")
        assert not_sold.value.reason == "NOT_FOR_SALE"
        assert sandbox_objects(w, "payment_intent") == []


async def test_another_clients_stream_order_intent_is_not_found_at_the_card_step(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = w.shelf.stream(w.practitioner_user_id)
        view = await w.treasury.create_stream_order(person(), TIP, stream, eur(500), "")
        assert view.order.payment_intent_id
        with pytest.raises(NotFound):
            await w.treasury.confirm_sandbox_payment(person(), view.order.payment_intent_id, VISA)
        intent = await w.sandbox.retrieve_payment_intent(view.order.payment_intent_id)
        assert intent.status is PaymentStatus.REQUIRES_PAYMENT_METHOD


async def test_the_ledger_check_reports_a_paid_stream_order_without_its_earning(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        stream = w.shelf.stream(w.practitioner_user_id)
        client = person()
        view = await w.treasury.create_stream_order(client, TIP, stream, eur(500), "")
        await paid_by_card(w, client, view)
        async with w.uow() as uow:
            assert await uow.audit.violations() == []
            await uow.connection.execute(
                sa.delete(earnings).where(earnings.c.booking_id == view.order.id)
            )
            found = await uow.audit.violations()
        assert [v.rule for v in found] == ["stream_order_earning"]


async def test_an_order_the_ledger_holds_no_payment_for_is_never_earned(empty_database_url):
    async with world(empty_database_url) as w:
        stream = w.shelf.stream(w.practitioner_user_id)
        client = person()
        view = await w.treasury.create_stream_order(client, TIP, stream, eur(500), "")
        await paid_by_card(w, client, view)
        # The same order again under an id of its own: no charge stands behind it.
        unpaid = replace(view.order, id=new_id(), status=StreamOrderStatus.PAID)
        with pytest.raises(UnpaidEarning):
            async with w.uow() as uow:
                await earn_stream_order(uow, w.service.runtime.settings, unpaid)
                await uow.commit()
        assert await w.treasury.earning_of(unpaid.id) is None
        async with w.uow(write=False) as uow:
            assert await uow.audit.violations() == []
            pending = await uow.ledger.balances_of(w.practitioner_user_id)
        assert list(pending.values()) == [400]


async def test_a_post_is_unlocked_at_streams_price_once_per_buyer(empty_database_url):
    async with world(empty_database_url) as w:
        stream = w.shelf.stream(w.practitioner_user_id)
        post = w.shelf.post(stream, unlock_price=eur(300))
        client = person()
        # Whatever amount a client sends with an unlock, streams' price is what is charged.
        view = await w.treasury.create_stream_order(client, UNLOCK, post, eur(1), "u1")
        assert (view.order.kind, view.order.amount) == (UNLOCK, eur(300))
        # Asking again, under any key, answers the same order (paid or not).
        again = await w.treasury.create_stream_order(client, UNLOCK, post, None, "u2")
        assert again.order.id == view.order.id
        await paid_by_card(w, client, view)
        [paid] = await w.events(STREAM_ORDER_PAID)
        assert paid.kind == events_pb2.STREAM_ORDER_KIND_UNLOCK
        assert (paid.post, paid.amount.amount_minor, paid.earning.amount_minor) == (post, 300, 240)
        after = await w.treasury.create_stream_order(client, UNLOCK, post, None, "u3")
        assert (after.order.id, after.order.status) == (view.order.id, StreamOrderStatus.PAID)
        # Another buyer has an order of their own.
        other = await w.treasury.create_stream_order(person(), UNLOCK, post, None, "u1")
        assert other.order.id != view.order.id
        assert await balance(w, w.practitioner_user_id, AccountKind.PRACTITIONER_PENDING) == 240


async def test_ten_concurrent_unlocks_of_one_post_by_one_buyer_make_one_order(empty_database_url):
    async with world(empty_database_url) as w:
        stream = w.shelf.stream(w.practitioner_user_id)
        post = w.shelf.post(stream, unlock_price=eur(300))
        client = person()
        await paid_top_up(w, client, 1_000)
        outcome = await race(
            [
                partial(w.treasury.create_stream_order, client, UNLOCK, post, None, f"key-{n}")
                for n in range(CONCURRENT)
            ]
        )
        assert outcome.losses == []
        assert len({view.order.id for view in outcome.wins}) == 1
        # Credits paid it once: one sale, one spend.
        assert len(await w.events(STREAM_ORDER_PAID)) == 1
        assert await balance(w, client.user_id, AccountKind.CLIENT_CREDIT) == 700
