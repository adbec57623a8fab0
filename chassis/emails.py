"""Email addresses: the one normalisation that accounts are unique on and limits are keyed on."""

from __future__ import annotations

import unicodedata

from confusable_homoglyphs import categories
from email_validator import EmailNotValidError, validate_email

from chassis.errors import InvalidArgument

EMAIL_MAX_LENGTH = 254

# Characters of these belong to no script of their own (digits, '.', '+', accents).
SCRIPTLESS = frozenset({"COMMON", "INHERITED"})
# Unicode TS 39's "highly restrictive" profile: a label is written in one script, or in one of
# these combinations that Japanese, Chinese and Korean writing mix as a matter of course.
SCRIPTS_WRITTEN_TOGETHER = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


def scripts_of(text: str) -> frozenset[str]:
    """The Unicode scripts whose letters appear in a text."""
    return frozenset(categories.alias(c) for c in text) - SCRIPTLESS


def mixes_scripts(text: str) -> bool:
    """Whether a text mixes scripts the way look-alike spellings do (Latin with Cyrillic)."""
    scripts = scripts_of(text)
    return len(scripts) > 1 and not any(scripts <= s for s in SCRIPTS_WRITTEN_TOGETHER)


def normalize_email(value: str, field_name: str = "email") -> str:
    """The address as an account holds it, or an error naming the field."""
    value = value.strip()
    if not value:
        raise InvalidArgument.field(field_name, "is required", "required")
    if len(value) > EMAIL_MAX_LENGTH:
        raise InvalidArgument.field(
            field_name, f"must be at most {EMAIL_MAX_LENGTH} characters", "too_long"
        )
    try:
        # NFKC folds compatibility spellings (full-width letters, ligatures) into the plain
        # ones, so they name the same account; UTS 46 lower-cases and decodes the domain.
        normalized = validate_email(
            unicodedata.normalize("NFKC", value), check_deliverability=False
        ).normalized
    except EmailNotValidError as error:
        raise InvalidArgument.field(
            field_name, f"is not a valid email address: {error}", "invalid_email"
        ) from error
    # A label that mixes scripts (Latin with a Cyrillic look-alike letter) exists to be
    # mistaken for another address; single-script look-alikes of a whole label remain.
    local_part, _, domain = normalized.rpartition("@")
    for part in (local_part, *domain.split(".")):
        if mixes_scripts(part):
            raise InvalidArgument.field(
                field_name,
                f"mixes letters of different scripts in '{part}' "
                f"({', '.join(sorted(scripts_of(part))).lower()}), as look-alike addresses do",
                "mixed_scripts",
            )
    return normalized


def email_key(normalized: str) -> str:
    """What a normalised address is unique on: the same address in any letter case."""
    return normalized.lower()
