"""Discovery and listings, the read side: full-text search, combinable filters, sorting and
keyset paging, services read as listings, and the full-text index they search. The unit of
work holds them as `uow.listings`.

PostgreSQL matches with a weighted tsvector (title A, practitioner name and specializations
B, description C) and ranks with ts_rank; SQLite matches with FTS5 (porter stemming) and
ranks by where the words appear. Both ranks depend only on the document and the query, never
on the rest of the corpus, so a page cursor that carries the last rank stays valid while
services are added: paging visits every item once and none twice.
"""

from __future__ import annotations

import functools
import math
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.auth.principal import AccountStatus
from chassis.errors import InvalidArgument
from chassis.pagination import KeyPart
from chassis.text_search import TEXT_CONFIG, fts5_query, words
from services.catalog.domain.discovery import SortOrder as Sort
from services.catalog.domain.practitioners import (
    Location,
    LocationKind,
    Practitioner,
    PractitionerStatus,
)
from services.catalog.domain.services import Service, ServiceKind, ServiceStatus, saving_of
from services.catalog.repository import Services, service_columns
from services.catalog.tables import (
    bundle_items,
    categories,
    locations,
    practitioner_languages,
    practitioners,
    services,
)

EARTH_RADIUS_KM = 6371.0088
# Where virtual services sort when ordering by distance: after every real place.
NO_DISTANCE = 1.0e9
# A discovery cursor: the last item's sort value (null when sorted newest first), then its id.
CURSOR_KEY = (KeyPart.NUMBER_OR_NULL, KeyPart.ID)

services_fts = sa.table("services_fts", sa.column("service_id"), sa.column("services_fts"))
practitioners_fts = sa.table(
    "practitioners_fts", sa.column("practitioner_id"), sa.column("practitioners_fts")
)


# The point a search measures from is bound when the statement runs, so the distance
# expressions are built once and every search from any point shares one cached statement.
_ORIGIN_LAT = sa.bindparam("origin_lat_rad", type_=sa.Float)
_ORIGIN_LNG = sa.bindparam("origin_lng_rad", type_=sa.Float)
_ORIGIN_COS_LAT = sa.bindparam("origin_cos_lat", type_=sa.Float)


def origin(point: tuple[float, float] | None) -> dict[str, float]:
    """The bound parameters of a statement that measures distances from a point."""
    if point is None:
        return {}
    latitude = math.radians(point[0])
    return {
        "origin_lat_rad": latitude,
        "origin_lng_rad": math.radians(point[1]),
        "origin_cos_lat": math.cos(latitude),
    }


def distance_km(lat_column: Any, lng_column: Any) -> Any:
    """Great-circle (haversine) distance from the bound origin (see `origin`), in SQL that
    both PostgreSQL and SQLite evaluate."""
    # Halving by multiplication: dividing by the integer 2 would be rendered as NUMERIC.
    dlat = (sa.func.radians(lat_column) - _ORIGIN_LAT) * 0.5
    dlng = (sa.func.radians(lng_column) - _ORIGIN_LNG) * 0.5
    a = sa.func.power(sa.func.sin(dlat), 2) + _ORIGIN_COS_LAT * sa.func.cos(
        sa.func.radians(lat_column)
    ) * sa.func.power(sa.func.sin(dlng), 2)
    root = sa.func.sqrt(a)
    # Rounding can push the root a hair above 1, outside asin's domain.
    return 2 * EARTH_RADIUS_KM * sa.func.asin(sa.case((root > 1.0, 1.0), else_=root))


@dataclass(frozen=True)
class SortKey:
    """How a page is ordered: one expression (or none) and the id as the tie-breaker."""

    expression: Any | None
    descending: bool
    id_descending: bool = False

    @property
    def length(self) -> int:
        return 2 if self.expression is not None else 1

    def order_by(self, id_column: Any, value_column: Any = None) -> list[Any]:
        """The ordering, on the expression itself or on a column that carries its value."""
        ordering = []
        if self.expression is not None:
            value = self.expression if value_column is None else value_column
            ordering.append(value.desc() if self.descending else value.asc())
        ordering.append(id_column.desc() if self.id_descending else id_column.asc())
        return ordering

    def after(self, id_column: Any, last: Sequence[Any]) -> Any:
        """Rows strictly after the last one served, in this order."""
        last_id = last[-1]
        id_after = id_column < last_id if self.id_descending else id_column > last_id
        if self.expression is None:
            return id_after
        value = last[0]
        beyond = self.expression < value if self.descending else self.expression > value
        return sa.or_(beyond, sa.and_(self.expression == value, id_after))


