"""Practitioners as booking knows them: whose they are and the zone their schedule is in.

Filled from the service terms catalog announces, or asked of catalog once for a
practitioner booking has not heard of yet (one who sets their hours before selling).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chassis.auth.principal import Principal
from services.booking.domain.availability import Schedule
from services.booking.domain.events import ScheduleSaved


@dataclass(frozen=True)
class Practitioner:
    id: str
    user_id: str
    time_zone: str
    updated_at: datetime

    def is_owner(self, principal: Principal | None) -> bool:
        return principal is not None and principal.is_user and principal.user_id == self.user_id

    def may_be_managed_by(self, principal: Principal | None) -> bool:
        """The practitioner themselves, or staff."""
        return principal is not None and (self.is_owner(principal) or principal.is_staff)

    def saved(self, schedule: Schedule) -> ScheduleSaved:
        """What saving their schedule tells catalog (their onboarding's availability step)."""
        return ScheduleSaved(self.id, self.user_id, schedule.time_zone)
