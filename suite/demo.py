"""Believable demo data: categories, practitioners with services in real cities, and reviews.

It goes through the services' own handlers (apply, approve, create service, review, reply),
so every row is validated and every event is emitted as in real use. The same generator,
seeded, fills the benchmark's catalog (without reviews).

Reviews need completed bookings, and the demo's own bookings (suite/demo_bookings.py) are the
demo client's few: it makes up completed bookings by made-up clients (ids with no account)
and opens them to review through the very handler catalog's booking.completed consumer runs
(make_reviewable), then writes each review and some replies through the public handlers, so
ratings come from reviews as in real use.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chassis.auth.principal import Principal, Role, TokenType
from chassis.errors import AlreadyExists
from chassis.ids import new_id
from chassis.money import minor_unit_exponent
from services.catalog.domain.categories import Category
from services.catalog.domain.practitioners import Location, LocationKind, Profile, Tier
from services.catalog.domain.reviews import Eligibility
from services.catalog.domain.services import (
    BundleItem,
    DatedSession,
    PackageTerms,
    Service,
    ServiceKind,
    ServiceStatus,
)
from services.catalog.service_layer import Catalog
from services.identity.service_layer.accounts import AccountHandlers

CATEGORY_TREE: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("yoga", "Yoga"): [
        ("hatha-yoga", "Hatha yoga"),
        ("vinyasa-yoga", "Vinyasa yoga"),
        ("yin-yoga", "Yin yoga"),
        ("prenatal-yoga", "Prenatal yoga"),
    ],
    ("massage", "Massage"): [
        ("deep-tissue", "Deep tissue"),
        ("thai-massage", "Thai massage"),
        ("sports-massage", "Sports massage"),
    ],
    ("meditation", "Meditation"): [
        ("mindfulness", "Mindfulness"),
        ("breathwork", "Breathwork"),
        ("sound-healing", "Sound healing"),
    ],
    ("nutrition", "Nutrition"): [
        ("plant-based", "Plant-based eating"),
        ("gut-health", "Gut health"),
    ],
    ("coaching", "Coaching"): [
        ("life-coaching", "Life coaching"),
        ("career-coaching", "Career coaching"),
    ],
    ("bodywork", "Energy and bodywork"): [
        ("reiki", "Reiki"),
        ("acupuncture", "Acupuncture"),
        ("reflexology", "Reflexology"),
    ],
    ("movement", "Movement"): [
        ("pilates", "Pilates"),
        ("tai-chi", "Tai chi"),
        ("dance-therapy", "Dance therapy"),
    ],
}

# Practitioners are spread over the cities in this order, so even a small demo has prices in
# several currencies: the first four are euros, pounds, dollars and yen (no minor unit).
CITIES = [
    ("Lisbon", "PT", 38.7223, -9.1393, "Europe/Lisbon", ["pt", "en"], "EUR"),
    ("London", "GB", 51.5072, -0.1276, "Europe/London", ["en"], "GBP"),
    ("New York", "US", 40.7128, -74.0060, "America/New_York", ["en", "es"], "USD"),
    ("Tokyo", "JP", 35.6762, 139.6503, "Asia/Tokyo", ["ja", "en"], "JPY"),
    ("Porto", "PT", 41.1579, -8.6291, "Europe/Lisbon", ["pt", "en"], "EUR"),
    ("Madrid", "ES", 40.4168, -3.7038, "Europe/Madrid", ["es", "en"], "EUR"),
    ("Barcelona", "ES", 41.3874, 2.1686, "Europe/Madrid", ["es", "ca", "en"], "EUR"),
    ("Bristol", "GB", 51.4545, -2.5879, "Europe/London", ["en"], "GBP"),
    ("Paris", "FR", 48.8566, 2.3522, "Europe/Paris", ["fr", "en"], "EUR"),
    ("Berlin", "DE", 52.5200, 13.4050, "Europe/Berlin", ["de", "en"], "EUR"),
    ("Amsterdam", "NL", 52.3676, 4.9041, "Europe/Amsterdam", ["nl", "en"], "EUR"),
    ("Copenhagen", "DK", 55.6761, 12.5683, "Europe/Copenhagen", ["da", "en"], "DKK"),
    ("Austin", "US", 30.2672, -97.7431, "America/Chicago", ["en"], "USD"),
    ("Toronto", "CA", 43.6532, -79.3832, "America/Toronto", ["en", "fr"], "CAD"),
    ("Sydney", "AU", -33.8688, 151.2093, "Australia/Sydney", ["en"], "AUD"),
]
# What a single session costs, in whole units of each city's currency (what a local studio
# would ask); amounts are stored in minor units, scaled by the currency's ISO 4217 exponent.
SESSION_PRICES = {
    "EUR": (35, 45, 55, 60, 75, 90, 120),
    "GBP": (30, 40, 50, 55, 65, 80, 100),
    "USD": (40, 50, 65, 75, 90, 110, 140),
    "JPY": (4000, 5500, 6500, 8000, 9500, 12000, 15000),
    "DKK": (275, 350, 425, 500, 600, 700, 900),
    "CAD": (50, 65, 80, 95, 110, 130, 170),
    "AUD": (55, 70, 85, 100, 120, 140, 180),
}
# Every seventh practitioner is featured by staff (a step prime to the number of cities, so
# the featured ones are in different cities).
FEATURED_EVERY = 7
REVIEWS_FROM_MADE_UP_BOOKINGS = (
    "the reviews come from made-up completed bookings by made-up clients (the demo's real "
    "bookings are the demo client's few), opened to review through catalog's "
    "booking.completed handler"
)
# What clients write, by stars; {topic} is the service's category, {first} the practitioner's
# first name.
REVIEW_TEXTS = {
    5: [
        "{first} made the {topic} session feel effortless. I left calmer than I have in weeks.",
        "Exactly what I needed: clear guidance, a kind pace, and tips to keep practising at home.",
        "Warm, attentive and precise. {first} noticed what my body needed before I did.",
        "My third session with {first} and each one has been better. Highly recommended.",
        "A lovely hour of {topic}. Thoughtful from the first minute to the last.",
    ],
    4: [
        "Really good {topic} session. It started a few minutes late, but {first} made up for it.",
        "Very helpful and friendly. I would have liked a little more time for questions.",
        "Solid, well-structured {topic}. I will book again.",
        "{first} explains things clearly. The room was a bit warm, otherwise great.",
    ],
    3: [
        "Decent {topic} session, though the end felt rushed.",
        "Good teacher, but it was more basic than the description suggested.",
        "Fine overall. The online connection dropped twice, which broke the flow.",
    ],
    2: [
        "The {topic} session moved faster than I expected for a beginner.",
        "Not quite for me: less hands-on guidance than I hoped for.",
    ],
    1: [
        "The session started twenty minutes late and felt unstructured. Disappointing.",
    ],
}
THANKS = [
    "Thank you so much! See you at the next one.",
    "Thank you for the kind words, it was a pleasure.",
    "So glad it helped. Keep up the practice at home!",
]
APOLOGIES = [
    "Thank you for the honest feedback. I am sorry the pace did not suit you; "
    "next time, tell me at the start and I will adapt it.",
    "I am sorry about the late start, that is not how I like to work. "
    "Please get in touch and I will make it up to you.",
]
# Kinds a client books and then reviews (a package's or bundle's sessions are reviewed on
# the session services themselves).
REVIEWED_KINDS = (ServiceKind.SESSION, ServiceKind.WORKSHOP, ServiceKind.COURSE)
STREETS = [
    "Rua das Flores",
    "High Street",
    "Calle Mayor",
    "Rue de la Paix",
    "Bergstrasse",
    "Keizersgracht",
    "Main Street",
    "Queen Street",
    "Avenida da Liberdade",
    "Nørregade",
]
FIRST_NAMES = [
    "Ana",
    "Joao",
    "Maya",
    "Liam",
    "Sofia",
    "Noah",
    "Ines",
    "Lucas",
    "Amara",
    "Kai",
    "Elena",
    "Omar",
    "Freya",
    "Mateo",
    "Yuki",
    "Zara",
    "Tomas",
    "Leila",
    "Ravi",
    "Nora",
]
LAST_NAMES = [
    "Silva",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Costa",
    "Novak",
    "Reyes",
    "Bauer",
    "Haddad",
    "Kowalski",
    "Santos",
    "Byrne",
    "Ferreira",
    "Ito",
    "Duarte",
]
STYLES = [
    "Gentle",
    "Restorative",
    "Dynamic",
    "Deep",
    "Mindful",
    "Morning",
    "Evening",
    "Grounding",
    "Energising",
    "Slow",
    "Intuitive",
    "Therapeutic",
]
DEMO_PASSWORD = "estuary-demo-2026"


@dataclass
class SeedReport:
    """What a seeding run made."""

    categories: int = 0
    practitioners: int = 0
    featured: int = 0
    services: int = 0
    reviews: int = 0
    accounts: list[tuple[str, str]] = field(default_factory=list)
    # Who was made this run, for the demo's bookings: the client ("" when seeded before)
    # and the practitioners.
    client_id: str = ""
    practitioner_user_ids: list[str] = field(default_factory=list)


def _user(user_id: str, *roles: Role) -> Principal:
    return Principal(
        subject=user_id,
        token_type=TokenType.ACCESS,
        roles=frozenset(r.value for r in roles),
        token_id="demo",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


STAFF = _user("00000000-0000-7000-8000-000000000000", Role.STAFF)


async def ensure_categories(catalog: Catalog) -> dict[str, Category]:
    """The demo category tree (made once; existing slugs are kept)."""
    existing = {c.slug: c for c in await catalog.list_categories()}
    for position, ((slug, name), children) in enumerate(CATEGORY_TREE.items()):
        if slug not in existing:
            existing[slug] = await catalog.create_category(
                STAFF, Category("", slug, name, "", None, position, "")
            )
        for child_position, (child_slug, child_name) in enumerate(children):
            if child_slug not in existing:
                existing[child_slug] = await catalog.create_category(
                    STAFF,
                    Category("", child_slug, child_name, "", existing[slug].id, child_position, ""),
                )
    return existing


def _profile(
    rng: random.Random, speciality: Sequence[str], languages: list[str], timezone: str
) -> Profile:
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return Profile(
        display_name=name,
        bio=f"{name} teaches {speciality[0].lower()} and {speciality[1].lower()} "
        f"with {rng.randint(2, 25)} years of practice behind them.",
        specializations=list(speciality),
        certifications=[
            rng.choice(
                [
                    "RYT-200",
                    "RYT-500",
                    "Certified Reiki Master",
                    "Licensed Massage Therapist",
                    "ICF Coach",
                ]
            )
        ],
        years_experience=rng.randint(1, 30),
        languages=languages,
        timezone=timezone,
    )


async def seed_catalog(
    catalog: Catalog,
    *,
    practitioners: int,
    services_each: int,
    seed: int = 7,
    user_ids: Sequence[str] | None = None,
    now: datetime | None = None,
    concurrency: int = 1,
    reviews: bool = False,
) -> SeedReport:
    """Approved practitioners (on the Entry tier, every FEATURED_EVERY-th featured) with
    services of every kind, priced in their city's currency; with `reviews`, their sessions,
    workshops and courses are reviewed by made-up clients (see the module's docstring).

    Each practitioner draws from their own seeded generator, so the data is the same
    whatever the concurrency.
    """
    now = now or datetime.now(UTC)
    categories = await ensure_categories(catalog)
    leaves = [c for c in categories.values() if c.parent_id]
    report = SeedReport(categories=len(categories))
    slots = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with slots:
            rng = random.Random(seed * 1_000_003 + index)
            user_id = user_ids[index] if user_ids else new_id()
            city = CITIES[index % len(CITIES)]
            featured = index % FEATURED_EVERY == 0
            made = await _seed_practitioner(
                catalog, rng, user_id, city, leaves, services_each, now, featured
            )
            report.practitioners += 1
            report.featured += featured
            report.services += len(made)
            if reviews:
                report.reviews += await _seed_reviews(catalog, rng, user_id, made, now)

    await asyncio.gather(*(one(index) for index in range(practitioners)))
    return report


async def _seed_practitioner(
    catalog: Catalog,
    rng: random.Random,
    user_id: str,
    city_row: tuple[str, str, float, float, str, list[str], str],
    leaves: list[Category],
    services_each: int,
    now: datetime,
    featured: bool,
) -> list[Service]:
    city, country, lat, lng, timezone, languages, currency = city_row
    chosen = rng.sample(leaves, 2)
    places = [
        Location(id="", kind=LocationKind.VIRTUAL),
        Location(
            id="",
            kind=LocationKind.IN_PERSON,
            label=f"{city} studio",
            address=f"{rng.choice(STREETS)} {rng.randint(1, 200)}",
            city=city,
            country_code=country,
            latitude=round(lat + rng.uniform(-0.08, 0.08), 5),
            longitude=round(lng + rng.uniform(-0.08, 0.08), 5),
        ),
    ]
    applied = await catalog.apply(
        _user(user_id, Role.CLIENT),
        _profile(rng, [c.name for c in chosen], languages[:2], timezone),
        places,
    )
    practitioner = applied.practitioner
    await catalog.approve(STAFF, f"practitioners/{practitioner.id}")
    if featured:
        await catalog.feature(STAFF, f"practitioners/{practitioner.id}", True)
    await catalog.set_tier(user_id, Tier.ENTRY, now)
    studio = next(p for p in practitioner.locations if p.kind is LocationKind.IN_PERSON)
    made: list[Service] = []
    for number in range(services_each):
        draft = _service(rng, number, chosen[number % 2], studio, currency, made, now)
        view = await catalog.create_service(_user(user_id, Role.PRACTITIONER), draft)
        made.append(view.service)
    return made


async def _seed_reviews(
    catalog: Catalog, rng: random.Random, user_id: str, made: list[Service], now: datetime
) -> int:
    """Reviews of a practitioner's sessions, workshops and courses: each practitioner has a
    level of their own (most are good, a few middling), each client's stars scatter around
    it, and about half the reviews get a reply (an apology for the low ones)."""
    practitioner = _user(user_id, Role.PRACTITIONER)
    level = rng.choice([4.9, 4.8, 4.6, 4.5, 4.3, 4.1, 3.8, 3.4])
    written = 0
    for service in made:
        if service.kind not in REVIEWED_KINDS:
            continue
        view = await catalog.get_service(practitioner, service.id)
        first = view.practitioner_name.split()[0]
        topic = " ".join(service.title.split()[1:]).removesuffix(" workshop")
        topic = topic.removesuffix(" course")
        for _ in range(rng.choice([0, 1, 2, 3, 3, 4, 5, 6])):
            client = _user(new_id(), Role.CLIENT)
            booking_id = new_id()
            # booking.completed as booking will send it, applied by catalog's own handler.
            await catalog.record_completed_booking(
                Eligibility(
                    booking_id,
                    client.user_id,
                    service.id,
                    service.practitioner_id,
                    now - timedelta(days=rng.randint(1, 80), hours=rng.randint(0, 12)),
                )
            )
            stars = min(5, max(1, round(rng.gauss(level, 0.8))))
            text = rng.choice(REVIEW_TEXTS[stars]).format(first=first, topic=topic)
            review = await catalog.create_review(client, booking_id, stars, text)
            written += 1
            if rng.random() < 0.5:
                reply = rng.choice(THANKS if stars >= 4 else APOLOGIES)
                await catalog.reply_to_review(practitioner, review.review.id, reply)
    return written


def _service(
    rng: random.Random,
    number: int,
    category: Category,
    studio: Location,
    currency: str,
    made: list[Service],
    now: datetime,
) -> Service:
    """The number-th service of a practitioner: sessions first, then other kinds."""
    sessions = [s for s in made if s.kind is ServiceKind.SESSION]
    kind = ServiceKind.SESSION
    if number >= 2:
        kind = rng.choice(
            [
                ServiceKind.SESSION,
                ServiceKind.WORKSHOP,
                ServiceKind.COURSE,
                ServiceKind.PACKAGE,
                ServiceKind.BUNDLE,
            ]
        )
    if kind in (ServiceKind.PACKAGE, ServiceKind.BUNDLE) and len(sessions) < 2:
        kind = ServiceKind.SESSION
    in_person = rng.random() < 0.6
    price = rng.choice(SESSION_PRICES[currency]) * 10 ** minor_unit_exponent(currency)
    title = f"{rng.choice(STYLES)} {category.name.lower()}"
    start = (now + timedelta(days=rng.randint(7, 60))).replace(minute=0, second=0, microsecond=0)
    base = Service(
        id="",
        practitioner_id="",
        kind=kind,
        title=title,
        description=f"A {kind.value} of {category.name.lower()}: {rng.choice(STYLES).lower()} "
        "practice for every level.",
        category_id=category.id,
        price_minor=price,
        currency=currency,
        duration_minutes=rng.choice([30, 45, 60, 75, 90]),
        location_kind=LocationKind.IN_PERSON if in_person else LocationKind.VIRTUAL,
        location_id=studio.id if in_person else None,
        max_participants=1,
        buffer_before_minutes=rng.choice([0, 10, 15]),
        buffer_after_minutes=rng.choice([0, 10, 15]),
        min_notice_minutes=rng.choice([60, 120, 720]),
        booking_window_days=90,
        cancellation_policy=[],
        status=ServiceStatus.ACTIVE,
        created_at=now,
        updated_at=now,
    )
    if kind is ServiceKind.WORKSHOP:
        base.title = f"{title} workshop"
        base.max_participants = rng.choice([8, 12, 20])
        base.sessions = [DatedSession(start, 120)]
    elif kind is ServiceKind.COURSE:
        base.title = f"{title} course"
        base.max_participants = rng.choice([6, 10, 15])
        base.sessions = [DatedSession(start + timedelta(weeks=w), 60) for w in range(4)]
    elif kind is ServiceKind.PACKAGE:
        part = rng.choice(sessions)
        base.title = f"Five {part.title.lower()} sessions"
        base.price_minor = part.price_minor * 5 * 85 // 100
        base.package = PackageTerms(part.id, 5, 120)
        base.location_kind, base.location_id = part.location_kind, part.location_id
    elif kind is ServiceKind.BUNDLE:
        parts = rng.sample(sessions, 2)
        base.title = f"{parts[0].title} and {parts[1].title.lower()}"
        base.price_minor = (parts[0].price_minor + parts[1].price_minor) * 90 // 100
        base.bundle_items = [BundleItem(p.id, 1) for p in parts]
    return base


async def seed_demo(
    identity: AccountHandlers, catalog: Catalog, *, practitioners: int, services_each: int
) -> SeedReport:
    """The embedded demo: an admin, a client, and practitioners who can sign in."""
    report = SeedReport()
    accounts = [("admin@estuary.demo", "admin"), ("client@estuary.demo", "client")]
    for email, kind in accounts:
        with contextlib.suppress(AlreadyExists):  # seeded before: the account stays as it is
            if kind == "admin":
                await identity.create_admin(email, DEMO_PASSWORD, "Demo Admin")
            else:
                client = await identity.register(
                    email=email, password=DEMO_PASSWORD, full_name="Demo Client"
                )
                report.client_id = client.id
        report.accounts.append((email, DEMO_PASSWORD))
    user_ids = []
    for index in range(practitioners):
        email = f"practitioner{index + 1}@estuary.demo"
        try:
            user = await identity.register(
                email=email, password=DEMO_PASSWORD, full_name=f"Demo Practitioner {index + 1}"
            )
        except AlreadyExists:
            continue  # seeded before: that practitioner stays as they are
        user_ids.append(user.id)
        if index < 3:
            report.accounts.append((email, DEMO_PASSWORD))
    seeded = await seed_catalog(
        catalog,
        practitioners=len(user_ids),
        services_each=services_each,
        user_ids=user_ids,
        reviews=True,
    )
    report.categories = seeded.categories
    report.practitioners = seeded.practitioners
    report.featured = seeded.featured
    report.services = seeded.services
    report.reviews = seeded.reviews
    report.practitioner_user_ids = user_ids
    return report