@dataclass(frozen=True)
class ServiceQuery:
    """A discovery request for services, validated."""

    text: str = ""
    # A category's id or slug: it and every category beneath it.
    category: str = ""
    kind: ServiceKind | None = None
    price_min: int | None = None
    price_max: int | None = None
    currency: str = ""
    location_kind: LocationKind | None = None
    point: tuple[float, float] | None = None
    radius_km: float | None = None
    min_rating: float | None = None
    practitioner_id: str = ""
    language: str = ""
    sort: Sort = Sort.NEWEST

    def fingerprint(self) -> dict[str, Any]:
        return {k: (v.value if hasattr(v, "value") else v) for k, v in vars(self).items()}


# The bound category (by id or slug) and every category beneath it, by the path prefix
# they share: resolved inside the search, not in a round trip of its own.
CATEGORY_SUBTREE = sa.select(categories.c.id).where(
    categories.c.path.startswith(
        sa.select(categories.c.path)
        .where(
            sa.or_(
                categories.c.id == sa.bindparam("category"),
                categories.c.slug == sa.bindparam("category"),
            )
        )
        .scalar_subquery()
    )
)

# A service as listings show it: its row, its practitioner's summary and its place.
LISTING_FROM = services.join(
    practitioners, practitioners.c.id == services.c.practitioner_id
).outerjoin(locations, locations.c.id == services.c.location_id)

# An in-person service's distance from the bound origin; NULL for a virtual one. It reads
# the service's own copy of its place's coordinates, so filtering needs no join.
PLACE_DISTANCE = sa.case(
    (
        services.c.location_kind == LocationKind.IN_PERSON.value,
        distance_km(services.c.latitude, services.c.longitude),
    ),
    else_=sa.null(),
)
# What a search filters on: the service alone, or with its practitioner when SQLite's rank
# reads the practitioner's own columns.
WITH_PRACTITIONER = services.join(practitioners, practitioners.c.id == services.c.practitioner_id)

_part = services.alias("part")
# What a package's or bundle's parts cost bought one by one; NULL for other kinds.
PARTS_PRICE = sa.case(
    (
        services.c.kind == ServiceKind.PACKAGE.value,
        sa.select(_part.c.price_minor)
        .where(_part.c.id == services.c.package_service_id)
        .scalar_subquery()
        * services.c.package_session_count,
    ),
    (
        services.c.kind == ServiceKind.BUNDLE.value,
        # PostgreSQL sums bigints as numeric: cast back, money stays integer minor units.
        sa.select(
            sa.cast(sa.func.sum(_part.c.price_minor * bundle_items.c.quantity), sa.BigInteger)
        )
        .select_from(bundle_items.join(_part, _part.c.id == bundle_items.c.service_id))
        .where(bundle_items.c.bundle_id == services.c.id)
        .scalar_subquery(),
    ),
    else_=sa.null(),
)


def listing_columns(dialect: str, distance: Any = None) -> list[Any]:
    """The columns of a listing row, with its distance (an expression) where one is given."""
    return [
        *service_columns(dialect),
        PARTS_PRICE.label("parts_price_minor"),
        practitioners.c.user_id.label("practitioner_user_id"),
        practitioners.c.status.label("practitioner_status"),
        practitioners.c.account_status.label("practitioner_account_status"),
        practitioners.c.display_name.label("practitioner_display_name"),
        practitioners.c.rating_average.label("practitioner_rating_average"),
        practitioners.c.rating_count.label("practitioner_rating_count"),
        practitioners.c.featured.label("practitioner_featured"),
        locations.c.label.label("place_label"),
        locations.c.address.label("place_address"),
        locations.c.city.label("place_city"),
        locations.c.country_code.label("place_country_code"),
        locations.c.latitude.label("place_latitude"),
        locations.c.longitude.label("place_longitude"),
        (sa.null() if distance is None else distance).label("distance_km"),
    ]


@functools.cache
def _listings(dialect: str) -> tuple[Any, Any]:
    """Listings by one id and by several, built once: a statement made per call would be
    rebuilt and cache-keyed on every read."""
    listing = sa.select(*listing_columns(dialect)).select_from(LISTING_FROM)
    return (
        listing.where(services.c.id == sa.bindparam("id")),
        listing.where(services.c.id.in_(sa.bindparam("ids", expanding=True))),
    )


