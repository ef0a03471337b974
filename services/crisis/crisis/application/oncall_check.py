"""The look-ahead check: for each site, the coming hours in which its first level would resolve
to nobody, and the on-call staff who can be reached on fewer than two channels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from crisis.adapters import policies, schedules, staff
from crisis.domain.policy import everyone, schedules_of
from crisis.domain.schedules.coverage import empty_hours, staff_on_call

if TYPE_CHECKING:
    from counseling_shared.db import Connection

MIN_CHANNELS = 2  # phone and email


@dataclass(frozen=True)
class SiteLookAhead:
    site_id: UUID
    empty_hours: list[datetime]  # starts of the hours level 1 would page nobody in
    single_channel_staff: set[UUID]  # on call in the window, reachable on fewer than two ways


async def look_ahead(conn: Connection, now: datetime, days: int = 7) -> list[SiteLookAhead]:
    """Every site with a policy, over `[now, now + days)` (hours counted from now's hour)."""
    start = now.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(days=days)
    found = []
    for site_policy in await policies.all_policies(conn):
        policy = site_policy.policy
        states = await schedules.states_of(conn, schedules_of(policy))
        first = policy.level(1)
        level_one = [
            (states[s].schedule, states[s].overrides) for s in first.schedule_ids if s in states
        ]
        every_schedule = [(s.schedule, s.overrides) for s in states.values()]
        named = staff_on_call(every_schedule, start, end) | everyone(policy)
        # Deactivated staff are skipped when paged: their shifts are holes, not cover.
        absent = await staff.inactive_among(conn, named)
        found.append(
            SiteLookAhead(
                site_policy.site_id,
                empty_hours(first, level_one, start, days * 24, absent),
                await staff.with_fewer_channels(conn, named - absent, MIN_CHANNELS),
            )
        )
    return found
