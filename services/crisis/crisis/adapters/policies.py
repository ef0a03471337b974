"""Escalation policies per site: an event stream per site and the `escalation_policies` row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from counseling_shared.eventstore import NewEvent
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters.codec import policy_from_json, policy_levels_json, written_metadata
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
    now = uow.now()
    await uow.append(
        stream_id(site_id),
        version,
        [
            NewEvent(
                "EscalationPolicySet",
                {
                    "site_id": str(site_id),
                    "levels": policy_levels_json(policy),
                    "repeat": policy.repeat,
                },
                written_metadata(now),
            )
        ],
    )
    saved = SitePolicy(site_id, policy, version + 1, now)
    await save(uow.conn, saved)
    return saved


def stream_id(site_id: UUID) -> str:
    return f"escalation-policy-{site_id}"


async def save(conn: Connection, site_policy: SitePolicy) -> None:
    """Upsert the site's `escalation_policies` row."""
    await conn.execute(
        """INSERT INTO escalation_policies (site_id, levels, repeat, version, updated_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (site_id) DO UPDATE SET levels = EXCLUDED.levels,
               repeat = EXCLUDED.repeat, version = EXCLUDED.version,
               updated_at = EXCLUDED.updated_at""",
        site_policy.site_id,
        policy_levels_json(site_policy.policy),
        site_policy.policy.repeat,
        site_policy.version,
        site_policy.updated_at,
    )
