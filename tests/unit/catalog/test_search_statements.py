"""A typical search's statement stays short enough for psycopg to keep its parsing: a longer
one is split into its parameters again on every call (3% of the catalog process's CPU on a
search, measured in docs/performance.md)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH
from sqlalchemy.dialects import postgresql

from bench.catalog import typical_searches
from services.catalog.domain.discovery import SortOrder
from services.catalog.search import ServiceQuery, _service_parameters, _service_statements


def _typical_query(path: str) -> ServiceQuery:
    asked = {name: values[0] for name, values in parse_qs(urlparse(path).query).items()}
    assert asked["sort"] == "distance"
    return ServiceQuery(
        text=asked["q"],
        category=asked["category"],
        price_min=int(asked["price_min"]),
        price_max=int(asked["price_max"]),
        point=(float(asked["lat"]), float(asked["lng"])),
        sort=SortOrder.DISTANCE,
    )


@pytest.mark.parametrize("path", typical_searches()[:: len(typical_searches()) // 6])
def test_a_typical_search_is_a_statement_psycopg_parses_once(path):
    shape, _ = _service_parameters("postgresql", _typical_query(path), None, 21)
    statement = _service_statements(shape).page.compile(dialect=postgresql.psycopg.dialect())
    assert len(str(statement).encode()) <= MAX_CACHED_STATEMENT_LENGTH
