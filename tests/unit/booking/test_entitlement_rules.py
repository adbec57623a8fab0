"""Entitlements at their edges: what a client is told when one cannot be used (word for
word), the instant it expires, giving a session back, and what a package or bundle grants,
field by field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chassis.errors import FailedPrecondition
from services.booking.domain.entitlements import (
    Entitlement,
    EntitlementStatus,
    _allocate,
    grant,
)
from services.booking.domain.terms import BundleItem, PackageTerms, ServiceKind
from tests.unit.booking.factories import NOW, terms
from tests.unit.booking.test_refusals import TICK, told

EXPIRES = NOW + timedelta(days=90)


def entitlement(total: int = 3, used: int = 0, value: int = 10) -> Entitlement:
    return Entitlement(
        id="e1",
        client_id="c1",
        purchase_booking_id="p1",
        service_id="s1",
        service_title="Deep tissue",
        practitioner_id="pr1",
        total=total,
        used=used,
        value_minor=value,
        currency="EUR",
        expires_at=EXPIRES,
        created_at=NOW,
    )


def test_an_entitlement_is_usable_until_the_instant_it_expires():
    held = entitlement()
    assert held.status(EXPIRES - TICK) is EntitlementStatus.ACTIVE
    assert held.status(EXPIRES) is EntitlementStatus.EXPIRED
    with pytest.raises(FailedPrecondition) as refused:
        held.redeem(EXPIRES, None)
    assert told(refused) == ("this entitlement is expired", "ENTITLEMENT_EXPIRED", {})
    assert held.used == 0


def test_a_used_up_entitlement_is_refused_as_used_up_even_once_expired():
    held = entitlement(total=2, used=2)
    assert held.status(EXPIRES + timedelta(days=1)) is EntitlementStatus.USED_UP
    with pytest.raises(FailedPrecondition) as refused:
        held.redeem(NOW, None)
    assert told(refused) == ("this entitlement is used up", "ENTITLEMENT_USED_UP", {})
    assert held.used == 2


def test_a_void_entitlement_is_refused_as_void_whatever_is_left():
    held = entitlement(total=2, used=2)
    held.void(NOW + timedelta(hours=1))
    assert held.voided_at == NOW + timedelta(hours=1)
    assert held.status(NOW) is EntitlementStatus.VOID
    with pytest.raises(FailedPrecondition) as refused:
        held.redeem(NOW, None)
    assert told(refused) == ("this entitlement is void", "ENTITLEMENT_VOID", {})


def test_a_session_may_be_booked_up_to_the_expiry_and_not_past_it():
    held = entitlement()
    with pytest.raises(FailedPrecondition) as refused:
        held.redeem(NOW, EXPIRES + TICK)
    assert told(refused) == (
        "this entitlement expires before that session",
        "ENTITLEMENT_EXPIRES_FIRST",
        {"expire_time": EXPIRES.isoformat()},
    )
    assert held.used == 0
    assert held.redeem(NOW, EXPIRES) == 3
    assert held.used == 1


def test_each_session_stands_for_its_share_the_remainder_on_the_later_ones():
    held = entitlement(total=3, value=10)
    assert [held.share(use) for use in (1, 2, 3)] == [3, 3, 4]
    assert [held.redeem(NOW, None) for _ in range(3)] == [3, 3, 4]
    assert held.remaining == 0


def test_a_session_given_back_is_usable_again_and_nothing_goes_below_unused():
    held = entitlement(total=3)
    held.redeem(NOW, None)
    held.give_back()
    assert (held.used, held.remaining) == (0, 3)
    held.give_back()
    assert held.used == 0


def test_a_price_is_split_by_the_largest_remainders_first():
    assert _allocate(10, [1, 2]) == [3, 7]
    assert _allocate(10, [1, 1, 1]) == [4, 3, 3]
    assert _allocate(7, [0, 0]) == [4, 3]  # nothing to go by: equal parts
    assert _allocate(10, [1, 0]) == [10, 0]  # a free item stands for nothing
    assert _allocate(5, []) == []


def counter():
    made = iter(range(1, 100))
    return lambda: f"e{next(made)}"


def test_a_package_grants_its_sessions_named_after_the_session_service():
    session = terms(title="Deep tissue")
    package = terms(
        kind=ServiceKind.PACKAGE,
        title="Five deep tissue",
        package=PackageTerms(session.service_id, 5, 60),
    )
    for parts, title in [({session.service_id: session}, "Deep tissue"), ({}, "Five deep tissue")]:
        assert grant(
            purchase_id="p1",
            client_id="c1",
            terms=package,
            parts=parts,
            paid_minor=15000,
            now=NOW,
            bundle_validity=timedelta(days=365),
            new_id=counter(),
        ) == [
            Entitlement(
                id="e1",
                client_id="c1",
                purchase_booking_id="p1",
                service_id=session.service_id,
                service_title=title,
                practitioner_id=package.practitioner_id,
                total=5,
                used=0,
                value_minor=15000,
                currency="EUR",
                expires_at=NOW + timedelta(days=60),
                created_at=NOW,
            )
        ]


def test_a_bundle_grants_each_item_and_a_package_item_its_sessions_times_the_quantity():
    yoga = terms(title="Yoga", price_minor=3000)
    inner = terms(title="Deep tissue", price_minor=5000)
    package = terms(
        kind=ServiceKind.PACKAGE,
        title="Three deep tissue",
        price_minor=9000,
        package=PackageTerms(inner.service_id, 3, 30),
    )
    bundle = terms(
        kind=ServiceKind.BUNDLE,
        price_minor=12000,
        currency="USD",
        bundle_items=(BundleItem(yoga.service_id, 1), BundleItem(package.service_id, 2)),
    )

    def granted(parts):
        return grant(
            purchase_id="b1",
            client_id="c1",
            terms=bundle,
            parts=parts,
            paid_minor=21000,
            now=NOW,
            bundle_validity=timedelta(days=365),
            new_id=counter(),
        )

    common: dict[str, Any] = {
        "client_id": "c1",
        "purchase_booking_id": "b1",
        "practitioner_id": bundle.practitioner_id,
        "used": 0,
        "currency": "USD",
        "created_at": NOW,
    }
    everything = {t.service_id: t for t in (yoga, package, inner)}
    # 3000 and 2 x 9000 bought one by one: 21000 spread 1:6.
    assert granted(everything) == [
        Entitlement(
            id="e1",
            service_id=yoga.service_id,
            service_title="Yoga",
            total=1,
            value_minor=3000,
            expires_at=NOW + timedelta(days=365),
            **common,
        ),
        Entitlement(
            id="e2",
            service_id=inner.service_id,
            service_title="Deep tissue",
            total=6,
            value_minor=18000,
            expires_at=NOW + timedelta(days=30),
            **common,
        ),
    ]
    without_inner = granted({yoga.service_id: yoga, package.service_id: package})
    assert without_inner[1].service_title == "Three deep tissue"
    assert without_inner[1].service_id == inner.service_id
