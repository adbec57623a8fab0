"""Reviews on plain objects: who may review (the completed booking's client, not the
practitioner, within the window), what a review holds, the one reply, staff hiding, erasure,
the ratings' exact arithmetic, and the review events on the wire. No database, no clock but
the instants passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from chassis.ids import new_id
from chassis.lifecycle import WrongState
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.catalog.v1 import catalog_pb2 as pb
from services.catalog.domain.bounds import REVIEW_TEXT_LENGTH, STARS
from services.catalog.domain.events import ReviewCreated, ReviewReplied
from services.catalog.domain.reviews import (
    Eligibility,
    Rating,
    RatingChange,
    Review,
    check_review,
)
from services.catalog.events import REVIEW_CREATED, REVIEW_REPLIED, event_message
from services.catalog.wire import eligibility_from_proto, review_from_proto, review_to_proto
from tests.builders import STAFF, person

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(days=90)
CLIENT = person()
PRACTITIONER_USER = person()


def eligibility(client_id: str = CLIENT.user_id, *, ended: datetime = NOW) -> Eligibility:
    return Eligibility(new_id(), client_id, new_id(), new_id(), ended)


def written(rating: int = 5, text: str = "A calm, precise hour.") -> Review:
    review, _ = Review.write(
        new_id(),
        eligibility(),
        CLIENT,
        PRACTITIONER_USER.user_id,
        rating,
        text,
        now=NOW,
        window=WINDOW,
    )
    return review


def test_the_bookings_client_writes_a_review_and_it_is_announced():
    booked = eligibility(ended=NOW - timedelta(days=3))
    review, created = Review.write(
        "r1", booked, CLIENT, PRACTITIONER_USER.user_id, 4, "  Lovely.  ", now=NOW, window=WINDOW
    )
    assert (review.rating, review.text, review.created_at) == (4, "Lovely.", NOW)
    assert (review.booking_id, review.client_id, review.service_id) == (
        booked.booking_id,
        CLIENT.user_id,
        booked.service_id,
    )
    assert created == ReviewCreated(
        "r1",
        booked.booking_id,
        booked.service_id,
        booked.practitioner_id,
        PRACTITIONER_USER.user_id,
        CLIENT.user_id,
        4,
        NOW,
    )
    assert not (review.has_reply or review.is_hidden or review.is_author_erased)


def test_only_the_bookings_client_reviews_and_never_the_practitioner_of_the_service():
    with pytest.raises(PermissionDenied) as other:
        Review.write("r", eligibility(), person(), "p", 5, "Great.", now=NOW, window=WINDOW)
    assert other.value.reason == "NOT_YOUR_BOOKING"
    with pytest.raises(PermissionDenied) as staff:
        Review.write("r", eligibility(), STAFF, "p", 5, "Great.", now=NOW, window=WINDOW)
    assert staff.value.reason == "NOT_YOUR_BOOKING"
    # A practitioner who booked their own service cannot rate themselves.
    with pytest.raises(PermissionDenied) as own:
        Review.write(
            "r", eligibility(), CLIENT, CLIENT.user_id, 5, "Great.", now=NOW, window=WINDOW
        )
    assert own.value.reason == "OWN_SERVICE"


def test_a_review_comes_within_the_window_after_the_session():
    on_the_last_day = eligibility(ended=NOW - WINDOW)
    Review.write("r", on_the_last_day, CLIENT, "p", 5, "Late.", now=NOW, window=WINDOW)
    too_late = eligibility(ended=NOW - WINDOW - timedelta(seconds=1))
    with pytest.raises(FailedPrecondition) as closed:
        Review.write("r", too_late, CLIENT, "p", 5, "Late.", now=NOW, window=WINDOW)
    assert closed.value.reason == "REVIEW_WINDOW_CLOSED"
    assert closed.value.metadata == {"window_days": "90"}
    Review.write("r", too_late, CLIENT, "p", 5, "No limit.", now=NOW, window=None)


@pytest.mark.parametrize(
    ("rating", "text", "fields"),
    [
        (0, "Fine.", ["rating"]),
        (6, "Fine.", ["rating"]),
        (-1, "", ["rating", "text"]),
        (3, "   ", ["text"]),
        (3, "x" * (REVIEW_TEXT_LENGTH.high + 1), ["text"]),
        (3, "bell\x07", ["text"]),
    ],
)
def test_a_review_needs_one_to_five_stars_and_a_text(rating, text, fields):
    with pytest.raises(InvalidArgument) as bad:
        check_review(rating, text)
    assert [v.field for v in bad.value.violations] == fields


def test_a_review_takes_one_reply_and_none_once_withdrawn_or_hidden():
    review = written()
    replied = review.reply(" Thank you! ", NOW)
    assert replied == ReviewReplied(
        review.id, review.service_id, review.practitioner_id, review.client_id, NOW
    )
    assert (review.reply_text, review.replied_at) == ("Thank you!", NOW)
    with pytest.raises(WrongState) as twice:
        review.reply("Again", NOW)
    assert twice.value.reason == "ALREADY_REPLIED" and twice.value.current == "replied"
    assert twice.value.message == "the review is replied, not unanswered"
    assert twice.value.metadata == {"current_state": "replied", "expected_state": "unanswered"}
    with pytest.raises(InvalidArgument):
        written().reply("", NOW)

    withdrawn = written()
    withdrawn.erase_author(NOW)
    with pytest.raises(FailedPrecondition) as erased:
        withdrawn.reply("Thanks", NOW)
    assert erased.value.reason == "AUTHOR_ERASED"
    assert erased.value.message == "the review's author deleted their account"
    hidden = written()
    hidden.hide("Insults the practitioner.", NOW)
    with pytest.raises(FailedPrecondition) as hid:
        hidden.reply("Thanks", NOW)
    assert hid.value.reason == "REVIEW_HIDDEN"
    assert hid.value.message == "staff hid this review"


def test_staff_hiding_takes_the_stars_out_and_showing_puts_them_back():
    review = written(rating=2)
    assert review.hide(" Abusive. ", NOW) == RatingChange(-2, -1)
    assert (review.is_hidden, review.hidden_reason) == (True, "Abusive.")
    with pytest.raises(WrongState) as again:
        review.hide("Abusive.", NOW)
    assert again.value.reason == "ALREADY_HIDDEN"
    assert again.value.message == "the review is hidden, not shown"
    assert again.value.metadata == {"current_state": "hidden", "expected_state": "shown"}
    assert review.show() == RatingChange(2, 1)
    assert not review.is_hidden and review.hidden_reason == ""
    with pytest.raises(WrongState) as shown:
        review.show()
    assert shown.value.reason == "NOT_HIDDEN"
    assert shown.value.message == "the review is shown, not hidden"
    assert shown.value.metadata == {"current_state": "shown", "expected_state": "hidden"}
    with pytest.raises(InvalidArgument) as no_reason:
        review.hide("  ", NOW)
    assert [v.field for v in no_reason.value.violations] == ["reason"]


def test_erasure_keeps_the_stars_and_drops_the_words():
    review = written(rating=3, text="My back pain after the divorce is gone.")
    review.reply("Glad your back is better, Ana.", NOW)
    review.erase_author(NOW + timedelta(days=1))
    assert (review.rating, review.text, review.reply_text) == (3, "", "")
    assert review.author_erased_at == NOW + timedelta(days=1)
    review.erase_author(NOW + timedelta(days=2))  # again: the first erasure's time stays
    assert review.author_erased_at == NOW + timedelta(days=1)

    answered = written(text="Kind and clear.")
    answered.reply("Thanks, see you next week.", NOW)
    answered.erase_reply()
    assert (answered.text, answered.reply_text, answered.has_reply) == ("Kind and clear.", "", True)


def test_the_booking_and_author_are_shown_only_to_the_author_practitioner_and_staff():
    review = written()
    assert review.shown_in_full_to(CLIENT, PRACTITIONER_USER.user_id)
    assert review.shown_in_full_to(PRACTITIONER_USER, PRACTITIONER_USER.user_id)
    assert review.shown_in_full_to(STAFF, PRACTITIONER_USER.user_id)
    assert not review.shown_in_full_to(person(), PRACTITIONER_USER.user_id)
    assert not review.shown_in_full_to(None, PRACTITIONER_USER.user_id)


def test_the_average_rounds_half_up_to_two_decimals():
    assert Rating().average == Decimal("0.00") and Rating().shown == 0.0
    assert Rating(14, 3).average == Decimal("4.67")  # 4.666...
    assert Rating(13, 3).average == Decimal("4.33")  # 4.333...
    assert Rating(187, 40).average == Decimal("4.68")  # exactly 4.675: half up
    assert Rating(189, 40).average == Decimal("4.73")  # exactly 4.725, which a float would
    # hold as 4.72499...; the integer arithmetic rounds the true value
    assert round(4.725, 2) == 4.72
    assert Rating(5, 1).shown == 5.0 and Rating(9, 2).shown == 4.5


def test_a_rating_cannot_hold_stars_no_reviews_could_give():
    for total, count in ((1, 0), (6, 1), (1, 2), (0, -1)):
        with pytest.raises(ValueError):
            Rating(total, count)


stars = st.integers(min_value=STARS.low, max_value=STARS.high)


@given(given_stars=st.lists(stars, min_size=1, max_size=500))
def test_the_average_is_the_exact_mean_rounded_half_up(given_stars):
    rating = Rating()
    for each in given_stars:
        rating = rating.changed(RatingChange(each, 1))
    assert (rating.total, rating.count) == (sum(given_stars), len(given_stars))
    exact = Fraction(sum(given_stars), len(given_stars))
    hundredths = Fraction(rating.average) * 100
    assert hundredths.denominator == 1
    # Half up: the shown figure is within half a hundredth, and ties go up.
    assert exact * 100 - Fraction(1, 2) < hundredths <= exact * 100 + Fraction(1, 2)
    assert STARS.low <= rating.average <= STARS.high


@given(given_stars=st.lists(stars, min_size=1, max_size=50), data=st.data())
def test_hiding_and_showing_any_reviews_returns_to_the_same_rating(given_stars, data):
    reviews = [written(rating=s) for s in given_stars]
    rating = Rating()
    for review in reviews:
        rating = rating.changed(RatingChange.counting(review))
    before = rating
    hidden = data.draw(st.lists(st.sampled_from(reviews), unique_by=id))
    for review in hidden:
        rating = rating.changed(review.hide("Abuse.", NOW))
    assert rating.count == len(reviews) - len(hidden)
    for review in hidden:
        rating = rating.changed(review.show())
    assert rating == before


def test_the_review_events_are_their_messages():
    created = ReviewCreated("r", "b", "s", "p", "pu", "c", 4, NOW)
    event_type, message, subject = event_message(created)
    assert (event_type, subject) == (REVIEW_CREATED, "reviews/r")
    assert (message.review_id, message.booking_id, message.service_id) == ("r", "b", "s")
    assert (message.practitioner_id, message.practitioner_user_id, message.client_id) == (
        "p",
        "pu",
        "c",
    )
    assert message.rating == 4 and message.create_time.ToDatetime(UTC) == NOW
    replied = ReviewReplied("r", "s", "p", "c", NOW)
    event_type, message, subject = event_message(replied)
    assert (event_type, subject) == (REVIEW_REPLIED, "reviews/r")
    assert (message.review_id, message.client_id, message.reply_time.ToDatetime(UTC)) == (
        "r",
        "c",
        NOW,
    )


def test_booking_completed_opens_its_booking_to_review():
    completed = booking_pb.BookingCompleted(
        booking=booking_pb.BookingSnapshot(
            booking_id="b", service_id="s", practitioner_id="p", client_id="c"
        )
    )
    later = NOW + timedelta(hours=1)
    assert eligibility_from_proto(completed, later) == Eligibility("b", "c", "s", "p", later)
    completed.complete_time.FromDatetime(NOW)
    assert eligibility_from_proto(completed, later).completed_at == NOW


def test_a_review_on_the_wire_shows_the_booking_and_author_only_in_full():
    review = written()
    review.reply("Thanks!", NOW)
    public = review_to_proto(review, "Morning yoga", full=False)
    assert (public.name, public.service_title, public.rating) == (
        f"reviews/{review.id}",
        "Morning yoga",
        5,
    )
    assert public.reply.text == "Thanks!" and public.booking_id == public.client_id == ""
    full = review_to_proto(review, "Morning yoga", full=True)
    assert (full.booking_id, full.client_id) == (review.booking_id, review.client_id)
    assert not review_to_proto(written(), "", full=False).HasField("reply")


def test_a_review_request_that_sets_what_the_platform_sets_is_refused():
    assert review_from_proto(pb.Review(rating=4, text="Good.")) == (4, "Good.")
    with pytest.raises(InvalidArgument) as refused:
        review_from_proto(
            pb.Review(rating=4, text="Good.", client_id="x", hidden=True, reply=pb.ReviewReply())
        )
    assert sorted(v.field for v in refused.value.violations) == ["client_id", "hidden", "reply"]


def test_a_refused_review_tells_its_author_why():
    with pytest.raises(PermissionDenied) as other:
        Review.write("r", eligibility(), person(), "p", 5, "Great.", now=NOW, window=WINDOW)
    assert other.value.message == "only the booking's client can review it"
    with pytest.raises(PermissionDenied) as own:
        Review.write(
            "r", eligibility(), CLIENT, CLIENT.user_id, 5, "Great.", now=NOW, window=WINDOW
        )
    assert own.value.message == "you cannot review your own service"
    late = eligibility(ended=NOW - timedelta(days=31))
    with pytest.raises(FailedPrecondition) as closed:
        Review.write("r", late, CLIENT, "p", 5, "Late.", now=NOW, window=timedelta(days=30))
    assert closed.value.message == "a session is reviewed within 30 days of it"


def test_an_empty_reply_is_refused_saying_its_text_is_required():
    with pytest.raises(InvalidArgument) as empty:
        written().reply("  ", NOW)
    assert [(v.field, v.message, v.code) for v in empty.value.violations] == [
        ("text", "is required", "required")
    ]


def test_an_impossible_rating_names_its_figures():
    with pytest.raises(ValueError) as impossible:
        Rating(11, 2)
    assert str(impossible.value) == "11 stars cannot come from 2 reviews"
