"""Setting a site's escalation policy, and learning staff ids from booking."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

from counseling_shared import events as public
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters import policies, schedules, staff
from crisis.adapters.policies import SitePolicy

if TYPE_CHECKING:
    from counseling_shared.db import Connection

from crisis.domain.phones import key_fingerprint, phone_digest
from crisis.domain.policy import (
    EscalationPolicy,
    FieldError,
    InvalidPolicy,
    LevelDraft,
    escalation_policy,
    everyone,
    schedules_of,
)


async def set_policy(
    uow: UnitOfWork,
    site_id: UUID,
    levels: Sequence[LevelDraft],
    repeat: int,
    fallback_staff_ids: Sequence[UUID] = (),
    *,
    require_known_staff: bool,
    ack_expires_after: str | None = None,
    backup_sites: frozenset[UUID] = frozenset(),
) -> SitePolicy:
    """Replace the site's policy. Alerts already open keep the copy they froze.

    `backup_sites`: other sites whose staff and schedules may back this site up (the caller
    listed them and administers them all). Empty (the default): only this site's, as before.
    Raises `InvalidPolicy` naming every bad field: broken rules and staff not at the site alike.
    """
    errors: list[FieldError] = []
    policy: EscalationPolicy | None = None
    try:
        policy = escalation_policy(levels, repeat, fallback_staff_ids, ack_expires_after)
    except InvalidPolicy as exc:
        errors += exc.errors
    allowed = _Sites(site_id, backup_sites)
    if require_known_staff:
        errors += await _staff_not_allowed(uow, allowed, levels, fallback_staff_ids)
    errors += await _schedules_not_allowed(uow, allowed, levels)
    errors += await _deactivated_staff(uow, levels, fallback_staff_ids)
    if errors:
        raise InvalidPolicy(sorted(errors, key=lambda e: e.field))
    assert policy is not None
    await policies.lock_site_for_change(uow.conn, site_id)
    current = await policies.policy_of(uow.conn, site_id)
    return await policies.replace_policy(uow, site_id, policy, current)


async def wait_for_staff(
    pool: asyncpg.Pool[Any],
    site_id: UUID,
    staff_ids: Sequence[UUID],
    within: float,
    backup_sites: frozenset[UUID] = frozenset(),
) -> None:
    """Give booking's StaffRegistered events up to `within` seconds to arrive.

    Staff are usually registered in booking just before the policy naming them is set, and
    crisis learns of them from the bus a moment later. `set_policy` still makes the final check.
    """
    allowed = _Sites(site_id, backup_sites)
    deadline = time.monotonic() + within
    while True:
        async with pool.acquire() as conn:
            sites = await staff.sites_of(conn, staff_ids)
        missing = [s for s in staff_ids if not allowed.permits(sites.get(s))]
        if not missing or time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class _Sites:
    """The policy's site, and the others whose people and schedules it may name."""

    own: UUID
    backups: frozenset[UUID]

    def permits(self, site_id: UUID | None) -> bool:
        return site_id is not None and (site_id == self.own or site_id in self.backups)

    def refusal(self, what: str, thing: UUID) -> str:
        # Never which other site it is of: the caller may not administer that one.
        if self.backups - {self.own}:
            return f"{thing} is not a {what} of site {self.own} or of a backup site listed"
        return f"{thing} is not a {what} of site {self.own}"


async def _staff_not_allowed(
    uow: UnitOfWork,
    allowed: _Sites,
    levels: Sequence[LevelDraft],
    fallback_staff_ids: Sequence[UUID],
) -> list[FieldError]:
    named = [(f"levels.{i}.staff_ids", s) for i, lv in enumerate(levels) for s in lv.staff_ids]
    named += [("fallback_staff_ids", s) for s in fallback_staff_ids]
    sites = await staff.sites_of(uow.conn, {s for _, s in named})
    return [
        FieldError(field, allowed.refusal("staff member", s))
        for field, s in named
        if not allowed.permits(sites.get(s))
    ]


async def _schedules_not_allowed(
    uow: UnitOfWork, allowed: _Sites, levels: Sequence[LevelDraft]
) -> list[FieldError]:
    named = [
        (f"levels.{i}.schedule_ids", s) for i, lv in enumerate(levels) for s in lv.schedule_ids
    ]
    sites = await schedules.sites_of(uow.conn, {s for _, s in named})
    return [
        FieldError(field, allowed.refusal("schedule", s))
        for field, s in named
        if not allowed.permits(sites.get(s))
    ]


async def _deactivated_staff(
    uow: UnitOfWork, levels: Sequence[LevelDraft], fallback_staff_ids: Sequence[UUID]
) -> list[FieldError]:
    named = {s for lv in levels for s in lv.staff_ids} | set(fallback_staff_ids)
    inactive = await staff.inactive_among(uow.conn, named)
    why = "is deactivated and cannot be paged"
    return [
        FieldError(f"levels.{i}.staff_ids", f"{s} {why}")
        for i, level in enumerate(levels)
        for s in level.staff_ids
        if s in inactive
    ] + [
        FieldError("fallback_staff_ids", f"{s} {why}") for s in fallback_staff_ids if s in inactive
    ]


async def backup_sites_named(
    conn: Connection, site_id: UUID, policy: EscalationPolicy
) -> list[UUID]:
    """The other sites whose staff or schedules the policy names (its cross-site backup), as
    the GET shows them so that a read, changed and written back, passes the check again."""
    people = await staff.sites_of(conn, everyone(policy))
    plans = await schedules.sites_of(conn, schedules_of(policy))
    return sorted({*people.values(), *plans.values()} - {site_id}, key=str)


async def policy_gaps(conn: Connection, policy: EscalationPolicy) -> frozenset[UUID]:
    """Staff the policy names whom booking has deactivated since it was set: a gap to fix."""
    return await staff.inactive_among(conn, everyone(policy))


async def texts_stopped(conn: Connection, policy: EscalationPolicy) -> frozenset[UUID]:
    """Staff the policy names who texted STOP to the paging number: SMS pages do not reach
    them (email ones do)."""
    return await staff.texts_stopped_among(conn, everyone(policy))


async def staff_registered(
    uow: UnitOfWork,
    event: public.StaffRegistered,
    phone_key: str = "",
    announced_at: datetime | None = None,
) -> None:
    """Only the id, site, role, name (shown to colleagues on the on-call page), locale, the
    number of channels and a keyed digest of the phone (to recognise SMS replies) are kept:
    contact details stay with notify. `announced_at`:
    the envelope's time (an older announcement arriving late changes nothing)."""
    channels = sum(1 for contact in (event.email, event.phone) if contact)
    await staff.record_staff(
        uow.conn,
        event.staff_id,
        event.site_id,
        event.role.value,
        uow.now(),
        channels,
        event.locale,
        phone_digest(phone_key, event.phone) if event.phone and phone_key else None,
        key_fingerprint(phone_key) if phone_key else None,
        announced_at,
        event.name,
    )


async def staff_deactivated(uow: UnitOfWork, event: public.StaffDeactivated) -> None:
    """From now on the member is skipped when paged and refused in new policies."""
    await staff.deactivate_staff(uow.conn, event.staff_id, event.site_id, uow.now())
