"""Cancellation policies (refund at a moment, the reschedule deadline), entitlements (their
sessions, expiry, what each session stands for) and waitlist offers, pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import FailedPrecondition
from chassis.ids import new_id
from chassis.lifecycle import WrongState
from services.booking.domain.bookings import BookedTime
from services.booking.domain.entitlements import EntitlementStatus, _allocate, grant
from services.booking.domain.policy import refund_percent, reschedule_deadline
from services.booking.domain.terms import (
    BundleItem,
    PackageTerms,
    RefundRule,
    ServiceKind,
)
from services.booking.domain.waitlist import WaitlistEntry, WaitlistStatus
from tests.unit.booking.factories import NOW, POLICY, terms

START = NOW + timedelta(days=3)

rules = st.lists(st.builds(RefundRule, st.integers(0, 8760), st.integers(0, 100)), max_size=10).map(
    # Catalog's rule: never more back for cancelling later.
    lambda found: tuple(
        RefundRule(h, p)
        for h, p in zip(
            sorted({r.hours_before for r in found}, reverse=True),
            sorted((r.refund_percent for r in found), reverse=True),
            strict=False,
        )
    )
)


@pytest.mark.parametrize(
    ("before_start", "percent"),
    [
        (timedelta(days=3), 100),
        (timedelta(hours=48), 100),
        (timedelta(hours=47, minutes=59), 50),
        (timedelta(hours=24), 50),
        (timedelta(hours=1), 0),
        (timedelta(0), 0),
        (-timedelta(minutes=1), 0),
    ],
)
def test_the_refund_is_the_rule_with_the_most_notice_that_the_cancellation_meets(
    before_start, percent
):
    assert refund_percent(POLICY, START, START - before_start) == percent


@given(rules, st.integers(0, 10_000), st.integers(0, 10_000))
def test_cancelling_earlier_never_refunds_less(policy, early_hours, extra_hours):
    early = START - timedelta(hours=early_hours + extra_hours)
    late = START - timedelta(hours=early_hours)
    assert refund_percent(policy, START, early) >= refund_percent(policy, START, late)


def test_a_client_may_move_a_booking_as_long_as_cancelling_would_refund_something():
    assert reschedule_deadline(POLICY, START) == START - timedelta(hours=24)
    assert reschedule_deadline((RefundRule(0, 0),), START) is None
    assert reschedule_deadline((RefundRule(0, 100),), START) == START


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**6), min_size=1, max_size=20))
def test_allocation_splits_a_price_exactly(total, weights):
    shares = _allocate(total, weights)
    assert sum(shares) == total
    assert all(share >= 0 for share in shares)


def _package(count: int = 5, price: int = 17000):
    session = terms(title="Deep tissue")
    package = terms(
        kind=ServiceKind.PACKAGE,
        price_minor=price,
        practitioner_id=session.practitioner_id,
        package=PackageTerms(session.service_id, count, 90),
    )
    return package, session


def test_a_package_grants_its_sessions_of_one_service_for_its_validity():
    package, session = _package()
    [granted] = grant(
        purchase_id="p1",
        client_id="c1",
        terms=package,
        parts={session.service_id: session},
        paid_minor=17000,
        now=NOW,
        bundle_validity=timedelta(days=365),
        new_id=new_id,
    )
    assert (granted.service_id, granted.service_title, granted.total, granted.used) == (
        session.service_id,
        "Deep tissue",
        5,
        0,
    )
    assert granted.expires_at == NOW + timedelta(days=90)
    assert granted.status(NOW) is EntitlementStatus.ACTIVE
    assert [granted.redeem(NOW, None) for _ in range(5)] == [3400] * 5
    assert granted.status(NOW) is EntitlementStatus.USED_UP
    with pytest.raises(FailedPrecondition) as refused:
        granted.redeem(NOW, None)
    assert refused.value.reason == "ENTITLEMENT_USED_UP"
    granted.give_back()
    assert granted.remaining == 1


@given(st.integers(1, 100), st.integers(0, 10**9))
def test_the_sessions_of_an_entitlement_stand_for_its_whole_value(count, value):
    package, session = _package(count=count)
    [granted] = grant(
        purchase_id="p",
        client_id="c",
        terms=package,
        parts={session.service_id: session},
        paid_minor=value,
        now=NOW,
        bundle_validity=timedelta(days=1),
        new_id=new_id,
    )
    assert sum(granted.redeem(NOW, None) for _ in range(count)) == value


def test_an_entitlement_expires_and_refuses_sessions_after_its_end():
    package, session = _package()
    [granted] = grant(
        purchase_id="p",
        client_id="c",
        terms=package,
        parts={session.service_id: session},
        paid_minor=1,
        now=NOW,
        bundle_validity=timedelta(days=1),
        new_id=new_id,
    )
    with pytest.raises(FailedPrecondition) as too_late:
        granted.redeem(NOW, granted.expires_at + timedelta(minutes=1))
    assert too_late.value.reason == "ENTITLEMENT_EXPIRES_FIRST"
    assert granted.status(granted.expires_at) is EntitlementStatus.EXPIRED
    granted.void(NOW)
    assert granted.status(NOW) is EntitlementStatus.VOID


def test_a_bundle_grants_one_entitlement_per_item_its_price_spread_by_what_each_costs():
    yoga = terms(title="Yoga", price_minor=3000)
    massage = terms(title="Massage", price_minor=6000)
    package, inner = _package(count=3, price=9000)
    bundle = terms(
        kind=ServiceKind.BUNDLE,
        price_minor=15000,
        bundle_items=(
            BundleItem(yoga.service_id, 2),
            BundleItem(massage.service_id, 1),
            BundleItem(package.service_id, 1),
        ),
    )
    parts = {t.service_id: t for t in (yoga, massage, package, inner)}
    granted = grant(
        purchase_id="b",
        client_id="c",
        terms=bundle,
        parts=parts,
        paid_minor=15000,
        now=NOW,
        bundle_validity=timedelta(days=365),
        new_id=new_id,
    )
    assert [(g.service_id, g.total) for g in granted] == [
        (yoga.service_id, 2),
        (massage.service_id, 1),
        (inner.service_id, 3),
    ]
    assert sum(g.value_minor for g in granted) == 15000
    # 6000, 6000 and 9000 bought one by one: 15000 spread 2:2:3, whole cents, exact.
    assert [g.value_minor for g in granted] == [4286, 4286, 6428]
    assert granted[0].expires_at == NOW + timedelta(days=365)
    assert granted[2].expires_at == NOW + timedelta(days=90)


def test_a_waitlist_offer_holds_until_it_lapses_and_is_taken_only_while_live():
    entry = WaitlistEntry("w1", "s1", START, "c1", WaitlistStatus.WAITING, NOW, NOW)
    offered = entry.offer(
        NOW, timedelta(hours=2), BookedTime(START, START + timedelta(hours=1)), terms()
    )
    assert offered.expires_at == NOW + timedelta(hours=2)
    assert entry.is_offer_live(NOW + timedelta(minutes=119))
    assert not entry.is_offer_live(NOW + timedelta(hours=2))
    with pytest.raises(WrongState):
        entry.offer(NOW, timedelta(hours=2), offered.time, terms())
    late = replace(entry)
    with pytest.raises(WrongState):
        late.accept(NOW + timedelta(hours=3))
    entry.accept(NOW + timedelta(hours=1))
    assert entry.status is WaitlistStatus.ACCEPTED
    with pytest.raises(WrongState):
        entry.lapse(NOW)
