"""Catalog's use cases. Each opens one unit of work; the rules live in domain.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chassis.audit import StaffAction, refuse_own_account
from chassis.auth.principal import AccountStatus, Principal
from chassis.clock import Clock
from chassis.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from chassis.idempotency import IdempotentRequest
from chassis.ids import is_uuid, new_id
from chassis.pagination import KeyPart, page_request
from chassis.validation import Violations
from estuary.catalog.v1 import events_pb2
from services.catalog import domain, search
from services.catalog.domain import (
    Category,
    Location,
    LocationKind,
    Practitioner,
    PractitionerStatus,
    Profile,
    RefundRule,
    Service,
    ServiceContext,
    ServiceStatus,
    Tier,
)
from services.catalog.events import (
    PRACTITIONER_APPROVED,
    PRACTITIONER_REJECTED,
    SERVICE_ARCHIVED,
    SERVICE_PUBLISHED,
    SERVICE_UPDATED,
)
from services.catalog.repository import PRACTITIONER_REVIEW, Services
from services.catalog.settings import CatalogSettings
from services.catalog.uow import CatalogUnitOfWork
from services.catalog.wire import service_terms, timestamp

PROFILE_PATHS = frozenset(
    {
        "display_name",
        "bio",
        "specializations",
        "certifications",
        "years_experience",
        "languages",
        "timezone",
    }
)
LOCATION_PATHS = frozenset({"label", "address", "city", "country_code", "latitude", "longitude"})
CATEGORY_PATHS = frozenset({"slug", "name", "description", "parent_id", "position"})
SERVICE_PATHS = frozenset(
    {
        "title",
        "description",
        "category_id",
        "price",
        "duration_minutes",
        "location",
        "max_participants",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "min_notice_minutes",
        "booking_window_days",
        "cancellation_policy",
        "sessions",
        "package",
        "bundle_items",
    }
)


def _unknown_paths(paths: Sequence[str], allowed: frozenset[str]) -> None:
    v = Violations()
    if not paths:
        v.add("update_mask", "must name at least one field", "required")
    for path in paths:
        if path not in allowed:
            v.add(path, "cannot be changed here", "read_only")
    v.raise_if_any()


@dataclass(frozen=True)
class PractitionerView:
    """A practitioner as the caller may see them."""

    practitioner: Practitioner
    owner_view: bool
    services: list[ServiceView]
    distance_km: float | None = None


@dataclass(frozen=True)
class ServiceView:
    """A service with what is shown beside it."""

    service: Service
    practitioner_id: str
    practitioner_name: str
    rating_average: float
    rating_count: int
    featured: bool
    place: Location | None
    saving_minor: int | None
    distance_km: float | None = None


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_page_token: str
    total: int


@dataclass(frozen=True)
class Quote:
    service: Service
    practitioner: Practitioner
    quantity: int

    @property
    def total_minor(self) -> int:
        return self.service.price_minor * self.quantity


class Catalog:
    """Practitioners, categories, services and discovery."""

    def __init__(
        self,
        *,
        unit_of_work: Callable[..., CatalogUnitOfWork],
        settings: CatalogSettings,
        clock: Clock,
    ) -> None:
        self._uow = unit_of_work
        self._settings = settings
        self._clock = clock
        self._limits = {
            Tier.FREE: settings.free_tier_service_limit,
            Tier.ENTRY: settings.entry_tier_service_limit,
            Tier.PREMIUM: settings.premium_tier_service_limit,
        }
        self._default_policy = [RefundRule(h, p) for h, p in settings.default_cancellation_policy]

    # Practitioners -----------------------------------------------------------------------

    async def apply(
        self,
        principal: Principal,
        profile: Profile,
        places: list[Location],
        request_id: str = "",
    ) -> PractitionerView:
        """Creates the caller's practitioner profile, pending review (or re-applies)."""
        v = Violations()
        checked = domain.check_profile(profile, v)
        if not places:
            v.add(
                "locations", "must hold at least one location (virtual or an address)", "required"
            )
        elif len(places) > domain.MAX_LIST_ITEMS:
            v.add("locations", f"must hold at most {domain.MAX_LIST_ITEMS}", "too_many")
        checked_places = [
            domain.check_location(replace(p, id=new_id()), v, f"locations[{n}].")
            for n, p in enumerate(places)
        ]
        v.raise_if_any()
        idempotent = IdempotentRequest.of(
            "ApplyAsPractitioner", principal, request_id, repr(checked), repr(places)
        )
        async with self._uow() as uow:
            now = self._clock.now()
            if await idempotent.earlier_result(uow.connection, now) is not None:
                return PractitionerView(
                    await self._own_practitioner(uow, principal), owner_view=True, services=[]
                )
            existing = await uow.practitioners.get_by_user(principal.user_id)
            if existing is not None and existing.status is not PractitionerStatus.REJECTED:
                raise domain.practitioner_exists()
            if existing is None:
                practitioner = Practitioner(
                    id=new_id(),
                    user_id=principal.user_id,
                    profile=checked,
                    status=PractitionerStatus.PENDING,
                    created_at=now,
                    updated_at=now,
                    locations=checked_places,
                )
                await uow.practitioners.add(practitioner)
            else:
                practitioner = replace(
                    existing,
                    profile=checked,
                    status=PractitionerStatus.PENDING,
                    rejection_reason="",
                    updated_at=now,
                    locations=checked_places,
                )
                await uow.practitioners.replace_for_reapplication(practitioner)
            await self._index_practitioner(uow, practitioner)
            await idempotent.remember(uow.connection, practitioner.id)
            await uow.commit()
        return PractitionerView(practitioner, owner_view=True, services=[])

    async def get_practitioner(self, principal: Principal | None, name: str) -> PractitionerView:
        """A practitioner: public once approved; the owner and staff see any status."""
        async with self._uow(write=False) as uow:
            practitioner = await self._named_practitioner(uow, principal, name)
            owner_view = self._may_manage(principal, practitioner)
            if not practitioner.is_listed and not owner_view:
                raise NotFound("no such practitioner")
            views = await self._service_views(
                uow, await uow.services.active_ids_of(practitioner.id)
            )
        return PractitionerView(practitioner, owner_view, views)

    async def update_practitioner(
        self, principal: Principal, name: str, paths: Sequence[str], profile: Profile
    ) -> PractitionerView:
        """Changes the caller's own profile fields (name: practitioners/me, their own id, or
        empty); another practitioner's profile is refused, never silently swapped for it."""
        _unknown_paths(paths, PROFILE_PATHS)
        async with self._uow() as uow:
            practitioner = await self._own_practitioner(uow, principal)
            if name not in ("", "practitioners/me", f"practitioners/{practitioner.id}"):
                raise PermissionDenied(
                    "you can change only your own practitioner profile",
                    violations=[
                        FieldViolation("practitioner.name", "is not your profile", "not_yours")
                    ],
                )
            changed = replace(
                practitioner.profile, **{path: getattr(profile, path) for path in paths}
            )
            moved_zone = changed.timezone != practitioner.profile.timezone
            practitioner.profile = domain.check_profile(changed)
            await uow.practitioners.save_profile(practitioner, self._clock.now())
            await self._index_practitioner(uow, practitioner)
            for service in await uow.services.get_many(await uow.services.ids_of(practitioner.id)):
                await self._index_service(uow, service, practitioner)
                if moved_zone and service.is_active:
                    # Schedules are kept in the practitioner's zone: booking must hear of it.
                    uow.emit(
                        SERVICE_UPDATED,
                        events_pb2.ServiceUpdated(service=service_terms(service, practitioner)),
                        subject=f"services/{service.id}",
                    )
            await uow.commit()
        return PractitionerView(practitioner, owner_view=True, services=[])

    async def list_practitioners(
        self, query: search.PractitionerQuery, page_size: int, page_token: str
    ) -> Page:
        """Approved practitioners matching a discovery query."""
        page = page_request(page_size, page_token, query=query.fingerprint(), key=search.CURSOR_KEY)
        async with self._uow(write=False, scan=True) as uow:
            found, total = await search.search_practitioners(
                uow.connection, query, after=_after(page.after), limit=page.size + 1
            )
            more = len(found) > page.size
            found = found[: page.size]
            loaded = {p.id: p for p in await uow.practitioners.get_many([f[0] for f in found])}
        views = [
            PractitionerView(loaded[pid], owner_view=False, services=[], distance_km=distance)
            for pid, _, distance in found
        ]
        token = page.next_token(_token_key(found[-1][1])) if more else ""
        return Page(views, token, total)

    async def list_applications(
        self, status: PractitionerStatus, page_size: int, page_token: str
    ) -> Page:
        """Applications in a status, oldest first, for staff review."""
        page = page_request(
            page_size, page_token, query={"status": status.value}, key=(KeyPart.ID,)
        )
        async with self._uow(write=False) as uow:
            found, total = await uow.practitioners.list_by_status(
                status, after_id=page.after[0] if page.after else None, limit=page.size + 1
            )
        more = len(found) > page.size
        found = found[: page.size]
        views = [PractitionerView(p, owner_view=True, services=[]) for p in found]
        return Page(views, page.next_token([found[-1].id]) if more else "", total)

    async def approve(
        self, principal: Principal, name: str, request_id: str = ""
    ) -> PractitionerView:
        """Approves a pending application; identity grants the role on practitioner.approved."""

        def approving(practitioner: Practitioner, now: datetime) -> None:
            practitioner.status = PractitionerStatus.APPROVED
            practitioner.approved_at = now

        async def announce(uow: CatalogUnitOfWork, practitioner: Practitioner) -> None:
            uow.emit(
                PRACTITIONER_APPROVED,
                events_pb2.PractitionerApproved(
                    practitioner_id=practitioner.id,
                    user_id=practitioner.user_id,
                    display_name=practitioner.profile.display_name,
                    approve_time=timestamp(practitioner.updated_at),
                ),
                subject=f"practitioners/{practitioner.id}",
            )

        return await self._review(
            principal, name, "practitioner.approve", "", request_id, approving, announce
        )

    async def reject(
        self, principal: Principal, name: str, reason: str, request_id: str = ""
    ) -> PractitionerView:
        """Turns a pending application down, with a reason the applicant sees."""
        reason = domain.check_reason(reason)

        def rejecting(practitioner: Practitioner, now: datetime) -> None:
            practitioner.status = PractitionerStatus.REJECTED
            practitioner.rejection_reason = reason

        async def announce(uow: CatalogUnitOfWork, practitioner: Practitioner) -> None:
            uow.emit(
                PRACTITIONER_REJECTED,
                events_pb2.PractitionerRejected(
                    practitioner_id=practitioner.id, user_id=practitioner.user_id, reason=reason
                ),
                subject=f"practitioners/{practitioner.id}",
            )

        return await self._review(
            principal, name, "practitioner.reject", reason, request_id, rejecting, announce
        )

    async def _review(
        self,
        principal: Principal,
        name: str,
        action: str,
        reason: str,
        request_id: str,
        decide: Callable[[Practitioner, datetime], None],
        announce: Callable[[CatalogUnitOfWork, Practitioner], Awaitable[None]],
    ) -> PractitionerView:
        """A staff decision on a pending application: of several at once, exactly one wins."""
        idempotent = IdempotentRequest.of(action, principal, request_id, name, reason)
        async with self._uow() as uow:
            now = self._clock.now()
            if await idempotent.earlier_result(uow.connection, now) is not None:
                return PractitionerView(
                    await self._practitioner_by_name(uow, name), owner_view=True, services=[]
                )
            practitioner = await self._practitioner_by_name(uow, name)
            refuse_own_account(principal, practitioner.user_id)
            PRACTITIONER_REVIEW.check(practitioner.status.value, PractitionerStatus.PENDING.value)
            before = _review_view(practitioner)
            decide(practitioner, now)
            await uow.practitioners.review(practitioner, PractitionerStatus.PENDING, now)
            await announce(uow, practitioner)
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
            await idempotent.remember(uow.connection, practitioner.id)
            await uow.commit()
        return PractitionerView(practitioner, owner_view=True, services=[])

    async def feature(self, principal: Principal, name: str, featured: bool) -> PractitionerView:
        """Features an approved practitioner in discovery, or stops featuring them."""
        async with self._uow() as uow:
            practitioner = await self._practitioner_by_name(uow, name)
            refuse_own_account(principal, practitioner.user_id)
            PRACTITIONER_REVIEW.check(
                practitioner.status.value, PractitionerStatus.APPROVED.value, reason="NOT_APPROVED"
            )
            before = _review_view(practitioner)
            practitioner.featured = featured
            await uow.practitioners.feature(practitioner, self._clock.now())
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
        return PractitionerView(practitioner, owner_view=True, services=[])

    async def set_tier(self, user_id: str, tier: Tier, effective_at: datetime) -> bool:
        """Records a platform tier unless a newer one is already held; returns if applied."""
        async with self._uow() as uow:
            applied = await self.apply_tier(uow, user_id, tier, effective_at)
            await uow.commit()
        return applied

    @staticmethod
    async def apply_tier(
        uow: CatalogUnitOfWork, user_id: str, tier: Tier, effective_at: datetime
    ) -> bool:
        """The tier change inside a caller's unit of work (the consumer's, with its inbox row)."""
        _, held_since = await uow.practitioners.tier_of(user_id)
        if held_since is not None and held_since >= effective_at:
            return False  # an older change delivered late: the newer one stands
        await uow.practitioners.set_tier(user_id, tier, effective_at)
        return True

    @staticmethod
    async def apply_account_status(
        uow: CatalogUnitOfWork, user_id: str, status: AccountStatus
    ) -> None:
        """The owner's account changed: a suspended practitioner leaves discovery until
        reactivated; a deleted one is anonymised and their services are archived."""
        practitioner = await uow.practitioners.get_by_user(user_id)
        if practitioner is None:
            return
        now = uow.clock.now()
        practitioner.account_status = status
        if status is AccountStatus.DELETED:
            for service in await uow.services.get_many(
                await uow.services.active_ids_of(practitioner.id)
            ):
                await uow.services.save(
                    replace(service, status=ServiceStatus.ARCHIVED, archived_at=now, updated_at=now)
                )
                uow.emit(
                    SERVICE_ARCHIVED,
                    events_pb2.ServiceArchived(
                        service_id=service.id,
                        practitioner_id=practitioner.id,
                        archive_time=timestamp(now),
                    ),
                    subject=f"services/{service.id}",
                )
            practitioner.profile = domain.erased_profile(practitioner.profile)
            await uow.practitioners.save_profile(practitioner, now)
            await uow.practitioners.erase_locations(practitioner.id, now)
            await Catalog._index_practitioner(uow, practitioner)
        await uow.practitioners.set_account_status(practitioner, now)

    # Locations ---------------------------------------------------------------------------

    async def create_location(
        self, principal: Principal, place: Location, request_id: str = ""
    ) -> Location:
        v = Violations()
        checked = domain.check_location(replace(place, id=new_id()), v)
        v.raise_if_any()
        idempotent = IdempotentRequest.of("CreateLocation", principal, request_id, repr(place))
        async with self._uow() as uow:
            earlier = await idempotent.earlier_result(uow.connection, self._clock.now())
            practitioner = await self._own_practitioner(uow, principal)
            if earlier is not None:
                found = next((p for p in practitioner.locations if p.id == earlier), None)
                if found is None:
                    raise NotFound("the location made by this request no longer exists")
                return found
            active = [p for p in practitioner.locations if p.removed_at is None]
            if len(active) >= domain.MAX_LIST_ITEMS:
                raise FailedPrecondition(
                    f"at most {domain.MAX_LIST_ITEMS} locations", reason="TOO_MANY_LOCATIONS"
                )
            await uow.practitioners.add_location(practitioner.id, checked)
            await idempotent.remember(uow.connection, checked.id)
            await uow.commit()
        return checked

    async def update_location(
        self, principal: Principal, location_id: str, paths: Sequence[str], values: Location
    ) -> Location:
        _unknown_paths(paths, LOCATION_PATHS)
        async with self._uow() as uow:
            practitioner = await self._own_practitioner(uow, principal)
            place = practitioner.active_location(location_id)
            if place is None:
                raise NotFound("no such location of yours")
            changed = replace(place, **{path: getattr(values, path) for path in paths})
            v = Violations()
            checked = domain.check_location(changed, v)
            v.raise_if_any()
            await uow.practitioners.save_location(checked)
            await uow.commit()
        return checked

    async def delete_location(self, principal: Principal, location_id: str) -> None:
        async with self._uow() as uow:
            practitioner = await self._own_practitioner(uow, principal)
            place = practitioner.active_location(location_id)
            if place is None:
                raise NotFound("no such location of yours")
            if await uow.practitioners.location_in_use(location_id):
                raise FailedPrecondition(
                    "an active service takes place there; move or archive it first",
                    reason="LOCATION_IN_USE",
                )
            await uow.practitioners.save_location(replace(place, removed_at=self._clock.now()))
            await uow.commit()

    # Categories --------------------------------------------------------------------------

    async def list_categories(self) -> list[Category]:
        async with self._uow(write=False) as uow:
            return await uow.categories.all()

    async def create_category(
        self, principal: Principal, category: Category, request_id: str = ""
    ) -> Category:
        """Staff add a category (under a parent, or at the top)."""
        slug, name, description = domain.check_category(
            category.slug, category.name, category.description
        )
        idempotent = IdempotentRequest.of("CreateCategory", principal, request_id, repr(category))
        async with self._uow() as uow:
            earlier = await idempotent.earlier_result(uow.connection, self._clock.now())
            if earlier is not None:
                found = await uow.categories.get(earlier)
                if found is None:
                    raise NotFound("the category made by this request no longer exists")
                return found
            if await uow.categories.slug_taken(slug):
                raise domain.slug_taken()
            category_id = new_id()
            path = f"/{category_id}/"
            if category.parent_id:
                parent = await uow.categories.get(category.parent_id)
                if parent is None:
                    raise InvalidArgument.field(
                        "parent_id", "is not a category", "unknown_category"
                    )
                path = f"{parent.path}{category_id}/"
            created = Category(
                category_id,
                slug,
                name,
                description,
                category.parent_id or None,
                category.position,
                path,
            )
            await uow.categories.add(created)
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    "category.create",
                    f"categories/{created.id}",
                    "",
                    {},
                    _category_view(created),
                )
            )
            await idempotent.remember(uow.connection, created.id)
            await uow.commit()
        return created

    async def update_category(
        self, principal: Principal, category_id: str, paths: Sequence[str], values: Category
    ) -> Category:
        _unknown_paths(paths, CATEGORY_PATHS)
        async with self._uow() as uow:
            category = await uow.categories.get(category_id)
            if category is None:
                raise NotFound("no such category")
            changed = replace(category, **{path: getattr(values, path) for path in paths})
            changed.slug, changed.name, changed.description = domain.check_category(
                changed.slug, changed.name, changed.description
            )
            if await uow.categories.slug_taken(changed.slug, other_than=category.id):
                raise domain.slug_taken()
            changed.parent_id = changed.parent_id or None
            if "parent_id" in paths:
                changed.path = f"/{category.id}/"
                if changed.parent_id:
                    parent = await uow.categories.get(changed.parent_id)
                    if parent is None:
                        raise InvalidArgument.field(
                            "parent_id", "is not a category", "unknown_category"
                        )
                    if parent.path.startswith(category.path):
                        raise InvalidArgument.field(
                            "parent_id",
                            "cannot be the category itself or one beneath it",
                            "cycle",
                        )
                    changed.path = f"{parent.path}{category.id}/"
            await uow.categories.save(changed, category.path)
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    "category.update",
                    f"categories/{category.id}",
                    "",
                    _category_view(category),
                    _category_view(changed),
                )
            )
            await uow.commit()
        return changed

    async def delete_category(self, principal: Principal, category_id: str) -> None:
        async with self._uow() as uow:
            category = await uow.categories.get(category_id)
            if category is None:
                raise NotFound("no such category")
            if await uow.categories.has_children(category_id):
                raise FailedPrecondition("the category has subcategories", reason="IN_USE")
            if await uow.categories.has_services(category_id):
                raise FailedPrecondition("services are filed under it", reason="IN_USE")
            await uow.categories.delete(category_id)
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    "category.delete",
                    f"categories/{category.id}",
                    "",
                    _category_view(category),
                    {},
                )
            )
            await uow.commit()

    # Services ----------------------------------------------------------------------------

    async def create_service(
        self, principal: Principal, draft: Service, request_id: str = ""
    ) -> ServiceView:
        """An approved practitioner puts a service on sale, within their tier's limit."""
        idempotent = IdempotentRequest.of("CreateService", principal, request_id, repr(draft))
        async with self._uow() as uow:
            now = self._clock.now()
            earlier = await idempotent.earlier_result(uow.connection, now)
            if earlier is not None:
                return await self._view(uow, earlier)
            practitioner = await uow.practitioners.get_by_user(principal.user_id)
            if practitioner is None or not practitioner.is_approved:
                raise PermissionDenied(
                    "only approved practitioners can create services", reason="NOT_A_PRACTITIONER"
                )
            practitioner = await uow.practitioners.get(practitioner.id, lock=True)
            assert practitioner is not None
            service = replace(
                draft,
                id=new_id(),
                practitioner_id=practitioner.id,
                status=ServiceStatus.ACTIVE,
                created_at=now,
                updated_at=now,
                archived_at=None,
            )
            service = domain.check_service(service, await self._context(uow, service, practitioner))
            limit = domain.service_limit(practitioner.tier, self._limits)
            if limit is not None and await uow.services.count_active(practitioner.id) >= limit:
                raise FailedPrecondition(
                    f"your {practitioner.tier.value} plan allows {limit} active services; "
                    "archive one or upgrade",
                    reason="SERVICE_LIMIT_REACHED",
                    metadata={"tier": practitioner.tier.value, "limit": str(limit)},
                )
            await uow.services.add(service)
            await self._index_service(uow, service, practitioner)
            if practitioner.first_service_at is None:
                practitioner.first_service_at = now
                await uow.practitioners.save_state(practitioner, now)
            uow.emit(
                SERVICE_PUBLISHED,
                events_pb2.ServicePublished(service=service_terms(service, practitioner)),
                subject=f"services/{service.id}",
            )
            await idempotent.remember(uow.connection, service.id)
            await uow.commit()
            return await self._view(uow, service.id)

    async def get_service(self, principal: Principal | None, service_id: str) -> ServiceView:
        """A service: public while on sale; always for its practitioner and staff."""
        async with self._uow(write=False) as uow:
            rows = (
                await search.listings_by_id(uow.connection, [service_id])
                if is_uuid(service_id)
                else []
            )
            if not rows:
                raise NotFound("no such service")
            [view] = self._listing_views(rows)
        row = rows[0]
        public = (
            view.service.is_active
            and row.practitioner_status == PractitionerStatus.APPROVED.value
            and row.practitioner_account_status == AccountStatus.ACTIVE.value
        )
        may_manage = (
            principal is not None
            and principal.is_user
            and (principal.is_staff or principal.user_id == row.practitioner_user_id)
        )
        if not public and not may_manage:
            raise NotFound("no such service")
        return view

    async def update_service(
        self, principal: Principal, service_id: str, paths: Sequence[str], values: Service
    ) -> ServiceView:
        """Changes fields of a service its practitioner (or staff) manages."""
        _unknown_paths(paths, SERVICE_PATHS)
        async with self._uow() as uow:
            service, practitioner = await self._managed_service(uow, principal, service_id)
            if not service.is_active:
                raise FailedPrecondition("archived services cannot change", reason="ARCHIVED")
            changes: dict[str, Any] = {}
            for path in paths:
                if path == "price":
                    changes["price_minor"] = values.price_minor
                    changes["currency"] = values.currency
                elif path == "location":
                    changes["location_kind"] = values.location_kind
                    changes["location_id"] = values.location_id
                else:
                    changes[path] = getattr(values, path)
            now = self._clock.now()
            changed = replace(service, **changes, updated_at=now)
            changed = domain.check_service(changed, await self._context(uow, changed, practitioner))
            await uow.services.save(changed)
            await self._record_if_staff(
                uow, principal, "service.update", service, changed, practitioner
            )
            await self._index_service(uow, changed, practitioner)
            uow.emit(
                SERVICE_UPDATED,
                events_pb2.ServiceUpdated(service=service_terms(changed, practitioner)),
                subject=f"services/{changed.id}",
            )
            await uow.commit()
            return await self._view(uow, changed.id)

    async def archive_service(self, principal: Principal, service_id: str) -> ServiceView:
        """Withdraws a service from sale."""
        async with self._uow() as uow:
            service, practitioner = await self._managed_service(uow, principal, service_id)
            if not service.is_active:
                raise FailedPrecondition("the service is already archived", reason="ARCHIVED")
            if await uow.services.referencing(service.id):
                raise FailedPrecondition(
                    "an active package or bundle contains this service; archive it first",
                    reason="IN_USE",
                )
            now = self._clock.now()
            archived = replace(
                service, status=ServiceStatus.ARCHIVED, archived_at=now, updated_at=now
            )
            await uow.services.save(archived)
            await self._record_if_staff(
                uow, principal, "service.archive", service, archived, practitioner
            )
            uow.emit(
                SERVICE_ARCHIVED,
                events_pb2.ServiceArchived(
                    service_id=service.id,
                    practitioner_id=practitioner.id,
                    archive_time=timestamp(now),
                ),
                subject=f"services/{service.id}",
            )
            await uow.commit()
            return await self._view(uow, service.id)

    async def list_services(
        self, query: search.ServiceQuery, page_size: int, page_token: str, *, category: str = ""
    ) -> Page:
        """Active services of approved practitioners matching a discovery query; `category`
        (an id or a slug) takes in its subcategories."""
        query = replace(query, category=category)
        # The cursor belongs to the query as asked, so new subcategories do not void it.
        page = page_request(page_size, page_token, query=query.fingerprint(), key=search.CURSOR_KEY)
        async with self._uow(write=False, scan=True) as uow:
            hits, total = await search.search_services(
                uow.connection, query, after=_after(page.after), limit=page.size + 1
            )
            # An unknown category matches nothing; only then is it worth asking which it was.
            if not hits and category and not await uow.categories.exists(category):
                raise InvalidArgument.field(
                    "category", "is not a category id or slug", "unknown_category"
                )
            more = len(hits) > page.size
            hits = hits[: page.size]
            views = self._listing_views([h.row for h in hits])
        token = page.next_token(_token_key(hits[-1].key)) if more else ""
        return Page(views, token, total)

    async def list_own_services(
        self, principal: Principal, page_size: int, page_token: str
    ) -> Page:
        page = page_request(
            page_size, page_token, query={"own": principal.subject}, key=(KeyPart.ID,)
        )
        async with self._uow(write=False) as uow:
            practitioner = await self._own_practitioner(uow, principal)
            found, total = await uow.services.own_ids(
                practitioner.id,
                after_id=page.after[0] if page.after else None,
                limit=page.size + 1,
            )
            more = len(found) > page.size
            found = found[: page.size]
            views = await self._service_views(uow, found)
        return Page(views, page.next_token([found[-1]]) if more else "", total)

    async def batch_get_services(self, ids: Sequence[str]) -> list[ServiceView]:
        _check_ids("names", ids)
        async with self._uow(write=False) as uow:
            rows = await search.listings_by_id(uow.connection, list(dict.fromkeys(ids)))
            views = {v.service.id: v for v in self._listing_views(rows)}
        return [views[i] for i in ids if i in views]

    async def batch_get_practitioners(
        self, ids: Sequence[str], user_ids: Sequence[str]
    ) -> list[Practitioner]:
        _check_ids("names", ids)
        _check_ids("user_ids", user_ids)
        async with self._uow(write=False) as uow:
            found = await uow.practitioners.get_many(list(dict.fromkeys(ids)))
            found += await uow.practitioners.get_many_by_user(list(dict.fromkeys(user_ids)))
        by_key = {p.id: p for p in found} | {p.user_id: p for p in found}
        return [by_key[k] for k in [*ids, *user_ids] if k in by_key]

    async def quote(self, service_id: str, quantity: int) -> Quote:
        """The price to charge for a service on sale now; never a figure from a client."""
        quantity = quantity or 1
        async with self._uow(write=False) as uow:
            service = await uow.services.get(service_id) if is_uuid(service_id) else None
            practitioner = await uow.practitioners.get(service.practitioner_id) if service else None
        if service is None or practitioner is None:
            raise NotFound("no such service")
        if not service.is_active or not practitioner.is_listed:
            raise FailedPrecondition("the service is not on sale", reason="NOT_ON_SALE")
        seats = service.max_participants if service.kind in domain.DATED_KINDS else 1
        if not 1 <= quantity <= seats:
            raise InvalidArgument.field(
                "quantity", f"must be between 1 and {seats}", "out_of_range"
            )
        return Quote(service, practitioner, quantity)

    # Internals ---------------------------------------------------------------------------

    @staticmethod
    def _may_manage(principal: Principal | None, practitioner: Practitioner) -> bool:
        if principal is None or not principal.is_user:
            return False
        return principal.is_staff or principal.user_id == practitioner.user_id

    @staticmethod
    async def _record_if_staff(
        uow: CatalogUnitOfWork,
        principal: Principal,
        action: str,
        before: Service,
        after: Service,
        practitioner: Practitioner,
    ) -> None:
        """A change to a service by staff rather than its practitioner is a staff action."""
        if principal.user_id == practitioner.user_id:
            return
        await uow.record_staff_action(
            StaffAction(
                principal,
                action,
                f"services/{before.id}",
                practitioner.user_id,
                _service_view(before),
                _service_view(after),
            )
        )

    async def _named_practitioner(
        self, uow: CatalogUnitOfWork, principal: Principal | None, name: str
    ) -> Practitioner:
        prefix, _, ident = name.partition("/")
        if prefix != "practitioners" or not ident:
            raise InvalidArgument.field("name", "must be practitioners/{id} or practitioners/me")
        if ident == "me":
            if principal is None or not principal.is_user:
                raise Unauthenticated("practitioners/me needs a signed-in user")
            return await self._own_practitioner(uow, principal)
        return await self._practitioner_by_name(uow, name)

    async def _practitioner_by_name(self, uow: CatalogUnitOfWork, name: str) -> Practitioner:
        ident = name.removeprefix("practitioners/")
        practitioner = await uow.practitioners.get(ident) if is_uuid(ident) else None
        if practitioner is None:
            raise NotFound("no such practitioner")
        return practitioner

    async def _own_practitioner(self, uow: CatalogUnitOfWork, principal: Principal) -> Practitioner:
        practitioner = await uow.practitioners.get_by_user(principal.user_id)
        if practitioner is None:
            raise NotFound(
                "you have no practitioner profile; apply first", reason="NO_PRACTITIONER_PROFILE"
            )
        return practitioner

    async def _managed_service(
        self, uow: CatalogUnitOfWork, principal: Principal, service_id: str
    ) -> tuple[Service, Practitioner]:
        service = await uow.services.get(service_id) if is_uuid(service_id) else None
        if service is None:
            raise NotFound("no such service")
        practitioner = await uow.practitioners.get(service.practitioner_id)
        assert practitioner is not None
        if not self._may_manage(principal, practitioner):
            raise PermissionDenied("only the service's practitioner or staff can change it")
        return service, practitioner

    async def _context(
        self, uow: CatalogUnitOfWork, service: Service, practitioner: Practitioner
    ) -> ServiceContext:
        wanted = [i.service_id for i in service.bundle_items]
        if service.package and service.package.session_service_id:
            wanted.append(service.package.session_service_id)
        wanted = [i for i in wanted if is_uuid(i)]
        referenced = {
            s.id: s
            for s in await uow.services.get_many(wanted)
            if s.practitioner_id == practitioner.id and s.id != service.id
        }
        return ServiceContext(
            practitioner=practitioner,
            category_exists=is_uuid(service.category_id)
            and await uow.categories.get(service.category_id) is not None,
            referenced=referenced,
            now=self._clock.now(),
            default_policy=self._default_policy,
        )

    async def _view(self, uow: CatalogUnitOfWork, service_id: str) -> ServiceView:
        rows = (
            await search.listings_by_id(uow.connection, [service_id]) if is_uuid(service_id) else []
        )
        if not rows:
            raise NotFound("no such service")
        return self._listing_views(rows)[0]

    @staticmethod
    def _listing_views(rows: Sequence[Any]) -> list[ServiceView]:
        """Views of services from listing rows, in the rows' order."""
        found = Services.from_rows(rows)
        return [
            ServiceView(
                service=service,
                practitioner_id=row.practitioner_id,
                practitioner_name=row.practitioner_display_name,
                rating_average=row.practitioner_rating_average,
                rating_count=row.practitioner_rating_count,
                featured=row.practitioner_featured,
                place=_place_of(row),
                saving_minor=domain.saving_of(service, row.parts_price_minor),
                distance_km=row.distance_km,
            )
            for row, service in zip(rows, found, strict=True)
        ]

    async def _service_views(
        self, uow: CatalogUnitOfWork, service_ids: Sequence[str]
    ) -> list[ServiceView]:
        return self._listing_views(await search.listings_by_id(uow.connection, service_ids))

    @staticmethod
    async def _index_service(
        uow: CatalogUnitOfWork, service: Service, practitioner: Practitioner
    ) -> None:
        about = " ".join([practitioner.profile.display_name, *practitioner.profile.specializations])
        await search.index_service(
            uow.connection, service.id, service.title, about, service.description
        )

    @staticmethod
    async def _index_practitioner(uow: CatalogUnitOfWork, practitioner: Practitioner) -> None:
        profile = practitioner.profile
        await search.index_practitioner(
            uow.connection,
            practitioner.id,
            profile.display_name,
            " ".join(profile.specializations),
            profile.bio,
        )


