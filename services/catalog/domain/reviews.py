"""Reviews: the client of a completed booking reviews it once (1-5 stars and a text, never
changed afterwards), the practitioner replies once, staff may hide an abusive one, and a
deleted author's words are erased while their stars stay. Ratings are exact integer sums of
stars; the average shown is derived from them, rounded half up to two decimals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from chassis.auth.principal import Principal
from chassis.errors import AlreadyExists, FailedPrecondition, FieldViolation, PermissionDenied
from chassis.lifecycle import WrongState
from chassis.validation import Violations
from services.catalog.domain.bounds import REPLY_TEXT_LENGTH, REVIEW_TEXT_LENGTH, STARS
from services.catalog.domain.events import ReviewCreated, ReviewReplied
from services.catalog.domain.fields import check_text
from services.catalog.domain.practitioners import check_reason

# How a refused change names what it refused.
REVIEW = "review"


@dataclass(frozen=True)
class Rating:
    """The stars of the reviews that count, as their exact sum and how many there are."""

    total: int = 0
    count: int = 0

    def __post_init__(self) -> None:
        if self.count < 0 or not STARS.low * self.count <= self.total <= STARS.high * self.count:
            raise ValueError(f"{self.total} stars cannot come from {self.count} reviews")

    @property
    def average(self) -> Decimal:
        """The mean, rounded half up to two decimals, in integer arithmetic; 0 with none."""
        if not self.count:
            return Decimal("0.00")
        hundredths = (200 * self.total + self.count) // (2 * self.count)
        return Decimal(hundredths).scaleb(-2)

    @property
    def shown(self) -> float:
        """The average as discovery stores, filters and sorts it: the float nearest to the
        two-decimal figure, so a filter compares with exactly what clients are shown."""
        return float(self.average)

    def changed(self, change: RatingChange) -> Rating:
        return Rating(self.total + change.stars, self.count + change.reviews)


@dataclass(frozen=True)
class RatingChange:
    """What one review adds to (or takes from) a rating."""

    stars: int
    reviews: int

    @classmethod
    def counting(cls, review: Review) -> RatingChange:
        return cls(review.rating, 1)

    @classmethod
    def uncounting(cls, review: Review) -> RatingChange:
        return cls(-review.rating, -1)


@dataclass(frozen=True)
class Eligibility:
    """A completed booking its client may review: booking.completed made it so."""

    booking_id: str
    client_id: str
    service_id: str
    practitioner_id: str
    completed_at: datetime

    def check_reviewer(self, principal: Principal) -> None:
        """Only the booking's client reviews it."""
        if principal.user_id != self.client_id:
            raise PermissionDenied(
                "only the booking's client can review it", reason="NOT_YOUR_BOOKING"
            )

    def check_in_time(self, now: datetime, window: timedelta | None) -> None:
        """A review is written within the window after the session (None: any time)."""
        if window is not None and now > self.completed_at + window:
            raise FailedPrecondition(
                f"a session is reviewed within {window.days} days of it",
                reason="REVIEW_WINDOW_CLOSED",
                metadata={"window_days": str(window.days)},
            )


