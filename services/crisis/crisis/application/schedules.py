"""Defining schedules, entering overrides, and asking who is on call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from counseling_shared import events as public
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters import schedules, sites, staff
from crisis.adapters.schedules import StoredSchedule
from crisis.domain.alert import OnCall
from crisis.domain.policy import FieldError
from crisis.domain.schedules.aggregate import (
    ScheduleState,
    decide_add_override,
    decide_define,
    decide_remove_override,
    fold,
)
from crisis.domain.schedules.edits import ApplyFrom, apply_from_errors
from crisis.domain.schedules.oncall import on_call
from crisis.domain.schedules.override_effect import override_warnings
from crisis.domain.schedules.overrides import InvalidOverride, Override, build_override
from crisis.domain.schedules.schedule import InvalidSchedule, LayerDraft, build_schedule


class ScheduleNotFound(Exception):
    def __init__(self, schedule_id: UUID) -> None:
        super().__init__(f"no schedule {schedule_id}")
        self.schedule_id = schedule_id


_DEACTIVATED = "is deactivated and cannot be paged"


async def define_schedule(
    uow: UnitOfWork,
    schedule_id: UUID,
    site_id: UUID,
    name: str,
    timezone: str | None,
    layers: Sequence[LayerDraft],
    *,
    require_known_staff: bool,
    apply_from: ApplyFrom | datetime = ApplyFrom.NOW,
) -> StoredSchedule:
    """Create the schedule, or replace its definition (its overrides stay); `apply_from`
    `next_handoff` keeps each changed layer's running shift until its next handoff, an instant
    keeps the old definition until then (in the future, at most a year ahead).

    The zone is the schedule's own, else the site's (from booking's SiteRegistered). Raises
    `InvalidSchedule` naming every bad field.
    """
    conn = uow.conn
    errors: list[FieldError] = apply_from_errors(apply_from, uow.now())
    zone = timezone or await sites.timezone_of(conn, site_id)
    if zone is None:
        errors.append(
            FieldError("timezone", f"site {site_id} has no known time zone yet: name one")
        )
    schedule = None
    try:
        schedule = build_schedule(schedule_id, site_id, name, zone or "UTC", layers)
    except InvalidSchedule as exc:
        errors += exc.errors
    if require_known_staff:
        for i, layer in enumerate(layers):
            unknown = await staff.not_at_site(conn, site_id, layer.participants)
            errors += [
                FieldError(f"layers.{i}.participants", f"{s} is not a staff member of the site")
                for s in layer.participants
                if s in unknown
            ]
    inactive = await staff.inactive_among(conn, {p for layer in layers for p in layer.participants})
    errors += [
        FieldError(f"layers.{i}.participants", f"{s} {_DEACTIVATED}")
        for i, layer in enumerate(layers)
        for s in layer.participants
        if s in inactive
    ]
    if errors:
        raise InvalidSchedule(sorted(errors, key=lambda e: e.field))
    assert schedule is not None
    await schedules.lock(conn, schedule_id)
    loaded = await schedules.load(conn, schedule_id)
    events = decide_define(loaded.state if loaded else None, schedule, uow.now(), apply_from)
    await schedules.save(uow, schedule_id, loaded, events)
    return await _stored(uow, schedule_id)


async def add_override(
    uow: UnitOfWork,
    schedule_id: UUID,
    override_id: UUID,
    staff_id: UUID,
    start: datetime,
    end: datetime,
    replaces: UUID | None,
    *,
    require_known_staff: bool,
) -> AddedOverride:
    """Raises `InvalidOverride` for a bad interval or a staff member not of the site.

    Accepted even where it changes nothing (someone already stands in for the person it
    replaces, say): the answer's `warnings` name those stretches, so the operator can fix it."""
    loaded = await _load(uow, schedule_id)
    override = build_override(override_id, staff_id, start, end, replaces)
    site_id = loaded.state.schedule.site_id
    if require_known_staff and await staff.not_at_site(uow.conn, site_id, [staff_id]):
        raise InvalidOverride("staff_id", f"{staff_id} is not a staff member of the site")
    if await staff.inactive_among(uow.conn, [staff_id]):
        raise InvalidOverride("staff_id", f"{staff_id} {_DEACTIVATED}")
    events = decide_add_override(loaded.state, override, uow.now())
    await schedules.save(uow, schedule_id, loaded, events)
    after = fold(events, loaded.state)
    assert after is not None
    return added_override(after, override_id)


@dataclass(frozen=True)
class AddedOverride:
    """The override, and the schedule as it stands with it."""

    override: Override
    state: ScheduleState

    def warnings(self) -> list[str]:
        """Where the override changes nothing. CPU only (up to tens of ms for a long override
        over busy layers): call it after the transaction, not holding the schedule's lock."""
        return override_warnings(
            self.state.schedule, self.state.overrides, self.override.override_id
        )


def added_override(state: ScheduleState, override_id: UUID) -> AddedOverride:
    override = state.override(override_id)
    assert override is not None
    return AddedOverride(override, state)


async def remove_override(uow: UnitOfWork, schedule_id: UUID, override_id: UUID) -> None:
    """Raises `UnknownOverride` when the schedule has no such override."""
    loaded = await _load(uow, schedule_id)
    events = decide_remove_override(loaded.state, override_id, uow.now())
    await schedules.save(uow, schedule_id, loaded, events)


async def wait_for_site(pool: asyncpg.Pool[Any], site_id: UUID, within: float) -> None:
    """Give booking's SiteRegistered up to `within` seconds to arrive (a site is usually
    registered just before its first schedule). `define_schedule` still makes the check."""
    deadline = time.monotonic() + within
    while True:
        async with pool.acquire() as conn:
            if await sites.timezone_of(conn, site_id) is not None:
                return
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.1)


async def on_call_now(uow: UnitOfWork, schedule_ids: Collection[UUID]) -> OnCall:
    """Who each of `schedule_ids` has on call at the unit of work's now (unknown: nobody)."""
    states = await schedules.states_of(uow.conn, schedule_ids)
    now = uow.now()
    return {sid: tuple(on_call(s.schedule, s.overrides, now)) for sid, s in states.items()}


async def site_registered(uow: UnitOfWork, event: public.SiteRegistered) -> None:
    """Only the site's time zone is kept: the zone of its schedules that name none."""
    await sites.record_site(uow.conn, event.site_id, event.timezone, uow.now())


async def _load(uow: UnitOfWork, schedule_id: UUID) -> schedules.LoadedSchedule:
    if not await schedules.lock(uow.conn, schedule_id):
        raise ScheduleNotFound(schedule_id)
    loaded = await schedules.load(uow.conn, schedule_id)
    assert loaded is not None
    return loaded


async def _stored(uow: UnitOfWork, schedule_id: UUID) -> StoredSchedule:
    stored = await schedules.state_of(uow.conn, schedule_id)
    assert stored is not None
    return stored
