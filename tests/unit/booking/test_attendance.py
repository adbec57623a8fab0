"""A virtual booking's session-room attendance: worked out from joins and leaves however
they arrive, and what it lets a no-show and the completion job do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chassis.errors import FailedPrecondition
from chassis.lifecycle import WrongState
from chassis.money import Money
from services.booking.domain.attendance import Attendance, Attendee, Mark, Presence, attendee
from services.booking.domain.bookings import Actor, Booking, BookingStatus
from services.booking.domain.events import BookingCompleted, BookingNoShow
from services.booking.domain.terms import LocationKind
from tests.unit.booking.factories import NOW, booking, terms
from tests.unit.booking.test_state_machine import GRACE, confirmed

CLIENT, HOST = "client-user", "host-user"
JOINED, LEFT = Presence.JOINED, Presence.LEFT


def minutes(n: float):
    return NOW + timedelta(minutes=n)


def marks(*steps: tuple[Presence, float], user: str = CLIENT) -> list[Mark]:
    return [Mark(user, presence, minutes(at)) for presence, at in steps]


# Presence from marks ------------------------------------------------------------------------


def test_each_join_counts_until_the_leave_after_it():
    seen = attendee(CLIENT, marks((JOINED, 0), (LEFT, 20), (JOINED, 30), (LEFT, 45)))
    assert seen == Attendee(CLIENT, minutes(0), minutes(45), 35 * 60, False)


def test_a_join_without_its_leave_yet_is_present_and_not_counted_past_it():
    seen = attendee(CLIENT, marks((JOINED, 0), (LEFT, 10), (JOINED, 15)))
    assert (seen.present, seen.seconds_present, seen.last_left_at) == (True, 600, minutes(10))


def test_a_leave_that_arrives_before_its_join_waits_for_it():
    alone = attendee(CLIENT, marks((LEFT, 50)))
    assert alone == Attendee(CLIENT, None, minutes(50), 0, False)
    both = attendee(CLIENT, marks((LEFT, 50), (JOINED, 5)))
    assert both == Attendee(CLIENT, minutes(5), minutes(50), 45 * 60, False)


def test_a_second_join_while_in_and_a_second_leave_while_out_change_nothing():
    twice = attendee(CLIENT, marks((JOINED, 0), (JOINED, 10), (LEFT, 30), (LEFT, 40), (JOINED, 50)))
    assert (twice.seconds_present, twice.first_joined_at, twice.last_left_at) == (
        30 * 60,
        minutes(0),
        minutes(40),
    )
    assert twice.present


def test_a_join_and_a_leave_at_one_instant_are_a_stay_of_no_time():
    seen = attendee(CLIENT, marks((LEFT, 10), (JOINED, 10)))
    assert (seen.seconds_present, seen.present) == (0, False)


stays = st.lists(st.tuples(st.integers(0, 120), st.integers(0, 60)), min_size=1, max_size=6)


@settings(max_examples=80, deadline=None)
@given(stays, st.randoms(use_true_random=False))
def test_any_order_of_arrival_and_any_repeats_give_the_same_presence(pairs, shuffler):
    """Separate stays (each leave before the next join) total their lengths, whatever order
    the marks arrive in and however many arrive twice."""
    stays_made, cursor = [], 0
    for gap, length in pairs:
        start = cursor + gap
        stays_made.append((start, start + length))
        cursor = start + length + 1
    arrived = [m for s, e in stays_made for m in marks((JOINED, s), (LEFT, e))]
    arrived += shuffler.sample(arrived, k=len(arrived) // 2)
    shuffler.shuffle(arrived)
    seen = attendee(CLIENT, arrived)
    assert seen.seconds_present == sum(e - s for s, e in stays_made) * 60
    assert (seen.first_joined_at, seen.last_left_at) == (
        minutes(stays_made[0][0]),
        minutes(stays_made[-1][1]),
    )
    assert not seen.present


def test_a_booking_s_attendance_is_its_client_s_and_practitioner_s_alone():
    heard = Attendance.of(
        CLIENT,
        HOST,
        marks((JOINED, 0)) + marks((JOINED, 1), user=HOST) + marks((JOINED, 2), user="stranger"),
    )
    assert heard.client is not None and heard.client.user_id == CLIENT
    assert heard.practitioner is not None and heard.practitioner.user_id == HOST
    assert (heard.client_came, heard.practitioner_came) == (True, True)
    assert not Attendance.of(CLIENT, HOST, marks((JOINED, 0), user="stranger")).client_came


# The rules ----------------------------------------------------------------------------------


def came(booking_: Booking, *who: str, left_only: bool = False) -> Attendance:
    """The attendance of a booking whose `who` ("client", "practitioner") were in its room."""
    users = {"client": booking_.client_id, "practitioner": booking_.practitioner_user_id}
    assert booking_.starts_at is not None
    step = LEFT if left_only else JOINED
    found = [Mark(users[w], step, booking_.starts_at) for w in who]
    return Attendance.of(booking_.client_id, booking_.practitioner_user_id, found)


def in_person() -> Booking:
    made, _ = booking(of=terms(location_kind=LocationKind.IN_PERSON))
    made.confirm(NOW, "pay_1", made.price.amount_minor)
    return made


def told(error: pytest.ExceptionInfo[FailedPrecondition]) -> tuple[str, str]:
    return error.value.message, error.value.reason


@pytest.mark.parametrize("left_only", [False, True])
def test_a_client_who_was_in_the_room_is_not_a_no_show_for_anyone(left_only):
    made = confirmed(starts_in=timedelta(hours=1))
    assert made.starts_at is not None
    heard = came(made, "client", left_only=left_only)
    for by in (Actor.PRACTITIONER, Actor.STAFF):
        with pytest.raises(FailedPrecondition) as refused:
            made.mark_no_show(made.starts_at + timedelta(minutes=5), by, heard)
        assert told(refused) == (
            "the client joined the session room; it cannot be marked a no-show",
            "CLIENT_ATTENDED",
        )
        assert refused.value.metadata == {"client_seen_at": made.starts_at.isoformat()}
    assert made.status is BookingStatus.CONFIRMED


def test_a_no_show_is_marked_when_only_the_practitioner_was_in_the_room():
    made = confirmed(starts_in=timedelta(hours=1))
    assert made.starts_at is not None
    event = made.mark_no_show(made.starts_at, Actor.PRACTITIONER, came(made, "practitioner"))
    # The client's payment is kept: the practitioner kept the time for them.
    assert event == BookingNoShow(made, Actor.PRACTITIONER, Money(4000, "EUR"), made.starts_at)
    assert made.status is BookingStatus.NO_SHOW


def test_an_in_person_booking_pays_no_heed_to_a_room():
    made = in_person()
    assert made.starts_at is not None
    made.mark_no_show(made.starts_at, Actor.PRACTITIONER, came(made, "client"))
    assert made.status is BookingStatus.NO_SHOW
    other = in_person()
    assert other.ends_at is not None
    settled = other.settle(other.ends_at + GRACE, GRACE, came(other, "practitioner"))
    assert isinstance(settled, BookingCompleted)


def test_the_job_marks_a_no_show_when_the_practitioner_waited_alone():
    made = confirmed(starts_in=timedelta(hours=1))
    assert made.ends_at is not None
    heard = came(made, "practitioner")
    with pytest.raises(FailedPrecondition) as early:
        made.settle(made.ends_at + GRACE - timedelta(seconds=1), GRACE, heard)
    assert told(early) == ("the booking has not ended", "NOT_ENDED")
    event = made.settle(made.ends_at + GRACE, GRACE, heard)
    assert event == BookingNoShow(made, Actor.SYSTEM, made.amount_paid, made.ends_at + GRACE)
    assert made.amount_paid == Money(4000, "EUR")
    assert made.status is BookingStatus.NO_SHOW
    assert made.completed_at == made.ends_at + GRACE


@pytest.mark.parametrize(
    "who", [("client", "practitioner"), ("client",), ()], ids=["both", "client", "nobody"]
)
def test_the_job_completes_it_as_before_unless_the_practitioner_waited_alone(who):
    made = confirmed(starts_in=timedelta(hours=1))
    assert made.ends_at is not None
    event = made.settle(made.ends_at + GRACE, GRACE, came(made, *who))
    assert isinstance(event, BookingCompleted) and event.by is Actor.SYSTEM
    assert made.status is BookingStatus.COMPLETED


def test_the_job_settles_only_a_confirmed_booking():
    made, _ = booking()
    assert made.ends_at is not None
    with pytest.raises(WrongState):
        made.settle(made.ends_at + GRACE, GRACE, came(made, "practitioner"))
    assert made.status is BookingStatus.PENDING_PAYMENT
