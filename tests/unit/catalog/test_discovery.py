"""Discovery's rules on plain values: which filters a search accepts, up to which bound, what a
refusal names (field, message and code, as the API returns them), and which order a search
takes when none is asked for."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chassis.errors import InvalidArgument
from chassis.ids import new_id
from services.catalog.domain.discovery import (
    SortOrder,
    check_batch,
    check_point,
    check_price_range,
    check_radius,
    check_rating,
    check_search_text,
    choose_sort,
)

LISBON = (38.7223, -9.1393)


def refusal(
    check: Callable[..., object], *args: object, **keywords: object
) -> list[tuple[str, str, str]]:
    """What a check refuses its arguments with: (field, message, code) for each violation."""
    with pytest.raises(InvalidArgument) as error:
        check(*args, **keywords)
    return [(v.field, v.message, v.code) for v in error.value.violations]


# Search words ------------------------------------------------------------------------------


def test_a_query_of_up_to_200_characters_is_searched_as_written():
    words = ("breathwork " * 20)[:190] + "sound yoga"
    assert len(words) == 200
    assert check_search_text(words) == words
    assert check_search_text("") == ""


def test_a_query_over_200_characters_is_refused_naming_the_limit():
    assert refusal(check_search_text, "y" * 201) == [
        ("query", "must be at most 200 characters", "too_long")
    ]


# The point a search measures from ----------------------------------------------------------


@pytest.mark.parametrize("point", [(-90, -180), (90, 180), (0, 0), LISBON, (-89.5, 179.99)])
def test_a_point_on_the_globe_is_kept(point):
    assert check_point(*point) == point


def test_a_latitude_off_the_globe_is_refused_by_name():
    for latitude in (90.01, -90.5, 1000):
        assert refusal(check_point, latitude, 0.0) == [
            ("lat", "must be between -90 and 90", "out_of_range")
        ]


def test_a_longitude_off_the_globe_is_refused_by_name():
    for longitude in (180.01, -180.5):
        assert refusal(check_point, 0.0, longitude) == [
            ("lng", "must be between -180 and 180", "out_of_range")
        ]


def test_both_coordinates_off_the_globe_are_named_in_one_answer():
    assert refusal(check_point, -91.0, 181.0) == [
        ("lat", "must be between -90 and 90", "out_of_range"),
        ("lng", "must be between -180 and 180", "out_of_range"),
    ]


# The radius around it ----------------------------------------------------------------------


def test_no_radius_searches_everywhere():
    assert check_radius(None, None) is None
    assert check_radius(None, LISBON) is None


@pytest.mark.parametrize("radius", [0.5, 1, 25, 20_000])
def test_a_radius_above_zero_up_to_half_the_earth_is_kept_in_kilometres(radius):
    kept = check_radius(radius, LISBON)
    assert kept == radius and isinstance(kept, float)


def test_a_radius_without_a_point_is_refused_asking_for_one():
    assert refusal(check_radius, 10.0, None) == [("radius_km", "needs lat and lng", "required")]


@pytest.mark.parametrize("radius", [0, -5.0, 20_000.5, 40_000])
def test_a_radius_of_nothing_or_beyond_half_the_earth_is_refused(radius):
    assert refusal(check_radius, radius, LISBON) == [
        ("radius_km", "must be between 0 and 20000", "out_of_range")
    ]


# The rating asked for ----------------------------------------------------------------------


@pytest.mark.parametrize("rating", [None, 0, 0.0, 3.5, 5])
def test_a_minimum_rating_from_none_to_five_stars_is_kept(rating):
    assert check_rating(rating) == rating


@pytest.mark.parametrize("rating", [-0.5, 5.01, 6])
def test_a_minimum_rating_beyond_five_stars_or_below_none_is_refused(rating):
    assert refusal(check_rating, rating) == [
        ("min_rating", "must be between 0 and 5", "out_of_range")
    ]


# The price range ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "low, high", [(None, None), (0, None), (None, 0), (0, 0), (500, 500), (None, 9000), (100, None)]
)
def test_a_price_range_from_free_upwards_in_order_is_accepted(low, high):
    check_price_range(low, high)


def test_a_negative_price_is_refused_naming_each_end():
    assert refusal(check_price_range, -1, None) == [
        ("price_min", "must not be negative", "out_of_range")
    ]
    assert refusal(check_price_range, None, -1) == [
        ("price_max", "must not be negative", "out_of_range")
    ]
    assert refusal(check_price_range, -5, -1) == [
        ("price_min", "must not be negative", "out_of_range"),
        ("price_max", "must not be negative", "out_of_range"),
    ]


def test_a_maximum_below_the_minimum_is_refused():
    assert refusal(check_price_range, 501, 500) == [
        ("price_max", "must not be below price_min", "out_of_range")
    ]


# The order ---------------------------------------------------------------------------------


def test_without_an_order_words_rank_by_relevance_and_otherwise_the_newest_come_first():
    assert choose_sort(None, has_text=True, point=None) is SortOrder.RELEVANCE
    assert choose_sort(None, has_text=True, point=LISBON) is SortOrder.RELEVANCE
    assert choose_sort(None, has_text=False, point=None) is SortOrder.NEWEST
    assert choose_sort(None, has_text=False, point=LISBON) is SortOrder.NEWEST


@pytest.mark.parametrize(
    "sort", [SortOrder.PRICE_ASCENDING, SortOrder.PRICE_DESCENDING, SortOrder.RATING]
)
def test_an_order_by_price_or_rating_needs_neither_words_nor_a_point(sort):
    assert choose_sort(sort, has_text=False, point=None) is sort
    assert choose_sort(sort, has_text=True, point=LISBON) is sort


def test_newest_first_is_asked_for_without_words_or_a_point():
    assert choose_sort(SortOrder.NEWEST, has_text=False, point=None) is SortOrder.NEWEST


def test_distance_is_measured_from_a_point_and_refused_without_one():
    assert choose_sort(SortOrder.DISTANCE, has_text=False, point=LISBON) is SortOrder.DISTANCE
    assert refusal(choose_sort, SortOrder.DISTANCE, has_text=True, point=None) == [
        ("sort", "distance needs lat and lng", "required")
    ]


def test_relevance_ranks_words_and_is_refused_without_them():
    assert choose_sort(SortOrder.RELEVANCE, has_text=True, point=None) is SortOrder.RELEVANCE
    assert refusal(choose_sort, SortOrder.RELEVANCE, has_text=False, point=LISBON) == [
        ("sort", "relevance needs a query", "required")
    ]


# Reading many by id ------------------------------------------------------------------------


def test_a_batch_read_names_up_to_a_thousand_ids():
    check_batch("names", [])
    check_batch("names", [new_id() for _ in range(1000)])


def test_a_batch_of_more_than_a_thousand_ids_is_refused_under_its_field():
    ids = [new_id() for _ in range(1001)]
    assert refusal(check_batch, "user_ids", ids) == [
        ("user_ids", "must hold at most 1000 ids", "too_many")
    ]


def test_a_batch_naming_what_is_not_an_id_is_refused_quoting_the_first_five():
    bad = ["yoga", "42", "ANA", "x-1", "Ana Lima", "sixth"]
    ids = [new_id(), *bad, new_id()]
    assert refusal(check_batch, "names", ids) == [
        ("names", "not ids: yoga, 42, ANA, x-1, Ana Lima", "invalid")
    ]
    assert refusal(check_batch, "user_ids", [new_id(), "yoga"]) == [
        ("user_ids", "not ids: yoga", "invalid")
    ]
