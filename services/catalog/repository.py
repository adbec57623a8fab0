"""Catalog's repositories: every query its handlers make, except discovery's and the
listings' (search.py). The unit of work holds one of each."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.auth.principal import AccountStatus
from chassis.db import as_utc, insert_ignoring_conflicts
from chassis.lifecycle import Lifecycle, WrongState
from services.catalog.domain.categories import Category
from services.catalog.domain.practitioners import (
    APPLICATION,
    Location,
    LocationKind,
    Practitioner,
    PractitionerStatus,
    Profile,
    Tier,
)
from services.catalog.domain.reviews import REVIEW, Eligibility, Rating, RatingChange, Review
from services.catalog.domain.services import (
    BundleItem,
    DatedSession,
    PackageTerms,
    RefundRule,
    Service,
    ServiceKind,
    ServiceStatus,
)
from services.catalog.tables import (
    bundle_items,
    categories,
    locations,
    platform_tiers,
    practitioner_languages,
    practitioners,
    review_eligibility,
    reviews,
    service_sessions,
    services,
)


def _location(row: sa.Row) -> Location:
    return Location(
        id=row.id,
        kind=LocationKind(row.kind),
        label=row.label,
        address=row.address,
        city=row.city,
        country_code=row.country_code,
        latitude=row.latitude,
        longitude=row.longitude,
        removed_at=row.removed_at,
    )


async def change_rating(
    connection: AsyncConnection, table: sa.Table, row_id: str, change: RatingChange
) -> Rating:
    """Adds a review's stars to (or takes them from) a practitioner's or service's rating.

    The sum and count move in one atomic increment (on PostgreSQL the UPDATE holds the row
    until commit and re-reads the newest version once a concurrent writer commits, so no
    review is lost); the average, derived by the domain from the sums it returns, is written
    in the same transaction, while the row is still held."""
    row = (
        await connection.execute(
            table.update()
            .where(table.c.id == row_id)
            .values(
                rating_total=table.c.rating_total + change.stars,
                rating_count=table.c.rating_count + change.reviews,
            )
            .returning(table.c.rating_total, table.c.rating_count)
        )
    ).one()
    rating = Rating(row.rating_total, row.rating_count)
    await connection.execute(
        table.update().where(table.c.id == row_id).values(rating_average=rating.shown)
    )
    return rating


# A practitioner's review status changes only from the status the reviewer saw.
PRACTITIONER_REVIEW = Lifecycle(practitioners, noun=APPLICATION, reason="NOT_PENDING")
# A service is archived once: only an active one can change or be archived.
SERVICE_STATUS = Lifecycle(services, noun="service", reason="ARCHIVED")


class Practitioners:
    """Practitioner profiles, their languages, locations and platform tiers."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, practitioner_id: str, *, lock: bool = False) -> Practitioner | None:
        found = await self._load(practitioners.c.id == practitioner_id, lock=lock)
        return found[0] if found else None

    async def get_by_user(self, user_id: str, *, lock: bool = False) -> Practitioner | None:
        found = await self._load(practitioners.c.user_id == user_id, lock=lock)
        return found[0] if found else None

    async def get_many(self, ids: Sequence[str]) -> list[Practitioner]:
        return await self._load(practitioners.c.id.in_(ids)) if ids else []

    async def get_many_by_user(self, user_ids: Sequence[str]) -> list[Practitioner]:
        return await self._load(practitioners.c.user_id.in_(user_ids)) if user_ids else []

    async def _load(self, condition: Any, *, lock: bool = False) -> list[Practitioner]:
        query = (
            sa.select(practitioners, platform_tiers.c.tier)
            .outerjoin(platform_tiers, platform_tiers.c.user_id == practitioners.c.user_id)
            .where(condition)
        )
        if lock and self._c.dialect.name == "postgresql":
            # Serializes a practitioner's service creations, so the tier limit holds.
            query = query.with_for_update(of=practitioners)
        rows = (await self._c.execute(query)).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        languages: dict[str, list[str]] = {}
        for row in await self._c.execute(
            sa.select(practitioner_languages).where(
                practitioner_languages.c.practitioner_id.in_(ids)
            )
        ):
            languages.setdefault(row.practitioner_id, []).append(row.language)
        places: dict[str, list[Location]] = {}
        for row in await self._c.execute(
            sa.select(locations)
            .where(locations.c.practitioner_id.in_(ids))
            .order_by(locations.c.id)
        ):
            places.setdefault(row.practitioner_id, []).append(_location(row))
        return [
            self.from_row(r, sorted(languages.get(r.id, [])), places.get(r.id, [])) for r in rows
        ]

    @staticmethod
    def from_row(row: Any, languages: list[str], places: list[Location]) -> Practitioner:
        """A practitioner from a row of the practitioners table joined with its tier."""
        return Practitioner(
            id=row.id,
            user_id=row.user_id,
            profile=Profile(
                display_name=row.display_name,
                bio=row.bio,
                specializations=list(row.specializations),
                certifications=list(row.certifications),
                years_experience=row.years_experience,
                languages=languages,
                timezone=row.timezone,
            ),
            status=PractitionerStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            rejection_reason=row.rejection_reason,
            featured=row.featured,
            tier=Tier(row.tier) if row.tier else Tier.FREE,
            rating_average=row.rating_average,
            rating_count=row.rating_count,
            first_service_at=row.first_service_at,
            availability_set=row.availability_set,
            payouts_connected=row.payouts_connected,
            approved_at=row.approved_at,
            locations=places,
            account_status=AccountStatus(row.account_status),
        )

    async def add(self, practitioner: Practitioner) -> None:
        await self._c.execute(
            practitioners.insert().values(
                id=practitioner.id,
                user_id=practitioner.user_id,
                status=practitioner.status.value,
                created_at=practitioner.created_at,
                updated_at=practitioner.updated_at,
                **self._profile_columns(practitioner.profile),
            )
        )
        await self._set_languages(practitioner.id, practitioner.profile.languages)
        for place in practitioner.locations:
            await self.add_location(practitioner.id, place)

    async def save_profile(self, practitioner: Practitioner) -> None:
        await self._c.execute(
            practitioners.update()
            .where(practitioners.c.id == practitioner.id)
            .values(
                updated_at=practitioner.updated_at, **self._profile_columns(practitioner.profile)
            )
        )
        await self._set_languages(practitioner.id, practitioner.profile.languages)

    async def save_onboarding(self, practitioner: Practitioner) -> None:
        """Writes the onboarding marks (never the review status)."""
        await self._c.execute(
            practitioners.update()
            .where(practitioners.c.id == practitioner.id)
            .values(
                first_service_at=practitioner.first_service_at,
                availability_set=practitioner.availability_set,
                updated_at=practitioner.updated_at,
            )
        )

    async def review(
        self,
        practitioner: Practitioner,
        expected: PractitionerStatus | Collection[PractitionerStatus],
    ) -> None:
        """Writes the outcome of a review (the practitioner's new status, reason, approval
        time) only if the application is still in the status the reviewer saw."""
        allowed = [expected] if isinstance(expected, PractitionerStatus) else list(expected)
        await PRACTITIONER_REVIEW.move(
            self._c,
            practitioner.id,
            expected=[s.value for s in allowed],
            values={
                "status": practitioner.status.value,
                "rejection_reason": practitioner.rejection_reason,
                "approved_at": practitioner.approved_at,
                "updated_at": practitioner.updated_at,
            },
        )
        await self._list_services_of(practitioner)

    async def feature(self, practitioner: Practitioner) -> None:
        """Writes the feature flag, only while the practitioner is approved."""
        await PRACTITIONER_REVIEW.move(
            self._c,
            practitioner.id,
            expected=PractitionerStatus.APPROVED.value,
            values={"featured": practitioner.featured, "updated_at": practitioner.updated_at},
            reason="NOT_APPROVED",
        )

    async def set_account_status(self, practitioner: Practitioner) -> None:
        """Writes the owner's account status, and whether their services are listed."""
        await self._c.execute(
            practitioners.update()
            .where(practitioners.c.id == practitioner.id)
            .values(
                account_status=practitioner.account_status.value,
                updated_at=practitioner.updated_at,
            )
        )
        await self._list_services_of(practitioner)

    async def _list_services_of(self, practitioner: Practitioner) -> None:
        listed = practitioner.is_listed
        await self._c.execute(
            services.update()
            .where(
                services.c.practitioner_id == practitioner.id,
                services.c.practitioner_listed.is_not(listed),
            )
            .values(practitioner_listed=listed)
        )

    async def replace_for_reapplication(self, practitioner: Practitioner) -> None:
        """A rejected applicant applies again: new profile and locations, pending review."""
        await self.review(practitioner, PractitionerStatus.REJECTED)
        await self.save_profile(practitioner)
        await self._c.execute(
            locations.update()
            .where(locations.c.practitioner_id == practitioner.id, locations.c.removed_at.is_(None))
            .values(removed_at=practitioner.updated_at)
        )
        for place in practitioner.locations:
            await self.add_location(practitioner.id, place)

    @staticmethod
    def _profile_columns(profile: Profile) -> dict[str, Any]:
        return {
            "display_name": profile.display_name,
            "bio": profile.bio,
            "specializations": profile.specializations,
            "certifications": profile.certifications,
            "years_experience": profile.years_experience,
            "timezone": profile.timezone,
        }

    async def _set_languages(self, practitioner_id: str, languages: list[str]) -> None:
        await self._c.execute(
            practitioner_languages.delete().where(
                practitioner_languages.c.practitioner_id == practitioner_id
            )
        )
        if languages:
            await self._c.execute(
                practitioner_languages.insert(),
                [{"practitioner_id": practitioner_id, "language": lang} for lang in languages],
            )

    async def add_location(self, practitioner_id: str, place: Location) -> None:
        await self._c.execute(
            locations.insert().values(
                id=place.id,
                practitioner_id=practitioner_id,
                kind=place.kind.value,
                label=place.label,
                address=place.address,
                city=place.city,
                country_code=place.country_code,
                latitude=place.latitude,
                longitude=place.longitude,
            )
        )

    async def save_location(self, place: Location) -> None:
        await self._c.execute(
            locations.update()
            .where(locations.c.id == place.id)
            .values(
                label=place.label,
                address=place.address,
                city=place.city,
                country_code=place.country_code,
                latitude=place.latitude,
                longitude=place.longitude,
                removed_at=place.removed_at,
            )
        )
        await self._c.execute(
            services.update()
            .where(services.c.location_id == place.id)
            .values(latitude=place.latitude, longitude=place.longitude)
        )

    async def erase_locations(self, practitioner_id: str, now: datetime) -> None:
        """Removes every place of a deleted practitioner and blanks its address."""
        await self._c.execute(
            locations.update()
            .where(locations.c.practitioner_id == practitioner_id, locations.c.removed_at.is_(None))
            .values(removed_at=now)
        )
        await self._c.execute(
            locations.update()
            .where(locations.c.practitioner_id == practitioner_id)
            .values(label="", address="", city="", latitude=None, longitude=None)
        )
        await self._c.execute(
            services.update()
            .where(services.c.practitioner_id == practitioner_id)
            .values(latitude=None, longitude=None)
        )

    async def location_in_use(self, location_id: str) -> bool:
        found = await self._c.execute(
            sa.select(services.c.id)
            .where(
                services.c.location_id == location_id,
                services.c.status == ServiceStatus.ACTIVE.value,
            )
            .limit(1)
        )
        return found.first() is not None

    async def list_by_status(
        self, status: PractitionerStatus, *, after_id: str | None, limit: int
    ) -> tuple[list[Practitioner], int]:
        """Applications oldest first, a review queue (ids are time-ordered)."""
        condition = practitioners.c.status == status.value
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(practitioners).where(condition)
            )
        ).scalar_one()
        query = sa.select(practitioners.c.id).where(condition)
        if after_id is not None:
            query = query.where(practitioners.c.id > after_id)
        ids = [r.id for r in await self._c.execute(query.order_by(practitioners.c.id).limit(limit))]
        found = {p.id: p for p in await self.get_many(ids)}
        return [found[i] for i in ids], total

    async def change_rating(self, practitioner_id: str, change: RatingChange) -> Rating:
        """A review counted in (or taken out of) the practitioner's rating, atomically."""
        return await change_rating(self._c, practitioners, practitioner_id, change)

    async def tier_of(self, user_id: str) -> tuple[Tier, datetime | None]:
        row = (
            await self._c.execute(
                sa.select(platform_tiers).where(platform_tiers.c.user_id == user_id)
            )
        ).first()
        return (Tier(row.tier), row.effective_at) if row else (Tier.FREE, None)

    async def set_tier(self, user_id: str, tier: Tier, effective_at: datetime) -> None:
        current = (
            await self._c.execute(
                sa.select(platform_tiers).where(platform_tiers.c.user_id == user_id)
            )
        ).first()
        if current is None:
            await self._c.execute(
                platform_tiers.insert().values(
                    user_id=user_id, tier=tier.value, effective_at=effective_at
                )
            )
        else:
            await self._c.execute(
                platform_tiers.update()
                .where(platform_tiers.c.user_id == user_id)
                .values(tier=tier.value, effective_at=effective_at)
            )


