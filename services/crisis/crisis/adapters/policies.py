"""Escalation policies per site: an event stream per site and the `escalation_policies` row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from counseling_shared.eventstore import NewEvent
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters.codec import policy_from_json, policy_levels_json
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
        "SELECT levels, repeat, version, updated_at FROM escalation_policies WHERE site_id = $1",
        site_id,
    )
    if row is None:
        return None
    policy = policy_from_json(row["levels"], row["repeat"])
    return SitePolicy(site_id, policy, row["version"], row["updated_at"])


async def replace_policy(
    uow: UnitOfWork, site_id: UUID, policy: EscalationPolicy, current: SitePolicy | None
) -> SitePolicy:
    """Record the new policy after `current` (raises ConcurrencyConflict if another won)."""
    version = current.version if current else 0
    levels = policy_levels_json(policy)
    await uow.append(
        f"escalation-policy-{site_id}",
        version,
        [
            NewEvent(
                "EscalationPolicySet",
                {"site_id": str(site_id), "levels": levels, "repeat": policy.repeat},
            )
        ],
    )
    now = uow.now()
    await uow.conn.execute(
        """INSERT INTO escalation_policies (site_id, levels, repeat, version, updated_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (site_id) DO UPDATE SET levels = EXCLUDED.levels,
               repeat = EXCLUDED.repeat, version = EXCLUDED.version,
               updated_at = EXCLUDED.updated_at""",
        site_id,
        levels,
        policy.repeat,
        version + 1,
        now,
    )
    return SitePolicy(site_id, policy, version + 1, now)
