"""Earnings, pure: the commission by tier and by the rates in effect at completion, rounded
so that earning + commission is what was paid; the earning's transactions balance and move
the right accounts; a release happens once, after the hold; settings are checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from chassis.lifecycle import WrongState
from chassis.money import Money
from services.payments.domain.earnings import (
    CommissionRates,
    CommissionSchedule,
    CompletedBooking,
    Earning,
    EarningStatus,
    Tier,
    split,
)
from services.payments.domain.ledger import EXTERNAL, PLATFORM, Account, AccountKind
from services.payments.service_layer.base import commission_schedule
from services.payments.settings import PaymentsSettings

DONE = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
USER = "0190f1a2-0000-7000-8000-000000000002"
DEFAULT = commission_schedule(PaymentsSettings())


def booking(amount_minor: int = 10_000, currency: str = "EUR") -> CompletedBooking:
    return CompletedBooking(
        "b-1", USER, "p-1", "s-1", "c-1", Money(amount_minor, currency), completed_at=DONE
    )


def earned(tier: Tier = Tier.FREE, **kwargs) -> Earning:
    earning, _ = Earning.record(
        "e-1",
        booking(**kwargs),
        tier=tier,
        schedule=DEFAULT,
        hold=timedelta(hours=48),
        transaction_id="t-1",
    )
    return earning


@pytest.mark.parametrize(
    ("tier", "net", "commission"),
    [(Tier.FREE, 8000, 2000), (Tier.ENTRY, 8500, 1500), (Tier.PREMIUM, 9000, 1000)],
)
def test_the_commission_is_the_tiers_rate(tier, net, commission):
    earning = earned(tier)
    assert (earning.net, earning.commission) == (Money(net, "EUR"), Money(commission, "EUR"))
    assert earning.status is EarningStatus.PENDING
    assert earning.available_at == DONE + timedelta(hours=48)


@pytest.mark.parametrize(
    ("paid", "rate", "commission"),
    [(1, 2000, 0), (3, 2000, 1), (2, 2500, 1), (12_345, 1500, 1852), (999, 1000, 100), (7, 0, 0)],
)
def test_the_commission_rounds_half_up_and_the_earning_is_the_rest(paid, rate, commission):
    net, cut = split(Money(paid, "JPY"), rate)
    assert cut.amount_minor == commission
    assert net.amount_minor + cut.amount_minor == paid


def test_the_rates_in_effect_at_completion_apply():
    march = datetime(2026, 3, 1, tzinfo=UTC)
    schedule = CommissionSchedule(
        [
            CommissionRates(datetime(2000, 1, 1, tzinfo=UTC), dict.fromkeys(Tier, 2000)),
            CommissionRates(march, dict.fromkeys(Tier, 1200)),
        ]
    )
    assert schedule.rate(Tier.FREE, march - timedelta(microseconds=1)) == 2000
    assert schedule.rate(Tier.FREE, march) == 1200
    # Before every set, the earliest applies rather than none.
    assert schedule.rate(Tier.FREE, datetime(1999, 1, 1, tzinfo=UTC)) == 2000


def test_the_earning_transaction_splits_clearing_into_pending_and_revenue():
    earning = earned(Tier.ENTRY, amount_minor=4000, currency="USD")
    posted = earning.earning_transaction(DONE)
    assert posted.totals() == {"USD": 0}
    assert posted.cause == "bookings/b-1" and posted.booking_id == "b-1"
    assert posted.posting_to(Account(PLATFORM, AccountKind.PLATFORM_CLEARING, "USD")) == -4000
    assert posted.posting_to(Account(USER, AccountKind.PRACTITIONER_PENDING, "USD")) == 3400
    assert posted.posting_to(Account(PLATFORM, AccountKind.PLATFORM_REVENUE, "USD")) == 600
    charge = earning.charge("t-0", DONE)
    assert charge.posting_to(Account(EXTERNAL, AccountKind.EXTERNAL, "USD")) == -4000
    assert charge.posting_to(Account(PLATFORM, AccountKind.PLATFORM_CLEARING, "USD")) == 4000


def test_a_release_waits_for_the_hold_and_happens_once():
    earning = earned()
    with pytest.raises(WrongState, match="in its hold"):
        earning.release("t-2", DONE + timedelta(hours=47))
    released, event = earning.release("t-2", DONE + timedelta(hours=48))
    assert released.status is EarningStatus.AVAILABLE and event.earning is released
    moved = released.release_transaction("t-2", DONE)
    assert moved is not None
    assert moved.posting_to(earning.pending_account) == -8000
    assert moved.posting_to(earning.available_account) == 8000
    with pytest.raises(WrongState, match="the earning is available, not pending"):
        released.release("t-3", DONE + timedelta(hours=49))


def test_settings_refuse_rates_that_cannot_be_applied():
    with pytest.raises(ValidationError, match="less than or equal to 10000"):
        PaymentsSettings(
            commission_rates=[
                {
                    "effective_from": "2026-01-01T00:00:00Z",
                    "free_bps": 10_001,
                    "entry_bps": 0,
                    "premium_bps": 0,
                }
            ]
        )
    with pytest.raises(ValidationError, match="must name its offset"):
        PaymentsSettings(
            commission_rates=[
                {
                    "effective_from": "2026-01-01T00:00:00",
                    "free_bps": 1,
                    "entry_bps": 1,
                    "premium_bps": 1,
                }
            ]
        )
    same = {
        "effective_from": "2026-01-01T00:00:00Z",
        "free_bps": 1,
        "entry_bps": 1,
        "premium_bps": 1,
    }
    with pytest.raises(ValidationError, match="same moment"):
        PaymentsSettings(commission_rates=[same, same])
    with pytest.raises(ValidationError, match="at least 1 item"):
        PaymentsSettings(commission_rates=[])


def test_the_payout_minimum_is_in_each_currencys_minor_units():
    configured = PaymentsSettings(payout_minimums={"JPY": "5000"})
    assert configured.payout_minimum_for("EUR") == Money(5000, "EUR")
    assert configured.payout_minimum_for("BHD") == Money(50_000, "BHD")
    assert configured.payout_minimum_for("JPY") == Money(5000, "JPY")
    with pytest.raises(ValidationError, match="not an ISO 4217 currency"):
        PaymentsSettings(payout_minimums={"EURO": "1"})


def test_an_earning_of_nothing_moves_no_money_but_its_state():
    everything = CommissionSchedule([CommissionRates(DONE, dict.fromkeys(Tier, 10_000))])
    earning, _ = Earning.record(
        "e-1", booking(), tier=Tier.FREE, schedule=everything, hold=timedelta(0), transaction_id="t"
    )
    assert (earning.net.amount_minor, earning.commission.amount_minor) == (0, 10_000)
    posted = earning.earning_transaction(DONE)
    assert [p.account.kind for p in posted.postings] == [
        AccountKind.PLATFORM_CLEARING,
        AccountKind.PLATFORM_REVENUE,
    ]
    released, _ = earning.release("t-2", DONE)
    assert released.status is EarningStatus.AVAILABLE
    assert released.release_transaction("t-2", DONE) is None
