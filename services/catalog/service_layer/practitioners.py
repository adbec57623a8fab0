"""Practitioners: applying, the profile, staff review and featuring, the platform tier and the
owner's account status."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from chassis.audit import StaffAction, refuse_own_account
from chassis.auth.principal import AccountStatus, Principal
from chassis.errors import FieldViolation, NotFound, PermissionDenied
from chassis.idempotency import IdempotentRequest
from chassis.ids import new_id
from chassis.pagination import KeyPart, Page, page_request
from services.catalog.domain.discovery import check_batch
from services.catalog.domain.practitioners import (
    Location,
    Practitioner,
    PractitionerStatus,
    Profile,
    Tier,
    check_application,
    check_reason,
)
from services.catalog.search import PractitionerView
from services.catalog.service_layer.base import (
    Handlers,
    own_practitioner,
    practitioner_named,
    practitioner_or_me,
)
from services.catalog.service_layer.reviews import erase_replies
from services.catalog.uow import CatalogUnitOfWork


class PractitionerHandlers(Handlers):
    async def apply(
        self,
        principal: Principal,
        profile: Profile,
        places: list[Location],
        request_id: str = "",
    ) -> PractitionerView:
        """Creates the caller's practitioner profile, pending review (or re-applies)."""
        checked, checked_places = check_application(
            profile, [replace(place, id=new_id()) for place in places]
        )
        idempotent = IdempotentRequest.of(
            "ApplyAsPractitioner", principal, request_id, repr(checked), repr(places)
        )
        async with self._uow() as uow:
            if await uow.claim(idempotent) is not None:
                return _owner_view(await own_practitioner(uow, principal))
            now = self._clock.now()
            practitioner = await uow.practitioners.get_by_user(principal.user_id)
            if practitioner is None:
                practitioner = Practitioner.applying(
                    new_id(), principal.user_id, checked, checked_places, now
                )
                await uow.practitioners.add(practitioner)
            else:
                practitioner.reapply(checked, checked_places, now)
                await uow.practitioners.replace_for_reapplication(practitioner)
            await uow.listings.index_practitioner(practitioner)
            await uow.remember(idempotent, practitioner.id)
            await uow.commit()
        return _owner_view(practitioner)

    async def get_practitioner(self, principal: Principal | None, name: str) -> PractitionerView:
        """A practitioner: public once approved; the owner and staff see any status."""
        async with self._uow(write=False) as uow:
            practitioner = await practitioner_or_me(uow, principal, name)
            owner_view = practitioner.may_be_managed_by(principal)
            if not practitioner.is_listed and not owner_view:
                raise NotFound("no such practitioner")
            services = await uow.listings.by_id(await uow.services.active_ids_of(practitioner.id))
        return PractitionerView(practitioner, owner_view, services)

    async def update_practitioner(
        self, principal: Principal, name: str, paths: Sequence[str], profile: Profile
    ) -> PractitionerView:
        """Changes the caller's own profile fields (name: practitioners/me, their own id, or
        empty); another practitioner's profile is refused, never silently swapped for it."""
        async with self._uow() as uow:
            practitioner = await own_practitioner(uow, principal, changing=True)
            if name not in ("", "practitioners/me", f"practitioners/{practitioner.id}"):
                raise PermissionDenied(
                    "you can change only your own practitioner profile",
                    violations=[
                        FieldViolation("practitioner.name", "is not your profile", "not_yours")
                    ],
                )
            services = await uow.services.get_many(await uow.services.ids_of(practitioner.id))
            uow.record(*practitioner.update_profile(paths, profile, self._clock.now(), services))
            await uow.practitioners.save_profile(practitioner)
            await uow.listings.index_practitioner(practitioner)
            for service in services:
                await uow.listings.index_service(service, practitioner)
            await uow.commit()
        return _owner_view(practitioner)

    async def list_applications(
        self, status: PractitionerStatus, page_size: int, page_token: str
    ) -> Page[PractitionerView]:
        """Applications in a status, oldest first, for staff review."""
        page = page_request(
            page_size, page_token, query={"status": status.value}, key=(KeyPart.ID,)
        )
        async with self._uow(write=False) as uow:
            found, total = await uow.practitioners.list_by_status(
                status, after_id=page.after[0] if page.after else None, limit=page.fetch
            )
        served = page.page(found, total, key=lambda practitioner: [practitioner.id])
        return Page([_owner_view(p) for p in served.items], served.next_page_token, served.total)

    async def batch_get_practitioners(
        self, ids: Sequence[str], user_ids: Sequence[str]
    ) -> list[Practitioner]:
        """Practitioners by id and by user id, in the order asked; the unknown left out."""
        check_batch("names", ids)
        check_batch("user_ids", user_ids)
        async with self._uow(write=False) as uow:
            found = await uow.practitioners.get_many(list(dict.fromkeys(ids)))
            found += await uow.practitioners.get_many_by_user(list(dict.fromkeys(user_ids)))
        by_key = {p.id: p for p in found} | {p.user_id: p for p in found}
        return [by_key[k] for k in [*ids, *user_ids] if k in by_key]

    async def approve(
        self, principal: Principal, name: str, request_id: str = ""
    ) -> PractitionerView:
        """Approves a pending application; identity grants the role on practitioner.approved."""
        return await self._review(
            principal, name, "practitioner.approve", "", request_id, Practitioner.approve
        )

    async def reject(
        self, principal: Principal, name: str, reason: str, request_id: str = ""
    ) -> PractitionerView:
        """Turns a pending application down, with a reason the applicant sees."""
        reason = check_reason(reason)
        return await self._review(
            principal,
            name,
            "practitioner.reject",
            reason,
            request_id,
            lambda practitioner, now: practitioner.reject(reason, now),
        )

    async def _review(
        self,
        principal: Principal,
        name: str,
        action: str,
        reason: str,
        request_id: str,
        decide: Callable[[Practitioner, datetime], object],
    ) -> PractitionerView:
        """A staff decision on a pending application: of several at once, exactly one wins
        (the early check in the domain, then the guarded write)."""
        idempotent = IdempotentRequest.of(action, principal, request_id, name, reason)
        async with self._uow() as uow:
            if await uow.claim(idempotent) is not None:
                return _owner_view(await practitioner_named(uow, name))
            practitioner = await practitioner_named(uow, name)
            refuse_own_account(principal, practitioner.user_id)
            before = _review_view(practitioner)
            uow.record(decide(practitioner, self._clock.now()))
            await uow.practitioners.review(practitioner, PractitionerStatus.PENDING)
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    action,
                    f"practitioners/{practitioner.id}",
                    practitioner.user_id,
                    before,
                    _review_view(practitioner),
                    reason,
                )
            )
            await uow.remember(idempotent, practitioner.id)
            await uow.commit()
        return _owner_view(practitioner)

    async def feature(self, principal: Principal, name: str, featured: bool) -> PractitionerView:
        """Features an approved practitioner in discovery, or stops featuring them."""
        async with self._uow() as uow:
            practitioner = await practitioner_named(uow, name)
            refuse_own_account(principal, practitioner.user_id)
            before = _review_view(practitioner)
            if featured:
                practitioner.feature(self._clock.now())
            else:
                practitioner.unfeature(self._clock.now())
            await uow.practitioners.feature(practitioner)
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    "practitioner.feature" if featured else "practitioner.unfeature",
                    f"practitioners/{practitioner.id}",
                    practitioner.user_id,
                    before,
                    _review_view(practitioner),
                )
            )
            await uow.commit()
        return _owner_view(practitioner)

    async def set_tier(self, user_id: str, tier: Tier, effective_at: datetime) -> bool:
        """Records a platform tier unless a newer one is already held; returns if applied."""
        async with self._uow() as uow:
            applied = await apply_tier(uow, user_id, tier, effective_at)
            await uow.commit()
        return applied


