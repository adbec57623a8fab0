"""Idempotency keys come from our own ids: the same operation on the same ids always makes
the same key (so a retry is recognised), another operation or id another key."""

from __future__ import annotations

import pytest

from services.payments.provider.port import idempotency_key


def test_the_same_operation_on_the_same_ids_makes_the_same_key():
    assert idempotency_key("refund", "r-1") == idempotency_key("refund", "r-1")
    assert idempotency_key("transfer", "payout-1") == "estuary:transfer:payout-1"


def test_another_operation_or_id_makes_another_key():
    keys = {
        idempotency_key("transfer", "payout-1"),
        idempotency_key("payout", "payout-1"),
        idempotency_key("transfer", "payout-2"),
        idempotency_key("checkout", "order-1", "attempt-2"),
    }
    assert len(keys) == 4


@pytest.mark.parametrize("parts", [("",), ("refund",), ("refund", ""), ("refund", "r-1", "")])
def test_a_key_needs_an_operation_and_ids(parts):
    with pytest.raises(ValueError, match="idempotency key"):
        idempotency_key(*parts)
