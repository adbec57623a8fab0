"""Money: integer minor units of an ISO 4217 currency, never a float.

The currencies and their minor-unit exponents come from ISO's own published table, as the
iso4217 package ships it. Not babel: its precision is CLDR's display digits, which differ
from ISO's minor units for some currencies (HUF, IDR and COP show 0 decimals but have 2,
IQD has 3), so an amount charged to a provider in minor units would be off by 100 or 1000.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import iso4217

from chassis.errors import InvalidArgument
from chassis.validation import INT64_MAX, INT64_MIN, Violations
from estuary.type.v1 import money_pb2


@cache
def _exponents() -> dict[str, int]:
    """What money can be counted in, by code, with its minor-unit exponent."""
    # ISO lists more than currencies: metals, SDRs, bond units, the testing code XTS and
    # "no currency" XXX have no minor unit, and funds (USN, BOV, CLF...) are units of account
    # that nobody pays in. Neither can price anything.
    funds = {
        entry.findtext("Ccy")
        for entry in iso4217.raw_xml.iter("CcyNtry")
        if entry.find("CcyNm[@IsFund='true']") is not None
    }
    return {
        currency.code: currency.exponent
        for currency in iso4217.Currency
        if currency.exponent is not None and currency.code not in funds
    }


def is_currency(code: str) -> bool:
    """Whether code is an ISO 4217 currency (upper case) that money can be in."""
    return code in _exponents()


def minor_unit_exponent(currency: str) -> int:
    """How many decimal places a currency's minor unit is: JPY 0, EUR 2, BHD 3."""
    try:
        return _exponents()[currency]
    except KeyError:
        raise ValueError(f"{currency!r} is not an ISO 4217 currency") from None


def check_currency(value: str, field: str = "currency") -> str:
    """An ISO 4217 currency code from a request, upper-cased, e.g. EUR."""
    code = value.strip().upper()
    if not is_currency(code):
        raise InvalidArgument.field(
            field, "must be an ISO 4217 currency code such as EUR", "invalid_currency"
        )
    return code


@dataclass(frozen=True)
class Money:
    """An amount in a currency's minor unit: Money(4500, "EUR") is EUR 45.00."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        # Requests are checked by parse_money, which names their fields; getting here with
        # bad values is a bug in our own code.
        if type(self.amount_minor) is not int or not INT64_MIN <= self.amount_minor <= INT64_MAX:
            raise ValueError(f"amount_minor must be an int64, not {self.amount_minor!r}")
        if not is_currency(self.currency):
            raise ValueError(f"{self.currency!r} is not an ISO 4217 currency")

    @property
    def exponent(self) -> int:
        """The currency's minor-unit exponent."""
        return minor_unit_exponent(self.currency)

    def __str__(self) -> str:
        """As English writes it: 1,234.50 EUR; 5,000 JPY."""
        value = Decimal(self.amount_minor).scaleb(-self.exponent)
        return f"{value:,.{self.exponent}f} {self.currency}"

    def to_proto(self) -> money_pb2.Money:
        """As estuary.type.v1.Money."""
        return money_pb2.Money(amount_minor=self.amount_minor, currency=self.currency)


def parse_money(amount_minor: int, currency: str, field: str, *, signed: bool = False) -> Money:
    """Money from a request, negative only if signed; errors name `<field>.amount_minor` and
    `<field>.currency`."""
    v = Violations()
    code = v.check(lambda: check_currency(currency, f"{field}.currency"), "")
    if type(amount_minor) is not int or not INT64_MIN <= amount_minor <= INT64_MAX:
        v.add(f"{field}.amount_minor", "must be a whole number of minor units", "out_of_range")
    elif amount_minor < 0 and not signed:
        v.add(f"{field}.amount_minor", "must not be negative", "out_of_range")
    v.raise_if_any()
    return Money(amount_minor, code)


def money_from_proto(message: money_pb2.Money, field: str, *, signed: bool = False) -> Money:
    """Money from an estuary.type.v1.Money in a request; errors name the field it came in."""
    return parse_money(message.amount_minor, message.currency, field, signed=signed)
