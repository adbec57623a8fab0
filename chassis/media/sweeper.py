"""Deleting discarded media objects from the store: a service marks the rows of objects it no
longer needs (deleted, replaced, erased, or uploaded and never used in time) in the
transaction that decides it; this job deletes each object and then its row, so a store that
is down only delays the deletion (the next run tries again), and nobody is handed a URL
meanwhile.

An upload form handed out with a row stays usable until it expires, deleted object or not:
a file sent with it after the row was gone would be left with nothing to find it. So a row
goes only once every form for it has expired (the store's longest form lifetime, and a
grace for the store's clock, after the row was made); until then each run deletes its
object again, which the store takes as done, and a late file goes with it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from chassis.clock import Clock
from chassis.errors import Unavailable
from chassis.jobs import PeriodicJob
from chassis.media.port import MediaStore
from chassis.uow import UnitOfWork

log = logging.getLogger(__name__)

SWEEP_BATCH = 100
# How far behind ours the store's clock may run when it checks a form's expiry.
FORM_CLOCK_GRACE = timedelta(minutes=5)

U = TypeVar("U", bound=UnitOfWork)


class DiscardedObjects(Protocol):
    """A service's rows of uploaded objects, as the sweep reads and changes them."""

    async def discard_unsent(self, before: datetime) -> None:
        """Marks the uploads nothing took since `before`."""
        ...

    async def discarded(self, limit: int) -> list[tuple[str, str]]:
        """Rows whose objects are to be deleted, oldest first: (row id, object key) each."""
        ...

    async def forget(self, row_id: str, made_before: datetime) -> None:
        """Removes a discarded row whose object is deleted, if it was made before then."""
        ...


class MediaSweeper(Generic[U]):
    """Deletes the objects of a service's discarded uploads, as a periodic job."""

    def __init__(
        self,
        unit_of_work: Callable[..., U],
        rows: Callable[[U], DiscardedObjects],
        media: MediaStore,
        clock: Clock,
        *,
        job: str,
        pending: timedelta,
        interval: timedelta,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._rows = rows
        self._media = media
        self._clock = clock
        self._job = job
        self._pending = pending
        self._interval = interval

    async def sweep(self) -> int:
        """Discards uploads left unused too long, then deletes the objects of a batch of
        discarded rows; how many were deleted."""
        async with self._unit_of_work() as uow:
            await self._rows(uow).discard_unsent(self._clock.now() - self._pending)
            due = await self._rows(uow).discarded(SWEEP_BATCH)
            await uow.commit()
        forms_expired = (
            self._clock.now()
            - timedelta(seconds=self._media.settings.upload_url_ttl_seconds)
            - FORM_CLOCK_GRACE
        )
        deleted = 0
        for row_id, key in due:
            try:
                await self._media.delete(key)
            except (Unavailable, OSError):
                log.warning("could not delete a media object; retried next run", exc_info=True)
                continue
            async with self._unit_of_work() as uow:
                await self._rows(uow).forget(row_id, forms_expired)
                await uow.commit()
            deleted += 1
        return deleted

    def jobs(self) -> list[PeriodicJob]:
        return [PeriodicJob(self._job, self._interval, self.sweep)]