@dataclass
class Review:
    id: str
    booking_id: str
    client_id: str
    service_id: str
    practitioner_id: str
    rating: int
    text: str
    created_at: datetime
    reply_text: str = ""
    replied_at: datetime | None = None
    hidden_at: datetime | None = None
    hidden_reason: str = ""
    author_erased_at: datetime | None = None

    @classmethod
    def write(
        cls,
        review_id: str,
        eligibility: Eligibility,
        author: Principal,
        practitioner_user_id: str,
        rating: int,
        text: str,
        *,
        now: datetime,
        window: timedelta | None,
    ) -> tuple[Review, ReviewCreated]:
        """The review of a completed booking by its client (not by the practitioner of the
        service, who cannot rate themselves), in time, checked."""
        eligibility.check_reviewer(author)
        if author.user_id == practitioner_user_id:
            raise PermissionDenied("you cannot review your own service", reason="OWN_SERVICE")
        eligibility.check_in_time(now, window)
        stars, words = check_review(rating, text)
        review = cls(
            id=review_id,
            booking_id=eligibility.booking_id,
            client_id=eligibility.client_id,
            service_id=eligibility.service_id,
            practitioner_id=eligibility.practitioner_id,
            rating=stars,
            text=words,
            created_at=now,
        )
        created = ReviewCreated(
            review.id,
            review.booking_id,
            review.service_id,
            review.practitioner_id,
            practitioner_user_id,
            review.client_id,
            review.rating,
            now,
        )
        return review, created

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None

    @property
    def has_reply(self) -> bool:
        return self.replied_at is not None

    @property
    def is_author_erased(self) -> bool:
        return self.author_erased_at is not None

    def shown_in_full_to(self, principal: Principal | None, practitioner_user_id: str) -> bool:
        """The booking and the author's id are for the author, the practitioner and staff;
        the public reads an anonymous review (a client's wellness history is theirs)."""
        if principal is None or not principal.is_user:
            return False
        return principal.is_staff or principal.user_id in (self.client_id, practitioner_user_id)

    def reply(self, text: str, now: datetime) -> ReviewReplied:
        """The practitioner's one answer; a withdrawn or hidden review takes none."""
        if self.has_reply:
            raise WrongState(REVIEW, "replied", ["unanswered"], reason="ALREADY_REPLIED")
        if self.is_author_erased:
            raise FailedPrecondition(
                "the review's author deleted their account", reason="AUTHOR_ERASED"
            )
        if self.is_hidden:
            raise FailedPrecondition("staff hid this review", reason="REVIEW_HIDDEN")
        words = check_reply(text)
        self.reply_text, self.replied_at = words, now
        return ReviewReplied(self.id, self.service_id, self.practitioner_id, self.client_id, now)

    def hide(self, reason: str, now: datetime) -> RatingChange:
        """Staff take an abusive review out of the lists and its stars out of the ratings."""
        reason = check_reason(reason)
        if self.is_hidden:
            raise WrongState(REVIEW, "hidden", ["shown"], reason="ALREADY_HIDDEN")
        self.hidden_at, self.hidden_reason = now, reason
        return RatingChange.uncounting(self)

    def show(self) -> RatingChange:
        """Staff show a review they hid again: its stars count once more."""
        if not self.is_hidden:
            raise WrongState(REVIEW, "shown", ["hidden"], reason="NOT_HIDDEN")
        self.hidden_at, self.hidden_reason = None, ""
        return RatingChange.counting(self)

    def erase_author(self, now: datetime) -> None:
        """The author's account is deleted: their words go, and the reply that answered
        them (a wellness review and its answer can say much about a person); the stars
        stay, anonymous, so the ratings others read do not shift."""
        self.text = ""
        self.reply_text = ""
        self.author_erased_at = self.author_erased_at or now

    def erase_reply(self) -> None:
        """The practitioner's account is deleted: their words go; the review stays."""
        self.reply_text = ""


def check_review(rating: int, text: str) -> tuple[int, str]:
    """A review's stars and text, or an error naming each bad one."""
    v = Violations()
    STARS.check(v, "rating", rating)
    words = check_text(v, "text", text, REVIEW_TEXT_LENGTH)
    v.raise_if_any()
    return rating, words


def check_reply(text: str) -> str:
    v = Violations()
    words = check_text(v, "text", text, REPLY_TEXT_LENGTH)
    v.raise_if_any()
    return words


def already_reviewed(_violation: object = None) -> AlreadyExists:
    """One review per booking and client."""
    return AlreadyExists(
        "you have already reviewed this booking",
        reason="ALREADY_REVIEWED",
        violations=[FieldViolation("booking_id", "is already reviewed", "taken")],
    )