@dataclass(frozen=True)
class ServiceView:
    """A service with what is shown beside it."""

    service: Service
    practitioner_id: str
    practitioner_name: str
    # The practitioner's rating, over all their services.
    practitioner_rating_average: float
    practitioner_rating_count: int
    featured: bool
    place: Location | None
    saving_minor: int | None
    distance_km: float | None = None
    # Whose it is, and whether its practitioner is listed (approved, account active).
    practitioner_user_id: str = ""
    practitioner_listed: bool = False
    # The service's own rating: the average of its visible reviews' stars, and how many.
    rating_average: float = 0.0
    rating_count: int = 0

    @property
    def on_sale(self) -> bool:
        """Shown to the public: active, by a listed practitioner."""
        return self.service.is_active and self.practitioner_listed


@dataclass(frozen=True)
class PractitionerView:
    """A practitioner as the caller may see them."""

    practitioner: Practitioner
    owner_view: bool
    services: list[ServiceView]
    distance_km: float | None = None


@dataclass(frozen=True)
class ServiceHit:
    """One service found, and its cursor key: [sort value or None, id]."""

    view: ServiceView
    key: list[Any]


@dataclass(frozen=True)
class PractitionerHit:
    """One practitioner found (by id), their distance, and their cursor key."""

    practitioner_id: str
    key: list[Any]
    distance_km: float | None


@functools.lru_cache(maxsize=64)
def _listing_row(columns: tuple[str, ...]) -> Any:
    return namedtuple("ListingRow", columns)


def _listing_rows(result: Result[Any]) -> list[Any]:
    """A result's rows as named tuples. A SQLAlchemy Row finds each attribute by a failed
    lookup and then its fallback, about a microsecond, and a listing reads some seventy."""
    row_type = _listing_row(tuple(result.keys()))
    return [row_type._make(row) for row in result]


def _views(rows: Sequence[Any]) -> list[ServiceView]:
    """Views of services from listing rows, in the rows' order."""
    return [
        ServiceView(
            service=service,
            practitioner_id=row.practitioner_id,
            practitioner_name=row.practitioner_display_name,
            practitioner_rating_average=row.practitioner_rating_average,
            practitioner_rating_count=row.practitioner_rating_count,
            featured=row.practitioner_featured,
            place=_place_of(row),
            saving_minor=saving_of(service, row.parts_price_minor),
            distance_km=row.distance_km,
            practitioner_user_id=row.practitioner_user_id,
            practitioner_listed=(
                row.practitioner_status == PractitionerStatus.APPROVED.value
                and row.practitioner_account_status == AccountStatus.ACTIVE.value
            ),
            rating_average=row.rating_average,
            rating_count=row.rating_count,
        )
        for row, service in zip(rows, Services.from_rows(rows), strict=True)
    ]


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


def _after(after: Sequence[Any] | None) -> list[Any] | None:
    """A cursor's sort key as the statements bind it: newest-first keys carry only the id."""
    if after is None:
        return None
    return [v for v in after if v is not None]


def _token_key(key: list[Any]) -> list[Any]:
    """A sort key as cursors carry it (CURSOR_KEY): one-part keys padded to two."""
    return key if len(key) == 2 else [None, key[0]]


def _exact_rank(vector: Any, query: Any) -> Any:
    # ts_rank is a float4, whose text form does not round-trip through a Python float: the
    # cursor would then compare unequal to the row it came from and serve it again. As a
    # float8 the value survives the round trip exactly.
    return sa.cast(sa.func.ts_rank(vector, query), sa.Float(precision=53))


