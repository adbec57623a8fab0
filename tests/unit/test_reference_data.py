"""Zone names, countries, languages and currencies come from the IANA and ISO tables, and
money carries its currency's minor-unit exponent."""

from __future__ import annotations

import pytest

from chassis.errors import InvalidArgument
from chassis.money import (
    Money,
    check_currency,
    is_currency,
    minor_unit_exponent,
    money_from_proto,
    parse_money,
)
from chassis.validation import Violations, check_timezone
from estuary.type.v1 import money_pb2
from services.catalog.domain import practitioners as domain
from services.catalog.domain.practitioners import Location, LocationKind, Profile
from services.catalog.reference import COUNTRIES, LANGUAGES


def fields_of(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in error.value.violations]


# Time zones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["Europe/Lisbon", "America/Sao_Paulo", "Asia/Kolkata", "UTC", "Etc/GMT+5"]
)
def test_iana_zones_are_time_zones(name):
    assert check_timezone(name) == name


@pytest.mark.parametrize("name", ["US/Eastern", "Asia/Calcutta", "Europe/Kiev", "GB"])
def test_links_to_real_zones_are_kept_because_clients_still_send_them(name):
    assert check_timezone(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "localtime",  # the host's own zone file on Debian, whatever zone that is
        "posixrules",
        "Factory",  # IANA's placeholder for "no zone configured"
        "right/Europe/Lisbon",
        "posix/Europe/Lisbon",
        "europe/lisbon",
        "Mars/Olympus",
        "Europe",
        "+01:00",
    ],
)
def test_what_is_not_an_iana_zone_is_refused_by_field(name):
    with pytest.raises(InvalidArgument) as refused:
        check_timezone(name, "profile.timezone")
    assert fields_of(refused) == ["profile.timezone"]
    assert refused.value.violations[0].code == "invalid_timezone"


def test_a_missing_zone_is_refused_only_when_required():
    assert check_timezone("") == ""
    with pytest.raises(InvalidArgument) as refused:
        check_timezone("", required=True)
    assert refused.value.violations[0].code == "required"


# Countries and languages -------------------------------------------------------------------


def test_countries_are_iso_3166_alpha_2_and_nothing_user_assigned():
    assert {"PT", "BR", "US", "JP", "GB", "SS"} <= COUNTRIES
    assert not {"ZZ", "XX", "XK", "EU", "UK", "pt", "PRT"} & COUNTRIES
    assert len(COUNTRIES) == 249


def test_languages_are_iso_639_1_codes():
    assert {"en", "pt", "fr", "ja", "zu"} <= LANGUAGES
    assert not {"zz", "xx", "EN", "por", "pt-BR"} & LANGUAGES


def place(country: str) -> Location:
    return Location(
        id="",
        kind=LocationKind.IN_PERSON,
        label="Studio",
        address="Rua das Flores 12",
        city="Lisbon",
        country_code=country,
        latitude=38.71,
        longitude=-9.14,
    )


@pytest.mark.parametrize("country", ["PT", "pt", " Pt "])
def test_a_country_code_in_any_case_is_kept_in_upper_case(country):
    violations = Violations()
    checked = domain.check_location(place(country), violations, "locations[0].")
    assert violations.items == [] and checked.country_code == "PT"


@pytest.mark.parametrize("country", ["ZZ", "XX", "zz", "XK", "P", "PRT", ""])
def test_a_country_iso_does_not_assign_is_refused_as_the_api_names_it(country):
    violations = Violations()
    domain.check_location(place(country), violations, "locations[0].")
    assert [(v.field, v.code) for v in violations.items] == [
        ("locations[0].country", "invalid_country")
    ]


def profile(**changes) -> Profile:
    values = {
        "display_name": "Pat Rivers",
        "bio": "",
        "specializations": [],
        "certifications": [],
        "years_experience": 3,
        "languages": ["en"],
        "timezone": "Europe/Lisbon",
        **changes,
    }
    return Profile(**values)


def test_a_profile_names_its_bad_zone_and_languages():
    with pytest.raises(InvalidArgument) as refused:
        domain.check_profile(profile(timezone="localtime", languages=["EN", "zz", "xx"]))
    assert fields_of(refused) == ["languages[1]", "languages[2]", "timezone"]
    checked = domain.check_profile(profile(languages=["EN", " pt "]))
    assert checked.languages == ["en", "pt"]


# Currencies and money ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("EUR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3), ("KWD", 3), ("CLP", 0)],
)
def test_minor_unit_exponents_are_iso_4217s(currency, exponent):
    assert minor_unit_exponent(currency) == exponent
    assert Money(100, currency).exponent == exponent


@pytest.mark.parametrize(("currency", "exponent"), [("HUF", 2), ("IDR", 2), ("IQD", 3)])
def test_exponents_are_iso_minor_units_not_display_digits(currency, exponent):
    # CLDR (babel) shows these with fewer decimals; charging in minor units needs ISO's.
    assert minor_unit_exponent(currency) == exponent


@pytest.mark.parametrize(
    "code",
    [
        "XXX",  # no currency
        "XTS",  # testing
        "XAU",  # gold
        "XDR",  # special drawing rights
        "USN",  # a fund: US dollar next day
        "CLF",  # a fund: unidad de fomento
        "ABC",
        "ZWL",  # withdrawn
        "eur",
        "EURO",
        "",
    ],
)
def test_what_money_cannot_be_in_is_not_a_currency(code):
    assert not is_currency(code)
    with pytest.raises(ValueError, match="ISO 4217"):
        minor_unit_exponent(code)


def test_a_currency_from_a_request_is_upper_cased_or_refused_by_field():
    assert check_currency(" eur ") == "EUR"
    for code in ("XXX", "ABC", "", "€"):
        with pytest.raises(InvalidArgument) as refused:
            check_currency(code, "price.currency")
        assert fields_of(refused) == ["price.currency"]
        assert refused.value.violations[0].code == "invalid_currency"


def test_money_from_a_request_names_each_bad_field():
    assert parse_money(4500, "eur", "price") == Money(4500, "EUR")
    assert parse_money(-500, "EUR", "adjustment", signed=True).amount_minor == -500
    with pytest.raises(InvalidArgument) as refused:
        parse_money(-1, "XXX", "price")
    assert fields_of(refused) == ["price.currency", "price.amount_minor"]
    for amount in (2**63, -(2**63) - 1, 1.5, True):
        with pytest.raises(InvalidArgument) as refused:
            parse_money(amount, "EUR", "price", signed=True)
        assert fields_of(refused) == ["price.amount_minor"]


def test_money_itself_holds_only_int64_amounts_of_real_currencies():
    assert Money(2**63 - 1, "JPY").amount_minor == 2**63 - 1
    for amount, currency in ((2**63, "EUR"), (1.5, "EUR"), (True, "EUR"), (1, "XXX"), (1, "eur")):
        with pytest.raises(ValueError):
            Money(amount, currency)


def test_money_goes_to_and_from_its_proto():
    money = Money(4500, "BHD")
    message = money.to_proto()
    assert message == money_pb2.Money(amount_minor=4500, currency="BHD")
    assert money_from_proto(message, "price") == money
    with pytest.raises(InvalidArgument) as refused:
        money_from_proto(money_pb2.Money(amount_minor=-1, currency="ZZZ"), "total")
    assert fields_of(refused) == ["total.currency", "total.amount_minor"]