async def apply_tier(
    uow: CatalogUnitOfWork, user_id: str, tier: Tier, effective_at: datetime
) -> bool:
    """The tier change inside a caller's unit of work (the consumer's, with its inbox row)."""
    _, held_since = await uow.practitioners.tier_of(user_id)
    if held_since is not None and held_since >= effective_at:
        return False  # an older change delivered late: the newer one stands
    await uow.practitioners.set_tier(user_id, tier, effective_at)
    return True


async def follow_account(uow: CatalogUnitOfWork, user_id: str, status: AccountStatus) -> None:
    """The owner's account changed (the consumer's unit of work): a suspended practitioner
    leaves discovery until reactivated; a deleted one is erased (their replies to reviews
    too) and their services archived.
    The profile's row is locked first: the owner's changes take the same lock, so each one
    either lands before the erasure (and is erased with the rest) or sees the account gone."""
    practitioner = await uow.practitioners.get_by_user(user_id, lock=True)
    if practitioner is None:
        return
    now = uow.clock.now()
    practitioner.follow_account(status, now)
    if status is AccountStatus.DELETED:
        for service in await uow.services.get_many(
            await uow.services.active_ids_of(practitioner.id)
        ):
            uow.record(service.archive(now))
            await uow.services.save(service)
        await uow.practitioners.save_profile(practitioner)
        await uow.practitioners.erase_locations(practitioner.id, now)
        await erase_replies(uow, practitioner.id)
        await uow.listings.index_practitioner(practitioner)
    await uow.practitioners.set_account_status(practitioner)


def _owner_view(practitioner: Practitioner) -> PractitionerView:
    return PractitionerView(practitioner, owner_view=True, services=[])


def _review_view(practitioner: Practitioner) -> dict[str, Any]:
    """The practitioner as the audit log shows a review or a feature before and after."""
    return {
        "status": practitioner.status.value,
        "featured": practitioner.featured,
        "rejection_reason": practitioner.rejection_reason,
    }
