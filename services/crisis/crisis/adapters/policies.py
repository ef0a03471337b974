"""Escalation policies per site: an event stream per site and the `escalation_policies` row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from counseling_shared.eventstore import NewEvent
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters.codec import policy_from_json, policy_levels_json, written_metadata
from crisis.domain.durations import format_duration
from crisis.domain.policy import EscalationPolicy

if TYPE_CHECKING:
    from counseling_shared.db import Connection


@dataclass(frozen=True)
class SitePolicy:
    site_id: UUID
    policy: EscalationPolicy
    version: int
    updated_at: datetime


async def policy_of(conn: Connection, site_id: UUID) -> SitePolicy | None:
    row = await conn.fetchrow(
        """SELECT levels, repeat, fallback_staff_ids, version, updated_at, ack_expires_after
           FROM escalation_policies WHERE site_id = $1""",
        site_id,
    )
    if row is None:
        return None
    policy = policy_from_json(
        row["levels"], row["repeat"], row["fallback_staff_ids"], row["ack_expires_after"]
    )
    return SitePolicy(site_id, policy, row["version"], row["updated_at"])


async def replace_policy(
    uow: UnitOfWork, site_id: UUID, policy: EscalationPolicy, current: SitePolicy | None
) -> SitePolicy:
    """Record the new policy after `current` (raises ConcurrencyConflict if another won)."""
    version = current.version if current else 0
    now = uow.now()
    data: dict[str, Any] = {
        "site_id": str(site_id),
        "levels": policy_levels_json(policy),
        "repeat": policy.repeat,
        "fallback_staff_ids": [str(s) for s in policy.fallback_staff_ids],
    }
    if (expires := ack_expires_after_text(policy)) is not None:
        data["ack_expires_after"] = expires
    await uow.append(
        stream_id(site_id),
        version,
        [NewEvent("EscalationPolicySet", data, written_metadata(now))],
    )
    saved = SitePolicy(site_id, policy, version + 1, now)
    await save(uow.conn, saved)
    return saved


async def lock_site_for_change(conn: Connection, site_id: UUID) -> None:
    """Setting a policy waits for flags of the site being handled, and they for it, so an alert
    opened without a policy is always seen by the policy change that follows it."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _key(site_id))


async def lock_site_for_flag(conn: Connection, site_id: UUID) -> None:
    """Shared: flags of one site do not wait for each other, only for a policy change."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))", _key(site_id)
    )


async def policies_naming_schedule(conn: Connection, schedule_id: UUID) -> list[SitePolicy]:
    """Every site's escalation policy with a level that names `schedule_id` (its own site's,
    and those of sites it backs up)."""
    rows = await conn.fetch(
        """SELECT site_id, levels, repeat, fallback_staff_ids, version, updated_at,
               ack_expires_after FROM escalation_policies WHERE levels @> $1::jsonb""",
        [{"schedule_ids": [str(schedule_id)]}],
    )
    return [
        SitePolicy(
            r["site_id"],
            policy_from_json(
                r["levels"], r["repeat"], r["fallback_staff_ids"], r["ack_expires_after"]
            ),
            r["version"],
            r["updated_at"],
        )
        for r in rows
    ]


def _key(site_id: UUID) -> str:
    return f"escalation-policy:{site_id}"


async def sites_with_orphan_alerts(conn: Connection) -> list[UUID]:
    """Sites that have a policy now and an open alert that opened without one."""
    rows = await conn.fetch(
        """SELECT DISTINCT a.site_id FROM alerts a JOIN escalation_policies p USING (site_id)
           WHERE a.status = 'open' AND a.policy_levels IS NULL"""
    )
    return [r["site_id"] for r in rows]


async def orphan_alerts_of(conn: Connection, site_id: UUID) -> list[UUID]:
    """The site's open alerts that opened while it had no policy (nobody paged yet)."""
    rows = await conn.fetch(
        """SELECT id FROM alerts WHERE site_id = $1 AND status = 'open'
               AND policy_levels IS NULL ORDER BY opened_at, id""",
        site_id,
    )
    return [r["id"] for r in rows]


def stream_id(site_id: UUID) -> str:
    return f"escalation-policy-{site_id}"


async def save(conn: Connection, site_policy: SitePolicy) -> None:
    """Upsert the site's `escalation_policies` row."""
    await conn.execute(
        """INSERT INTO escalation_policies (site_id, levels, repeat, fallback_staff_ids, version,
               updated_at, ack_expires_after)
           VALUES ($1, $2, $3, $6, $4, $5, $7)
           ON CONFLICT (site_id) DO UPDATE SET levels = EXCLUDED.levels,
               repeat = EXCLUDED.repeat, fallback_staff_ids = EXCLUDED.fallback_staff_ids,
               version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
               ack_expires_after = EXCLUDED.ack_expires_after""",
        site_policy.site_id,
        policy_levels_json(site_policy.policy),
        site_policy.policy.repeat,
        site_policy.version,
        site_policy.updated_at,
        list(site_policy.policy.fallback_staff_ids),
        ack_expires_after_text(site_policy.policy),
    )


def ack_expires_after_text(policy: EscalationPolicy) -> str | None:
    """The policy's `ack_expires_after` as ISO 8601 text (None: acknowledgements hold)."""
    expires = policy.ack_expires_after
    return format_duration(expires) if expires is not None else None


async def all_policies(conn: Connection) -> list[SitePolicy]:
    rows = await conn.fetch(
        "SELECT site_id, levels, repeat, version, updated_at FROM escalation_policies"
    )
    return [
        SitePolicy(
            r["site_id"], policy_from_json(r["levels"], r["repeat"]), r["version"], r["updated_at"]
        )
        for r in rows
    ]
