"""Discovery's choices: how a search orders what it finds, and the bounds of its filters."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from chassis.errors import InvalidArgument
from chassis.ids import is_uuid
from chassis.validation import Violations
from services.catalog.domain.bounds import (
    BATCH_IDS,
    LATITUDE,
    LONGITUDE,
    MAX_RADIUS_KM,
    RATING,
    SEARCH_TEXT_LENGTH,
)


class SortOrder(StrEnum):
    """How discovery orders what it finds. The names are the proto's (SORT_ORDER_<NAME>); the
    values are what REST clients write."""

    RELEVANCE = "relevance"
    PRICE_ASCENDING = "price_asc"
    PRICE_DESCENDING = "price_desc"
    RATING = "rating"
    DISTANCE = "distance"
    NEWEST = "newest"


def check_search_text(text: str) -> str:
    if len(text) > SEARCH_TEXT_LENGTH.high:
        raise InvalidArgument.field(
            "query", f"must be at most {SEARCH_TEXT_LENGTH.high} characters", "too_long"
        )
    return text


def check_point(latitude: float, longitude: float) -> tuple[float, float]:
    v = Violations()
    if latitude not in LATITUDE:
        v.add("lat", "must be between -90 and 90", "out_of_range")
    if longitude not in LONGITUDE:
        v.add("lng", "must be between -180 and 180", "out_of_range")
    v.raise_if_any()
    return (latitude, longitude)


def check_radius(radius_km: float | None, point: tuple[float, float] | None) -> float | None:
    if radius_km is None:
        return None
    if point is None:
        raise InvalidArgument.field("radius_km", "needs lat and lng", "required")
    if not 0 < radius_km <= MAX_RADIUS_KM:
        raise InvalidArgument.field(
            "radius_km", f"must be between 0 and {MAX_RADIUS_KM}", "out_of_range"
        )
    return float(radius_km)


def check_rating(rating: float | None) -> float | None:
    if rating is not None and rating not in RATING:
        raise InvalidArgument.field(
            "min_rating", f"must be between {RATING.low} and {RATING.high}", "out_of_range"
        )
    return rating


def check_price_range(price_min: int | None, price_max: int | None) -> None:
    v = Violations()
    if price_min is not None and price_min < 0:
        v.add("price_min", "must not be negative", "out_of_range")
    if price_max is not None and price_max < 0:
        v.add("price_max", "must not be negative", "out_of_range")
    if price_min is not None and price_max is not None and price_min > price_max:
        v.add("price_max", "must not be below price_min", "out_of_range")
    v.raise_if_any()


def choose_sort(
    sort: SortOrder | None, *, has_text: bool, point: tuple[float, float] | None
) -> SortOrder:
    """The order asked for, or by default relevance when searching words, else newest."""
    if sort is None:
        return SortOrder.RELEVANCE if has_text else SortOrder.NEWEST
    if sort is SortOrder.DISTANCE and point is None:
        raise InvalidArgument.field("sort", "distance needs lat and lng", "required")
    if sort is SortOrder.RELEVANCE and not has_text:
        raise InvalidArgument.field("sort", "relevance needs a query", "required")
    return sort


def check_batch(field_name: str, ids: Sequence[str]) -> None:
    """A batch read names at most so many ids, each one an id."""
    if len(ids) > BATCH_IDS.high:
        raise InvalidArgument.field(
            field_name, f"must hold at most {BATCH_IDS.high} ids", "too_many"
        )
    bad = [i for i in ids if not is_uuid(i)]
    if bad:
        raise InvalidArgument.field(field_name, f"not ids: {', '.join(bad[:5])}")