class Categories:
    """The category tree."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    @staticmethod
    def _category(row: sa.Row) -> Category:
        return Category(
            row.id, row.slug, row.name, row.description, row.parent_id, row.position, row.path
        )

    async def all(self) -> list[Category]:
        rows = await self._c.execute(
            sa.select(categories).order_by(categories.c.path, categories.c.position)
        )
        return [self._category(r) for r in rows]

    async def get(self, category_id: str) -> Category | None:
        row = (
            await self._c.execute(sa.select(categories).where(categories.c.id == category_id))
        ).first()
        return self._category(row) if row else None

    async def exists(self, id_or_slug: str) -> bool:
        found = await self._c.execute(
            sa.select(categories.c.id).where(
                sa.or_(categories.c.id == id_or_slug, categories.c.slug == id_or_slug)
            )
        )
        return found.first() is not None

    async def slug_taken(self, slug: str, *, other_than: str = "") -> bool:
        found = await self._c.execute(
            sa.select(categories.c.id).where(
                categories.c.slug == slug, categories.c.id != other_than
            )
        )
        return found.first() is not None

    async def add(self, category: Category) -> None:
        await self._c.execute(
            categories.insert().values(
                id=category.id,
                slug=category.slug,
                name=category.name,
                description=category.description,
                parent_id=category.parent_id,
                position=category.position,
                path=category.path,
            )
        )

    async def save(self, category: Category, old_path: str) -> None:
        await self._c.execute(
            categories.update()
            .where(categories.c.id == category.id)
            .values(
                slug=category.slug,
                name=category.name,
                description=category.description,
                parent_id=category.parent_id,
                position=category.position,
                path=category.path,
            )
        )
        if old_path != category.path:
            # Moving a category moves its whole subtree.
            await self._c.execute(
                categories.update()
                .where(categories.c.path.startswith(old_path), categories.c.id != category.id)
                .values(path=sa.func.replace(categories.c.path, old_path, category.path))
            )

    async def delete(self, category_id: str) -> None:
        await self._c.execute(categories.delete().where(categories.c.id == category_id))

    async def has_children(self, category_id: str) -> bool:
        found = await self._c.execute(
            sa.select(categories.c.id).where(categories.c.parent_id == category_id).limit(1)
        )
        return found.first() is not None

    async def has_services(self, category_id: str) -> bool:
        found = await self._c.execute(
            sa.select(services.c.id).where(services.c.category_id == category_id).limit(1)
        )
        return found.first() is not None


def _place_of(coordinate: sa.Column[float], location_id: str | None) -> Any:
    """A coordinate of the service's place, read in the statement that writes the service."""
    return sa.select(coordinate).where(locations.c.id == location_id).scalar_subquery()