def _review_view(practitioner: Practitioner) -> dict[str, Any]:
    return {
        "status": practitioner.status.value,
        "featured": practitioner.featured,
        "rejection_reason": practitioner.rejection_reason,
    }


def _category_view(category: Category) -> dict[str, Any]:
    return {
        "slug": category.slug,
        "name": category.name,
        "parent_id": category.parent_id,
        "position": category.position,
    }


def _service_view(service: Service) -> dict[str, Any]:
    return {
        "status": service.status.value,
        "title": service.title,
        "price_minor": service.price_minor,
        "currency": service.currency,
    }


def _check_ids(field: str, ids: Sequence[str]) -> None:
    if len(ids) > 1000:
        raise InvalidArgument.field(field, "must hold at most 1000 ids", "too_many")
    bad = [i for i in ids if not is_uuid(i)]
    if bad:
        raise InvalidArgument.field(field, f"not ids: {', '.join(bad[:5])}")


def _after(after: tuple[Any, ...] | None) -> list[Any] | None:
    """A cursor's sort key; one-part keys (newest first) are padded to the stored two."""
    if after is None:
        return None
    return [v for v in after if v is not None]


def _token_key(key: list[Any]) -> list[Any]:
    return key if len(key) == 2 else [None, key[0]]


def _place_of(row: Any) -> Location | None:
    if row.location_id is None:
        return None
    return Location(
        id=row.location_id,
        kind=LocationKind.IN_PERSON,
        label=row.place_label or "",
        address=row.place_address or "",
        city=row.place_city or "",
        country_code=row.place_country_code or "",
        latitude=row.place_latitude,
        longitude=row.place_longitude,
    )
