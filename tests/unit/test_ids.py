"""Ids are UUIDv7 and, within a process, strictly increasing: id order is creation order."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from chassis import ids
from chassis.ids import is_uuid, new_id


def test_ids_made_in_one_burst_sort_in_the_order_they_were_made():
    made = [new_id() for _ in range(20_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(uuid.UUID(i).version == 7 and is_uuid(i) for i in made[:100])


def test_ids_stay_increasing_when_the_clock_goes_back(monkeypatch):
    first = new_id()
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_000_000_000)  # 1970
    assert new_id() > first


def test_ids_from_several_threads_are_all_distinct():
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: new_id(), range(4_000)))
    assert len(set(made)) == len(made)