# Columns of the services table that only discovery's filters read.
_NOT_SHOWN = frozenset({"search_vector", "practitioner_listed", "latitude", "longitude"})


@functools.cache
def service_columns(dialect: str) -> tuple[Any, ...]:
    """A service's columns with its dated sessions and bundle items as JSON lists: one query
    reads whole services, however many of them."""
    return (
        *(column for column in services.c if column.key not in _NOT_SHOWN),
        sa.type_coerce(_dated_sessions(dialect), sa.JSON).label("dated_sessions"),
        sa.type_coerce(_bundle_parts(dialect), sa.JSON).label("bundle_parts"),
    )


def _dated_sessions(dialect: str) -> Any:
    """[[start, minutes], ...] in order, or NULL."""
    own = service_sessions.c.service_id == services.c.id
    if dialect == "postgresql":
        return (
            sa.select(
                sa.func.json_agg(
                    aggregate_order_by(
                        sa.func.json_build_array(
                            service_sessions.c.starts_at, service_sessions.c.duration_minutes
                        ),
                        service_sessions.c.position,
                    )
                )
            )
            .where(own)
            .scalar_subquery()
        )
    # SQLite has no ORDER BY inside an aggregate: it aggregates an ordered subquery.
    ordered = (
        sa.select(service_sessions.c.starts_at, service_sessions.c.duration_minutes)
        .where(own)
        .order_by(service_sessions.c.position)
        .correlate(services)
        .subquery()
    )
    return (
        sa.select(
            sa.func.json_group_array(
                sa.func.json_array(ordered.c.starts_at, ordered.c.duration_minutes)
            )
        )
        .select_from(ordered)
        .scalar_subquery()
    )