def _text_match(dialect: str, word_count: int) -> tuple[Any, Any]:
    """The condition that a service matches the bound words, and its rank."""
    if dialect == "postgresql":
        query = sa.func.websearch_to_tsquery(TEXT_CONFIG, sa.bindparam("text", type_=sa.Text))
        return services.c.search_vector.op("@@")(query), _exact_rank(
            services.c.search_vector, query
        )
    matched = services.c.id.in_(
        sa.select(services_fts.c.service_id).where(
            sa.literal_column("services_fts").op("MATCH")(sa.bindparam("fts_query", type_=sa.Text))
        )
    )
    title = sa.func.lower(services.c.title)
    about = sa.func.lower(
        practitioners.c.display_name + " " + sa.cast(practitioners.c.specializations, sa.Text)
    )
    description = sa.func.lower(services.c.description)
    rank: Any = sa.literal(0.0)
    for index in range(word_count):
        word = sa.bindparam(f"word_{index}", type_=sa.Text)
        rank = rank + sa.case((sa.func.instr(title, word) > 0, 3.0), else_=0.0)
        rank = rank + sa.case((sa.func.instr(about, word) > 0, 2.0), else_=0.0)
        rank = rank + sa.case((sa.func.instr(description, word) > 0, 1.0), else_=0.0)
    return matched, rank


@dataclass(frozen=True)
class _ServiceShape:
    """What a service search's SQL depends on: which filters it has, not their values."""

    dialect: str
    word_count: int
    category: bool
    kind: bool
    price_min: bool
    price_max: bool
    currency: bool
    location_kind: bool
    point: bool
    radius: bool
    min_rating: bool
    practitioner: bool
    language: bool
    sort: Sort
    later_page: bool


@dataclass(frozen=True)
class _ServiceStatements:
    page: Any
    total: Any  # for pages after the first; the first page counts in its own query
    sorted_by_value: bool


@functools.lru_cache(maxsize=512)
def _service_statements(shape: _ServiceShape) -> _ServiceStatements:
    """The statements of a search shape, built once: every value is a bound parameter, so
    building and cache-keying them does not recur with every request."""
    conditions: list[Any] = [
        services.c.status == ServiceStatus.ACTIVE.value,
        services.c.practitioner_listed.is_(True),
    ]
    rank: Any = None
    if shape.word_count:
        matched, rank = _text_match(shape.dialect, shape.word_count)
        conditions.append(matched)
    if shape.category:
        if shape.dialect == "postgresql":
            # As an array the subtree is computed once and becomes an index condition; as
            # a semi-join PostgreSQL repeats the whole bitmap scan for each category.
            conditions.append(
                services.c.category_id == sa.any_(sa.func.array(CATEGORY_SUBTREE.scalar_subquery()))
            )
        else:
            conditions.append(services.c.category_id.in_(CATEGORY_SUBTREE))
    if shape.kind:
        conditions.append(services.c.kind == sa.bindparam("kind"))
    if shape.price_min:
        conditions.append(services.c.price_minor >= sa.bindparam("price_min"))
    if shape.price_max:
        conditions.append(services.c.price_minor <= sa.bindparam("price_max"))
    if shape.currency:
        conditions.append(services.c.currency == sa.bindparam("currency"))
    if shape.location_kind:
        conditions.append(services.c.location_kind == sa.bindparam("location_kind"))
    if shape.min_rating:
        # The service's own rating, as clients are shown it (two decimals).
        conditions.append(services.c.rating_average >= sa.bindparam("min_rating"))
    if shape.practitioner:
        conditions.append(services.c.practitioner_id == sa.bindparam("practitioner_id"))
    if shape.language:
        conditions.append(
            sa.exists().where(
                practitioner_languages.c.practitioner_id == services.c.practitioner_id,
                practitioner_languages.c.language == sa.bindparam("language"),
            )
        )
    distance: Any = sa.null()
    if shape.point:
        distance = PLACE_DISTANCE
        if shape.radius:
            conditions.append(services.c.location_kind == LocationKind.IN_PERSON.value)
            conditions.append(distance <= sa.bindparam("radius_km"))
    key = _service_sort(shape.sort, rank, distance)
    # Narrow first: find and order the page's ids (with the sort key and, on the first page,
    # the total); only the page's rows then gain their listing columns, in the same query.
    # Sorting every match with all its columns would carry descriptions through the sort.
    columns: list[Any] = [services.c.id]
    # Ordered by the column's name, not by its expression again: a distance is some 700
    # characters of SQL, and psycopg caches its parsing only of statements of up to 4,096.
    sort_column = None if key.expression is None else key.expression.label("sort_value")
    if sort_column is not None:
        columns.append(sort_column)
    if not shape.later_page:
        columns.append(sa.func.count().over().label("total_matches"))
    reads_practitioner = (
        shape.sort is Sort.RELEVANCE and shape.word_count > 0 and shape.dialect == "sqlite"
    )
    searched = WITH_PRACTITIONER if reads_practitioner else services
    narrow = sa.select(*columns).select_from(searched).where(*conditions)
    if shape.later_page:
        last: list[Any] = [sa.bindparam("after_value"), sa.bindparam("after_id")]
        narrow = narrow.where(key.after(services.c.id, last[-key.length :]))
    found = (
        narrow.order_by(*key.order_by(services.c.id, sort_column))
        .limit(sa.bindparam("page_limit", type_=sa.Integer))
        .subquery("found")
    )
    sort_value = found.c.sort_value if key.expression is not None else None
    distance_shown: Any = None
    if shape.sort is Sort.DISTANCE:
        # The page's sort value is its distance (NO_DISTANCE for a virtual service): read,
        # not measured again, for the same reason as above.
        distance_shown = sa.func.nullif(found.c.sort_value, NO_DISTANCE)
    elif shape.point:
        distance_shown = PLACE_DISTANCE
    page = (
        sa.select(
            *listing_columns(shape.dialect, distance_shown),
            *([sort_value] if sort_value is not None else []),
            *([] if shape.later_page else [found.c.total_matches]),
        )
        .select_from(found.join(LISTING_FROM, services.c.id == found.c.id))
        .order_by(*key.order_by(found.c.id, sort_value))
    )
    total = sa.select(sa.func.count()).select_from(searched).where(*conditions)
    return _ServiceStatements(page, total, sorted_by_value=sort_value is not None)


