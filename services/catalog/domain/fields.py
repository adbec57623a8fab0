"""Checks the fields of every aggregate share: texts, lists of texts, update masks."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from chassis.validation import Violations
from services.catalog.domain.bounds import MAX_LIST_ITEMS, Bounds


def check_text(v: Violations, field_name: str, value: str, bounds: Bounds) -> str:
    """A text stripped of surrounding space, as long as the bounds allow, no control
    characters but newlines and tabs."""
    value = value.strip()
    if bounds.low and not value:
        v.add(field_name, "is required", "required")
    elif len(value) < bounds.low:
        v.add(field_name, f"must be at least {bounds.low} characters", "too_short")
    elif len(value) > bounds.high:
        v.add(field_name, f"must be at most {bounds.high} characters", "too_long")
    elif any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
        v.add(field_name, "must not contain control characters")
    return value


def check_text_list(v: Violations, field_name: str, values: list[str], item: Bounds) -> list[str]:
    """A short list of texts, each checked, repeats dropped."""
    if len(values) > MAX_LIST_ITEMS:
        v.add(field_name, f"must hold at most {MAX_LIST_ITEMS} items", "too_many")
        return []
    cleaned = []
    for index, value in enumerate(values):
        cleaned.append(check_text(v, f"{field_name}[{index}]", value, item))
    return list(dict.fromkeys(cleaned))


def check_paths(paths: Sequence[str], allowed: frozenset[str]) -> None:
    """An update names at least one field, each one the caller may change."""
    v = Violations()
    if not paths:
        v.add("update_mask", "must name at least one field", "required")
    for path in paths:
        if path not in allowed:
            v.add(path, "cannot be changed here", "read_only")
    v.raise_if_any()