def _bundle_parts(dialect: str) -> Any:
    """[[service id, quantity], ...] or NULL."""
    own = bundle_items.c.bundle_id == services.c.id
    pair = (bundle_items.c.service_id, bundle_items.c.quantity)
    if dialect == "postgresql":
        return (
            sa.select(sa.func.json_agg(sa.func.json_build_array(*pair)))
            .where(own)
            .scalar_subquery()
        )
    return (
        sa.select(sa.func.json_group_array(sa.func.json_array(*pair))).where(own).scalar_subquery()
    )


# The practitioner's columns beside a service's, named apart from the service's own.
_SELLER = "seller_"
_SELLER_COLUMNS = (
    *(c.label(_SELLER + c.key) for c in practitioners.c if c.key != "search_vector"),
    platform_tiers.c.tier.label(_SELLER + "tier"),
)


class Services:
    """Services and the parts of a service that have their own rows."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, service_id: str) -> Service | None:
        found = await self.get_many([service_id])
        return found[0] if found else None

    async def get_many(self, ids: Sequence[str]) -> list[Service]:
        if not ids:
            return []
        rows = (
            await self._c.execute(
                sa.select(*service_columns(self._c.dialect.name)).where(services.c.id.in_(ids))
            )
        ).all()
        return self.from_rows(rows)

    async def get_with_seller(self, service_id: str) -> tuple[Service, Practitioner] | None:
        """A service and its practitioner's standing and tier, in one read, as a quote needs
        them: the practitioner's languages and locations are not read (no price depends on
        them), so their lists are empty."""
        row = (
            await self._c.execute(
                sa.select(*service_columns(self._c.dialect.name), *_SELLER_COLUMNS)
                .join(practitioners, practitioners.c.id == services.c.practitioner_id)
                .outerjoin(platform_tiers, platform_tiers.c.user_id == practitioners.c.user_id)
                .where(services.c.id == service_id)
            )
        ).first()
        if row is None:
            return None
        seller = SimpleNamespace(
            **{
                name.removeprefix(_SELLER): value
                for name, value in row._mapping.items()
                if name.startswith(_SELLER)
            }
        )
        return self.from_rows([row])[0], Practitioners.from_row(seller, [], [])

    @classmethod
    def from_rows(cls, rows: Sequence[sa.Row]) -> list[Service]:
        """Services from rows read with `service_columns` (plus any extra columns)."""
        return [
            cls._service(
                row,
                [
                    DatedSession(as_utc(datetime.fromisoformat(starts)), minutes)
                    for starts, minutes in row.dated_sessions or ()
                ],
                [BundleItem(part, quantity) for part, quantity in row.bundle_parts or ()],
            )
            for row in rows
        ]

    @staticmethod
    def _service(row: sa.Row, dated: list[DatedSession], items: list[BundleItem]) -> Service:
        package = (
            PackageTerms(
                row.package_service_id,
                row.package_session_count or 0,
                row.package_validity_days or 0,
            )
            if row.package_service_id
            else None
        )
        return Service(
            id=row.id,
            practitioner_id=row.practitioner_id,
            kind=ServiceKind(row.kind),
            title=row.title,
            description=row.description,
            category_id=row.category_id,
            price_minor=row.price_minor,
            currency=row.currency,
            duration_minutes=row.duration_minutes,
            location_kind=LocationKind(row.location_kind),
            location_id=row.location_id,
            max_participants=row.max_participants,
            buffer_before_minutes=row.buffer_before_minutes,
            buffer_after_minutes=row.buffer_after_minutes,
            min_notice_minutes=row.min_notice_minutes,
            booking_window_days=row.booking_window_days,
            cancellation_policy=[RefundRule(r[0], r[1]) for r in row.cancellation_policy],
            status=ServiceStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            sessions=dated,
            package=package,
            bundle_items=sorted(items, key=lambda i: i.service_id),
            archived_at=row.archived_at,
        )

    @staticmethod
    def _columns(service: Service) -> dict[str, Any]:
        return {
            "kind": service.kind.value,
            "title": service.title,
            "description": service.description,
            "category_id": service.category_id,
            "price_minor": service.price_minor,
            "currency": service.currency,
            "duration_minutes": service.duration_minutes,
            "location_kind": service.location_kind.value,
            "location_id": service.location_id,
            "max_participants": service.max_participants,
            "buffer_before_minutes": service.buffer_before_minutes,
            "buffer_after_minutes": service.buffer_after_minutes,
            "min_notice_minutes": service.min_notice_minutes,
            "booking_window_days": service.booking_window_days,
            "cancellation_policy": [
                [r.hours_before, r.refund_percent] for r in service.cancellation_policy
            ],
            "package_service_id": service.package.session_service_id if service.package else None,
            "package_session_count": service.package.session_count if service.package else None,
            "package_validity_days": service.package.validity_days if service.package else None,
            "status": service.status.value,
            "updated_at": service.updated_at,
            "archived_at": service.archived_at,
            "latitude": _place_of(locations.c.latitude, service.location_id),
            "longitude": _place_of(locations.c.longitude, service.location_id),
        }

    async def add(self, service: Service) -> None:
        await self._c.execute(
            services.insert().values(
                id=service.id,
                practitioner_id=service.practitioner_id,
                created_at=service.created_at,
                practitioner_listed=sa.exists().where(
                    practitioners.c.id == service.practitioner_id,
                    practitioners.c.status == PractitionerStatus.APPROVED.value,
                    practitioners.c.account_status == AccountStatus.ACTIVE.value,
                ),
                **self._columns(service),
            )
        )
        await self._write_parts(service)

    async def save(self, service: Service) -> None:
        """Writes a change to an active service (archiving it is one), only if it is still
        active: an archived service never changes again."""
        await SERVICE_STATUS.move(
            self._c,
            service.id,
            expected=ServiceStatus.ACTIVE.value,
            values=self._columns(service),
        )
        await self._c.execute(
            service_sessions.delete().where(service_sessions.c.service_id == service.id)
        )
        await self._c.execute(bundle_items.delete().where(bundle_items.c.bundle_id == service.id))
        await self._write_parts(service)

    async def _write_parts(self, service: Service) -> None:
        if service.sessions:
            await self._c.execute(
                service_sessions.insert(),
                [
                    {
                        "service_id": service.id,
                        "position": n,
                        "starts_at": s.starts_at,
                        "duration_minutes": s.duration_minutes,
                    }
                    for n, s in enumerate(service.sessions)
                ],
            )
        if service.bundle_items:
            await self._c.execute(
                bundle_items.insert(),
                [
                    {"bundle_id": service.id, "service_id": i.service_id, "quantity": i.quantity}
                    for i in service.bundle_items
                ],
            )

    async def change_rating(self, service_id: str, change: RatingChange) -> Rating:
        """A review counted in (or taken out of) the service's rating, atomically."""
        return await change_rating(self._c, services, service_id, change)

    async def count_active(self, practitioner_id: str) -> int:
        return (
            await self._c.execute(
                sa.select(sa.func.count())
                .select_from(services)
                .where(
                    services.c.practitioner_id == practitioner_id,
                    services.c.status == ServiceStatus.ACTIVE.value,
                )
            )
        ).scalar_one()

    async def active_ids_of(self, practitioner_id: str) -> list[str]:
        """A practitioner's active services, newest first."""
        rows = await self._c.execute(
            sa.select(services.c.id)
            .where(
                services.c.practitioner_id == practitioner_id,
                services.c.status == ServiceStatus.ACTIVE.value,
            )
            .order_by(services.c.created_at.desc(), services.c.id)
        )
        return [r.id for r in rows]

    async def ids_of(self, practitioner_id: str) -> list[str]:
        rows = await self._c.execute(
            sa.select(services.c.id).where(services.c.practitioner_id == practitioner_id)
        )
        return [r.id for r in rows]

    async def own_ids(
        self, practitioner_id: str, *, after_id: str | None, limit: int
    ) -> tuple[list[str], int]:
        """A page of a practitioner's services, newest first (ids are time-ordered), and
        how many there are."""
        condition = services.c.practitioner_id == practitioner_id
        total = (
            await self._c.execute(sa.select(sa.func.count()).select_from(services).where(condition))
        ).scalar_one()
        query = sa.select(services.c.id).where(condition)
        if after_id is not None:
            query = query.where(services.c.id < after_id)
        rows = await self._c.execute(query.order_by(services.c.id.desc()).limit(limit))
        return [r.id for r in rows], total

    async def referencing(self, service_id: str) -> bool:
        """Whether an active package or bundle is built on this service."""
        as_package = await self._c.execute(
            sa.select(services.c.id)
            .where(
                services.c.package_service_id == service_id,
                services.c.status == ServiceStatus.ACTIVE.value,
            )
            .limit(1)
        )
        if as_package.first() is not None:
            return True
        as_item = await self._c.execute(
            sa.select(bundle_items.c.bundle_id)
            .join(services, services.c.id == bundle_items.c.bundle_id)
            .where(
                bundle_items.c.service_id == service_id,
                services.c.status == ServiceStatus.ACTIVE.value,
            )
            .limit(1)
        )
        return as_item.first() is not None