def _service_parameters(
    dialect: str, query: ServiceQuery, after: Sequence[Any] | None, limit: int
) -> tuple[_ServiceShape, dict[str, Any]]:
    """A search's shape, and the values its statements bind."""
    found_words = words(query.text)
    values: dict[str, Any] = {"page_limit": limit, **origin(query.point)}
    if found_words:
        if dialect == "postgresql":
            values["text"] = query.text
        else:
            values["fts_query"] = fts5_query(query.text)
            values.update({f"word_{i}": word for i, word in enumerate(found_words)})
    optional = {
        "category": query.category or None,
        "kind": query.kind.value if query.kind is not None else None,
        "price_min": query.price_min,
        "price_max": query.price_max,
        "currency": query.currency or None,
        "location_kind": query.location_kind.value if query.location_kind is not None else None,
        "radius_km": query.radius_km if query.point is not None else None,
        "min_rating": query.min_rating,
        "practitioner_id": query.practitioner_id or None,
        "language": query.language or None,
    }
    values.update({name: value for name, value in optional.items() if value is not None})
    if after is not None:
        values["after_id"] = after[-1]
        if len(after) == 2:
            values["after_value"] = after[0]
    shape = _ServiceShape(
        dialect=dialect,
        word_count=len(found_words),
        category="category" in values,
        kind="kind" in values,
        price_min="price_min" in values,
        price_max="price_max" in values,
        currency="currency" in values,
        location_kind="location_kind" in values,
        point=query.point is not None,
        radius="radius_km" in values,
        min_rating="min_rating" in values,
        practitioner="practitioner_id" in values,
        language="language" in values,
        sort=query.sort if query.sort is not Sort.DISTANCE or query.point else Sort.NEWEST,
        later_page=after is not None,
    )
    return shape, values


async def _search_services(
    connection: AsyncConnection,
    query: ServiceQuery,
    *,
    after: Sequence[Any] | None,
    limit: int,
) -> tuple[list[ServiceHit], int]:
    """A page of active services of approved practitioners, and how many match in all."""
    shape, values = _service_parameters(connection.dialect.name, query, after, limit)
    statements = _service_statements(shape)
    if after is not None:
        _check_after(after, 2 if statements.sorted_by_value else 1)
    page = _listing_rows(await connection.execute(statements.page, values))
    if after is None:
        total = page[0].total_matches if page else 0
    else:
        total = (await connection.execute(statements.total, values)).scalar_one()
    hits = [
        ServiceHit(
            view, _token_key([row.sort_value, row.id] if statements.sorted_by_value else [row.id])
        )
        for row, view in zip(page, _views(page), strict=True)
    ]
    return hits, total


def _check_after(after: Sequence[Any], length: int) -> None:
    """Refuses a cursor whose key does not fit the query's order."""
    # A forged token can hold a sort value the order lacks, or lack the one it needs; the
    # statement would then miss a parameter.
    if len(after) != length:
        raise InvalidArgument.field("page_token", "is not a token this API issued")


