"""Reviews: a completed booking made reviewable (booking.completed), reviewed once by its
client, answered once by its practitioner, hidden by staff, read a page at a time, and
erased with a deleted account. Each change moves the ratings in its own transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chassis.accounts import recorded_status
from chassis.audit import StaffAction, refuse_own_account
from chassis.auth.principal import AccountStatus, Principal
from chassis.errors import InvalidArgument, NotFound, PermissionDenied
from chassis.idempotency import IdempotentRequest
from chassis.ids import is_uuid, new_id
from chassis.pagination import KeyPart, Page, page_request
from services.catalog.domain.practitioners import may_manage
from services.catalog.domain.reviews import (
    Eligibility,
    RatingChange,
    Review,
    already_reviewed,
    check_reply,
    check_review,
)
from services.catalog.repository import ReviewRow
from services.catalog.service_layer.base import (
    Handlers,
    own_practitioner,
    practitioner_named,
    service_view,
)
from services.catalog.uow import CatalogUnitOfWork


@dataclass(frozen=True)
class ReviewView:
    """A review as its reader may see it: in full (the booking and the author's id) for the
    author, the practitioner and staff; anonymous for everyone else."""

    review: Review
    service_title: str
    full: bool

    @classmethod
    def of(cls, row: ReviewRow, principal: Principal | None) -> ReviewView:
        full = row.review.shown_in_full_to(principal, row.practitioner_user_id)
        return cls(row.review, row.service_title, full)


class ReviewHandlers(Handlers):
    async def record_completed_booking(self, eligibility: Eligibility) -> bool:
        """A completed booking its client may now review (what the booking.completed
        consumer does, in a unit of work of its own); False if it was known already."""
        async with self._uow() as uow:
            made = await make_reviewable(uow, eligibility)
            await uow.commit()
        return made

    async def create_review(
        self, principal: Principal, booking: str, rating: int, text: str, request_id: str = ""
    ) -> ReviewView:
        """The client of a completed booking reviews it: once, in time, never again."""
        booking_id = _booking_id(booking)
        stars, words = check_review(rating, text)
        idempotent = IdempotentRequest.of(
            "CreateReview", principal, request_id, booking_id, str(stars), words
        )
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            if earlier is not None:
                return await _view(uow, principal, earlier)
            eligibility = await _reviewable(uow, principal, booking_id)
            if await uow.reviews.exists_for(booking_id, principal.user_id):
                raise already_reviewed()
            practitioner = await uow.practitioners.get(eligibility.practitioner_id)
            assert practitioner is not None
            review, created = Review.write(
                new_id(),
                eligibility,
                principal,
                practitioner.user_id,
                stars,
                words,
                now=self._clock.now(),
                window=self._review_window,
            )
            await uow.reviews.add(review)
            await _count(uow, review, RatingChange.counting(review))
            uow.record(created)
            await uow.remember(idempotent, review.id)
            await uow.commit()
            return await _view(uow, principal, review.id)

    async def reply_to_review(
        self, principal: Principal, name: str, text: str, request_id: str = ""
    ) -> ReviewView:
        """The practitioner of the reviewed service answers, once."""
        review_id = _review_id(name)
        words = check_reply(text)
        idempotent = IdempotentRequest.of("ReplyToReview", principal, request_id, review_id, words)
        async with self._uow() as uow:
            if await uow.claim(idempotent) is not None:
                return await _view(uow, principal, review_id)
            found = await _review(uow, review_id)
            if principal.user_id != found.practitioner_user_id:
                raise PermissionDenied(
                    "only the practitioner of the reviewed service can reply",
                    reason="NOT_YOUR_REVIEW",
                )
            # Locked, and the owner's account active: a reply let in just before the
            # account's deletion is erased with the rest (see follow_account).
            await own_practitioner(uow, principal, changing=True)
            review = found.review
            uow.record(review.reply(words, self._clock.now()))
            await uow.reviews.reply(review)
            await uow.remember(idempotent, review.id)
            await uow.commit()
            return await _view(uow, principal, review.id)

    async def hide_review(
        self, principal: Principal, name: str, hidden: bool, reason: str
    ) -> ReviewView:
        """Staff hide an abusive review (its stars leave the ratings) or show it again;
        never a review of their own practice, nor one of their own."""
        async with self._uow() as uow:
            found = await _review(uow, _review_id(name))
            refuse_own_account(principal, found.practitioner_user_id)
            review = found.review
            # The practitioner's row first, as every change to what hangs on them takes it.
            await uow.practitioners.get(review.practitioner_id, lock=True)
            before = _hiding_view(review)
            change = review.hide(reason, self._clock.now()) if hidden else review.show()
            await uow.reviews.set_hidden(review)
            await _count(uow, review, change)
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    "review.hide" if hidden else "review.show",
                    f"reviews/{review.id}",
                    review.client_id,
                    before,
                    _hiding_view(review),
                    reason.strip(),
                )
            )
            await uow.commit()
            return await _view(uow, principal, review.id)

    async def list_service_reviews(
        self, principal: Principal | None, name: str, page_size: int, page_token: str
    ) -> Page[ReviewView]:
        """A service's reviews, newest first: public while it is on sale, always for its
        practitioner and staff; hidden ones for staff only."""
        service_id = name.removeprefix("services/")
        staff = principal is not None and principal.is_staff
        page = page_request(
            page_size,
            page_token,
            query={"reviews_of": f"services/{service_id}", "hidden": staff},
            key=(KeyPart.ID,),
        )
        async with self._uow(write=False) as uow:
            view = await service_view(uow, service_id)
            if not view.on_sale and not may_manage(principal, view.practitioner_user_id):
                raise NotFound("no such service")
            rows, total = await uow.reviews.page(
                service_id=service_id,
                hidden=staff,
                after_id=page.after[0] if page.after else None,
                limit=page.fetch,
            )
        served = page.page(rows, total, key=lambda row: [row.review.id])
        views = [ReviewView.of(row, principal) for row in served.items]
        return Page(views, served.next_page_token, served.total)

    async def list_practitioner_reviews(
        self, principal: Principal | None, name: str, page_size: int, page_token: str
    ) -> Page[ReviewView]:
        """A practitioner's reviews, of all their services, newest first: public while they
        are listed, always for them and staff; hidden ones for staff only."""
        staff = principal is not None and principal.is_staff
        page = page_request(
            page_size,
            page_token,
            query={"reviews_of": name, "hidden": staff},
            key=(KeyPart.ID,),
        )
        async with self._uow(write=False) as uow:
            practitioner = await practitioner_named(uow, name)
            if not practitioner.is_listed and not practitioner.may_be_managed_by(principal):
                raise NotFound("no such practitioner")
            rows, total = await uow.reviews.page(
                practitioner_id=practitioner.id,
                hidden=staff,
                after_id=page.after[0] if page.after else None,
                limit=page.fetch,
            )
        served = page.page(rows, total, key=lambda row: [row.review.id])
        views = [ReviewView.of(row, principal) for row in served.items]
        return Page(views, served.next_page_token, served.total)


async def make_reviewable(uow: CatalogUnitOfWork, eligibility: Eligibility) -> bool:
    """A session took place (booking.completed, in the consumer's unit of work): its client
    may review it. The service must be catalog's, and its practitioner the one named; a
    deleted client's bookings are not opened to review. False if known already."""
    named = (eligibility.booking_id, eligibility.client_id, eligibility.service_id)
    if not all(is_uuid(ident) for ident in named):
        raise ValueError(
            f"completed booking {eligibility.booking_id!r} names no booking, client or service id"
        )
    service = await uow.services.get(eligibility.service_id)
    if service is None:
        raise ValueError(f"completed booking {eligibility.booking_id} names an unknown service")
    if eligibility.practitioner_id and eligibility.practitioner_id != service.practitioner_id:
        raise ValueError(
            f"completed booking {eligibility.booking_id} names practitioner "
            f"{eligibility.practitioner_id}, but the service is {service.practitioner_id}'s"
        )
    if await recorded_status(uow.connection, eligibility.client_id) is AccountStatus.DELETED:
        return False
    return await uow.reviews.make_reviewable(
        replace(eligibility, practitioner_id=service.practitioner_id)
    )


async def follow_author(uow: CatalogUnitOfWork, user_id: str, status: AccountStatus) -> None:
    """A client's account changed (the account-status consumer's unit of work). Deleted:
    they review nothing more, and their reviews lose their words (and the replies to them)
    while the stars stay, anonymous. Their rows to review are removed first: a review being
    written holds its row, so it commits before the erasure reads the reviews, or finds the
    row gone. Suspension changes nothing here: the chassis refuses their writes, and what
    they wrote before about a real session stays."""
    if status is not AccountStatus.DELETED:
        return
    await uow.reviews.forget_eligibility(user_id)
    now = uow.clock.now()
    for review in await uow.reviews.by_client(user_id):
        review.erase_author(now)
        await uow.reviews.save_erasure(review)


async def erase_replies(uow: CatalogUnitOfWork, practitioner_id: str) -> None:
    """A deleted practitioner's replies lose their words; the reviews stay."""
    for review in await uow.reviews.replied_by(practitioner_id):
        review.erase_reply()
        await uow.reviews.save_erasure(review)


async def _count(uow: CatalogUnitOfWork, review: Review, change: RatingChange) -> None:
    """Moves the ratings a review counts in: its practitioner's first (every change that
    also touches their services takes the practitioner's row first), then its service's."""
    await uow.practitioners.change_rating(review.practitioner_id, change)
    await uow.services.change_rating(review.service_id, change)


async def _reviewable(uow: CatalogUnitOfWork, principal: Principal, booking_id: str) -> Eligibility:
    """The caller's completed booking, its row held for this transaction."""
    eligible = await uow.reviews.eligibility_of(booking_id, lock=True)
    own = next((e for e in eligible if e.client_id == principal.user_id), None)
    if own is not None:
        return own
    if eligible:
        eligible[0].check_reviewer(principal)
    raise NotFound("no completed booking of yours to review", reason="NOT_REVIEWABLE")


async def _review(uow: CatalogUnitOfWork, review_id: str) -> ReviewRow:
    found = await uow.reviews.get(review_id)
    if found is None:
        raise NotFound("no such review")
    return found


async def _view(uow: CatalogUnitOfWork, principal: Principal, review_id: str) -> ReviewView:
    return ReviewView.of(await _review(uow, review_id), principal)


def _booking_id(name: str) -> str:
    ident = name.removeprefix("bookings/")
    if not is_uuid(ident):
        raise InvalidArgument.field("booking_id", "must be a booking id", "invalid")
    return ident


def _review_id(name: str) -> str:
    ident = name.removeprefix("reviews/")
    if not is_uuid(ident):
        raise NotFound("no such review")
    return ident


def _hiding_view(review: Review) -> dict[str, Any]:
    """A review as the audit log shows staff hiding or showing it."""
    return {"hidden": review.is_hidden, "rating": review.rating, "service_id": review.service_id}