@dataclass(frozen=True)
class ReviewRow:
    """A review as it is read for showing: with its service's title now, and whose
    practitioner profile it is about (who may see it in full, who may reply)."""

    review: Review
    service_title: str
    practitioner_user_id: str


_REVIEW_FROM = reviews.join(services, services.c.id == reviews.c.service_id).join(
    practitioners, practitioners.c.id == reviews.c.practitioner_id
)


def _review(row: sa.Row) -> Review:
    return Review(
        id=row.id,
        booking_id=row.booking_id,
        client_id=row.client_id,
        service_id=row.service_id,
        practitioner_id=row.practitioner_id,
        rating=row.rating,
        text=row.text,
        created_at=row.created_at,
        reply_text=row.reply_text,
        replied_at=row.replied_at,
        hidden_at=row.hidden_at,
        hidden_reason=row.hidden_reason,
        author_erased_at=row.author_erased_at,
    )


def _eligibility(row: sa.Row) -> Eligibility:
    return Eligibility(
        booking_id=row.booking_id,
        client_id=row.client_id,
        service_id=row.service_id,
        practitioner_id=row.practitioner_id,
        completed_at=row.completed_at,
    )


class Reviews:
    """Completed bookings open to review, reviews, and their replies."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    def _locking(self, query: Any) -> Any:
        # SQLite has one writer: its transaction already holds the database.
        return query.with_for_update() if self._c.dialect.name == "postgresql" else query

    async def make_reviewable(self, eligibility: Eligibility) -> bool:
        """Records a completed booking its client may review; False if already recorded."""
        inserted = await self._c.execute(
            insert_ignoring_conflicts(
                self._c.dialect.name, review_eligibility, ["booking_id", "client_id"]
            )
            .values(
                booking_id=eligibility.booking_id,
                client_id=eligibility.client_id,
                service_id=eligibility.service_id,
                practitioner_id=eligibility.practitioner_id,
                completed_at=eligibility.completed_at,
            )
            .returning(review_eligibility.c.booking_id)
        )
        return inserted.first() is not None

    async def eligibility_of(self, booking_id: str, *, lock: bool = False) -> list[Eligibility]:
        """Who may review a booking. Locked, a creation holds its row until it commits, so
        of concurrent reviews of one booking the later ones see the first, and an erasure
        of the client (which deletes the row first) waits for it or is waited for."""
        query = sa.select(review_eligibility).where(review_eligibility.c.booking_id == booking_id)
        rows = await self._c.execute(self._locking(query) if lock else query)
        return [_eligibility(row) for row in rows]

    async def forget_eligibility(self, client_id: str) -> None:
        """A deleted client reviews nothing more."""
        await self._c.execute(
            review_eligibility.delete().where(review_eligibility.c.client_id == client_id)
        )

    async def exists_for(self, booking_id: str, client_id: str) -> bool:
        found = await self._c.execute(
            sa.select(reviews.c.id).where(
                reviews.c.booking_id == booking_id, reviews.c.client_id == client_id
            )
        )
        return found.first() is not None

    async def add(self, review: Review) -> None:
        await self._c.execute(
            reviews.insert().values(
                id=review.id,
                booking_id=review.booking_id,
                client_id=review.client_id,
                service_id=review.service_id,
                practitioner_id=review.practitioner_id,
                rating=review.rating,
                text=review.text,
                created_at=review.created_at,
            )
        )

    async def get(self, review_id: str) -> ReviewRow | None:
        found = await self._rows(reviews.c.id == review_id)
        return found[0] if found else None

    async def _rows(self, *conditions: Any, limit: int | None = None) -> list[ReviewRow]:
        query = (
            sa.select(
                reviews,
                services.c.title.label("service_title"),
                practitioners.c.user_id.label("practitioner_user_id"),
            )
            .select_from(_REVIEW_FROM)
            .where(*conditions)
            .order_by(reviews.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        rows = await self._c.execute(query)
        return [ReviewRow(_review(r), r.service_title, r.practitioner_user_id) for r in rows]

    async def page(
        self,
        *,
        service_id: str = "",
        practitioner_id: str = "",
        hidden: bool,
        after_id: str | None,
        limit: int,
    ) -> tuple[list[ReviewRow], int]:
        """A page of a service's (or a practitioner's) reviews, newest first (ids are
        time-ordered), and how many there are; hidden ones only when asked."""
        conditions: list[Any] = [
            reviews.c.service_id == service_id
            if service_id
            else reviews.c.practitioner_id == practitioner_id
        ]
        if not hidden:
            conditions.append(reviews.c.hidden_at.is_(None))
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(reviews).where(*conditions)
            )
        ).scalar_one()
        if after_id is not None:
            conditions.append(reviews.c.id < after_id)
        return await self._rows(*conditions, limit=limit), total

    async def reply(self, review: Review) -> None:
        """Writes the practitioner's reply, only if the review has none yet."""
        await self._guarded(
            review.id,
            reviews.c.replied_at.is_(None),
            {"reply_text": review.reply_text, "replied_at": review.replied_at},
            current="replied",
            expected="unanswered",
            reason="ALREADY_REPLIED",
        )

    async def set_hidden(self, review: Review) -> None:
        """Writes staff's hiding (or showing), only from the other state."""
        was_hidden = not review.is_hidden
        await self._guarded(
            review.id,
            reviews.c.hidden_at.is_not(None) if was_hidden else reviews.c.hidden_at.is_(None),
            {"hidden_at": review.hidden_at, "hidden_reason": review.hidden_reason},
            current="shown" if was_hidden else "hidden",
            expected="hidden" if was_hidden else "shown",
            reason="NOT_HIDDEN" if was_hidden else "ALREADY_HIDDEN",
        )

    async def _guarded(
        self,
        review_id: str,
        condition: Any,
        values: dict[str, Any],
        *,
        current: str,
        expected: str,
        reason: str,
    ) -> None:
        # The state a change starts from is in the WHERE clause: of concurrent changes from
        # one state, exactly one updates the row (see chassis/lifecycle.py).
        changed = await self._c.execute(
            reviews.update()
            .where(reviews.c.id == review_id, condition)
            .values(**values)
            .returning(reviews.c.id)
        )
        if changed.first() is None:
            raise WrongState(REVIEW, current, [expected], reason=reason)

    async def by_client(self, client_id: str) -> list[Review]:
        return [row.review for row in await self._rows(reviews.c.client_id == client_id)]

    async def replied_by(self, practitioner_id: str) -> list[Review]:
        rows = await self._rows(
            reviews.c.practitioner_id == practitioner_id, reviews.c.replied_at.is_not(None)
        )
        return [row.review for row in rows]

    async def save_erasure(self, review: Review) -> None:
        """Writes what an erasure left of a review's words."""
        await self._c.execute(
            reviews.update()
            .where(reviews.c.id == review.id)
            .values(
                text=review.text,
                reply_text=review.reply_text,
                author_erased_at=review.author_erased_at,
            )
        )
