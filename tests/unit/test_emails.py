"""The one normalisation of email addresses: what counts as the same account, what is refused."""

from __future__ import annotations

import pytest

from chassis.emails import email_key, normalize_email
from chassis.errors import InvalidArgument


def key(address: str) -> str:
    return email_key(normalize_email(address))


@pytest.mark.parametrize(
    "spelling",
    [
        "victim@example.com",
        "Victim@EXAMPLE.com",
        "  victim@example.com  ",
        "victim@example.\uff43om",  # a full-width c in the domain
        "\uff56ictim@example.com",  # a full-width v in the local part
        "\uff56\uff49\uff43\uff54\uff49\uff4d@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",
        "victim\uff20example\uff0ecom",  # full-width at sign and dot
    ],
)
def test_compatibility_spellings_are_one_account(spelling):
    assert key(spelling) == "victim@example.com"


def test_ligatures_fold_into_their_letters():
    assert key("\ufb01le@example.com") == "file@example.com"


def test_the_local_part_keeps_its_case_and_the_domain_is_lower_cased():
    assert normalize_email("Ana.Sousa@Example.COM") == "Ana.Sousa@example.com"


@pytest.mark.parametrize(
    ("address", "mixed"),
    [
        ("\u0430dmin@example.com", "\u0430dmin"),  # Cyrillic a, Latin dmin
        ("admin@ex\u0430mple.com", "ex\u0430mple"),
        ("admin@xn--exmple-4nf.com", "ex\u0430mple"),  # the same label in punycode
        ("p\u03b1ypal@example.com", "p\u03b1ypal"),  # Greek alpha
        ("\uff41dmin@ex\u0430mple.com", "ex\u0430mple"),  # full-width folds, Cyrillic stays
    ],
)
def test_a_part_that_mixes_scripts_is_refused_naming_the_field(address, mixed):
    with pytest.raises(InvalidArgument) as refused:
        normalize_email(address, "new_email")
    [violation] = refused.value.violations
    assert (violation.field, violation.code) == ("new_email", "mixed_scripts")
    assert mixed in violation.message


@pytest.mark.parametrize(
    "address",
    [
        "\u0438\u0432\u0430\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",  # Cyrillic
        "\u03b1\u03bb\u03b5\u03be@example.gr",  # a Greek local part, a Latin domain
        "\u5c71\u7530\u3072\u308d\u3057@example.jp",  # Han with Hiragana
        "ana.sousa+yoga-2024@example.com",  # digits and punctuation belong to no script
        "jos\u00e9@example.com",
    ],
)
def test_one_script_per_part_is_accepted(address):
    assert normalize_email(address)


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ("", "required"),
        ("   ", "required"),
        ("x" * 250 + "@example.com", "too_long"),
        ("not-an-address", "invalid_email"),
        ("a@b\u200dc.com", "invalid_email"),
    ],
)
def test_what_is_not_an_address_is_refused_naming_the_field(address, code):
    with pytest.raises(InvalidArgument) as refused:
        normalize_email(address)
    assert [(v.field, v.code) for v in refused.value.violations] == [("email", code)]