def _service_sort(sort: Sort, rank: Any, distance: Any) -> SortKey:
    if sort is Sort.RELEVANCE and rank is not None:
        return SortKey(rank, descending=True)
    if sort is Sort.PRICE_ASCENDING:
        return SortKey(services.c.price_minor, descending=False)
    if sort is Sort.PRICE_DESCENDING:
        return SortKey(services.c.price_minor, descending=True)
    if sort is Sort.RATING:
        return SortKey(services.c.rating_average, descending=True)
    if sort is Sort.DISTANCE:
        return SortKey(sa.func.coalesce(distance, NO_DISTANCE), descending=False)
    return SortKey(None, descending=True, id_descending=True)


@dataclass(frozen=True)
class PractitionerQuery:
    """A discovery request for practitioners, validated."""

    text: str = ""
    language: str = ""
    min_rating: float | None = None
    point: tuple[float, float] | None = None
    radius_km: float | None = None
    featured_only: bool = False
    sort: Sort = Sort.NEWEST

    def fingerprint(self) -> dict[str, Any]:
        return {k: (v.value if hasattr(v, "value") else v) for k, v in vars(self).items()}


async def _search_practitioners(
    connection: AsyncConnection,
    query: PractitionerQuery,
    *,
    after: Sequence[Any] | None,
    limit: int,
) -> tuple[list[PractitionerHit], int]:
    """A page of approved practitioners (id, cursor key, distance), and the total."""
    dialect = connection.dialect.name
    conditions: list[Any] = [
        practitioners.c.status == PractitionerStatus.APPROVED.value,
        practitioners.c.account_status == AccountStatus.ACTIVE.value,
    ]
    rank: Any = None
    if words(query.text):
        if dialect == "postgresql":
            tsquery = sa.func.websearch_to_tsquery(TEXT_CONFIG, query.text)
            conditions.append(practitioners.c.search_vector.op("@@")(tsquery))
            rank = _exact_rank(practitioners.c.search_vector, tsquery)
        else:
            conditions.append(
                practitioners.c.id.in_(
                    sa.select(practitioners_fts.c.practitioner_id).where(
                        sa.literal_column("practitioners_fts").op("MATCH")(fts5_query(query.text))
                    )
                )
            )
            name = sa.func.lower(practitioners.c.display_name)
            about = sa.func.lower(sa.cast(practitioners.c.specializations, sa.Text))
            rank = sa.literal(0.0)
            for word in words(query.text):
                rank = rank + sa.case((sa.func.instr(name, word) > 0, 3.0), else_=0.0)
                rank = rank + sa.case((sa.func.instr(about, word) > 0, 2.0), else_=0.0)
    if query.language:
        conditions.append(
            sa.exists().where(
                practitioner_languages.c.practitioner_id == practitioners.c.id,
                practitioner_languages.c.language == query.language,
            )
        )
    if query.min_rating is not None:
        conditions.append(practitioners.c.rating_average >= query.min_rating)
    if query.featured_only:
        conditions.append(practitioners.c.featured.is_(True))
    distance: Any = sa.null()
    if query.point is not None:
        distance = (
            sa.select(sa.func.min(distance_km(locations.c.latitude, locations.c.longitude)))
            .where(
                locations.c.practitioner_id == practitioners.c.id,
                locations.c.kind == LocationKind.IN_PERSON.value,
                locations.c.removed_at.is_(None),
            )
            .scalar_subquery()
        )
        if query.radius_km is not None:
            conditions.append(distance <= query.radius_km)
    if query.sort is Sort.RELEVANCE and rank is not None:
        key = SortKey(rank, descending=True)
    elif query.sort is Sort.RATING:
        key = SortKey(practitioners.c.rating_average, descending=True)
    elif query.sort is Sort.DISTANCE and query.point is not None:
        key = SortKey(sa.func.coalesce(distance, NO_DISTANCE), descending=False)
    else:
        key = SortKey(None, descending=True, id_descending=True)
    if after is not None:
        _check_after(after, key.length)
    total = (
        await connection.execute(
            sa.select(sa.func.count()).select_from(practitioners).where(*conditions),
            origin(query.point),
        )
    ).scalar_one()
    columns = [practitioners.c.id, distance.label("distance_km")]
    if key.expression is not None:
        columns.append(key.expression.label("sort_value"))
    statement = sa.select(*columns).where(*conditions)
    if after is not None:
        statement = statement.where(key.after(practitioners.c.id, after))
    rows = (
        await connection.execute(
            statement.order_by(*key.order_by(practitioners.c.id)).limit(limit), origin(query.point)
        )
    ).all()
    return [
        PractitionerHit(
            row.id,
            _token_key([row.sort_value, row.id] if key.expression is not None else [row.id]),
            row.distance_km,
        )
        for row in rows
    ], total


def _weighted(text: str, weight: str) -> Any:
    # setweight's label is PostgreSQL's one-byte "char"; an untyped literal resolves to it.
    assert weight in ("A", "B", "C", "D")
    return sa.func.setweight(
        sa.func.to_tsvector(TEXT_CONFIG, text), sa.literal_column(f"'{weight}'")
    )


async def _index_service(
    connection: AsyncConnection, service_id: str, title: str, about: str, description: str
) -> None:
    """Puts a service's current words into the full-text index."""
    if connection.dialect.name == "postgresql":
        await connection.execute(
            services.update()
            .where(services.c.id == service_id)
            .values(
                search_vector=_weighted(title, "A")
                .op("||")(_weighted(about, "B"))
                .op("||")(_weighted(description, "C"))
            )
        )
        return
    await connection.execute(
        sa.text("DELETE FROM services_fts WHERE service_id = :id"), {"id": service_id}
    )
    await connection.execute(
        sa.text(
            "INSERT INTO services_fts (service_id, title, about, description) "
            "VALUES (:id, :title, :about, :description)"
        ),
        {"id": service_id, "title": title, "about": about, "description": description},
    )


async def _index_practitioner(
    connection: AsyncConnection, practitioner_id: str, name: str, about: str, bio: str
) -> None:
    """Puts a practitioner's current words into the full-text index."""
    if connection.dialect.name == "postgresql":
        await connection.execute(
            practitioners.update()
            .where(practitioners.c.id == practitioner_id)
            .values(
                search_vector=_weighted(name, "A")
                .op("||")(_weighted(about, "B"))
                .op("||")(_weighted(bio, "C"))
            )
        )
        return
    await connection.execute(
        sa.text("DELETE FROM practitioners_fts WHERE practitioner_id = :id"),
        {"id": practitioner_id},
    )
    await connection.execute(
        sa.text(
            "INSERT INTO practitioners_fts (practitioner_id, name, about, bio) "
            "VALUES (:id, :name, :about, :bio)"
        ),
        {"id": practitioner_id, "name": name, "about": about, "bio": bio},
    )


class Listings:
    """Discovery's searches, services read as listings, and the full-text index."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def by_id(self, ids: Sequence[str]) -> list[ServiceView]:
        """Services by id as listings, whatever their status, in the order asked (the
        ids not found left out), in one query."""
        if not ids:
            return []
        by_one, by_several = _listings(self._c.dialect.name)
        if len(ids) == 1:
            return _views(_listing_rows(await self._c.execute(by_one, {"id": ids[0]})))
        rows = _listing_rows(await self._c.execute(by_several, {"ids": list(ids)}))
        by_id = {row.id: row for row in rows}
        return _views([by_id[i] for i in ids if i in by_id])

    async def search_services(
        self, query: ServiceQuery, *, after: Sequence[Any] | None, limit: int
    ) -> tuple[list[ServiceHit], int]:
        """Active services of listed practitioners after a cursor key, and how many match."""
        return await _search_services(self._c, query, after=_after(after), limit=limit)

    async def search_practitioners(
        self, query: PractitionerQuery, *, after: Sequence[Any] | None, limit: int
    ) -> tuple[list[PractitionerHit], int]:
        """Listed practitioners after a cursor key, and how many match."""
        return await _search_practitioners(self._c, query, after=_after(after), limit=limit)

    async def index_service(self, service: Service, practitioner: Practitioner) -> None:
        """Puts a service's current words, and its practitioner's, into the index."""
        profile = practitioner.profile
        about = " ".join([profile.display_name, *profile.specializations])
        await _index_service(self._c, service.id, service.title, about, service.description)

    async def index_practitioner(self, practitioner: Practitioner) -> None:
        """Puts a practitioner's current words into the index."""
        profile = practitioner.profile
        await _index_practitioner(
            self._c,
            practitioner.id,
            profile.display_name,
            " ".join(profile.specializations),
            profile.bio,
        )
