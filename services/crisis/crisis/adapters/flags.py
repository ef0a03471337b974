"""Every risk flag crisis receives, whether or not it opened an alert (`risk_flags`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from counseling_shared.codes import RiskLevel, RiskSource
from counseling_shared.eventstore import NewEvent
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters.codec import written_metadata

if TYPE_CHECKING:
    from counseling_shared.db import Connection


@dataclass(frozen=True)
class RiskFlag:
    """A flag as it arrived: over HTTP from an integration, or as booking's or followup's event."""

    flag_id: UUID
    client_id: UUID
    site_id: UUID
    level: RiskLevel
    source: RiskSource
    flagged_at: datetime


async def record_flag(uow: UnitOfWork, flag: RiskFlag) -> bool:
    """Store the flag once; False when this flag id was already recorded."""
    now = uow.now()
    if not await save(uow.conn, flag, now):
        return False
    data = {
        "flag_id": str(flag.flag_id),
        "client_id": str(flag.client_id),
        "site_id": str(flag.site_id),
        "level": flag.level.value,
        "source": flag.source.value,
        "flagged_at": flag.flagged_at.isoformat(),
    }
    event = NewEvent("RiskFlagRecorded", data, written_metadata(now))
    await uow.append(stream_id(flag.flag_id), 0, [event])
    return True


def stream_id(flag_id: UUID) -> str:
    return f"risk-flag-{flag_id}"


def flag_from_stored(data: dict[str, Any]) -> RiskFlag:
    """The flag a `RiskFlagRecorded` event holds."""
    return RiskFlag(
        UUID(data["flag_id"]),
        UUID(data["client_id"]),
        UUID(data["site_id"]),
        RiskLevel(data["level"]),
        RiskSource(data["source"]),
        datetime.fromisoformat(data["flagged_at"]),
    )


_INSERT = """INSERT INTO risk_flags (flag_id, client_id, site_id, level, source, flagged_at,
    received_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (flag_id) DO NOTHING"""


def _row(flag: RiskFlag, received_at: datetime) -> tuple[object, ...]:
    return (
        flag.flag_id,
        flag.client_id,
        flag.site_id,
        flag.level.value,
        flag.source.value,
        flag.flagged_at,
        received_at,
    )


async def save(conn: Connection, flag: RiskFlag, received_at: datetime) -> bool:
    """Insert the flag's `risk_flags` row (not linked to an alert yet); False if it is there."""
    fresh: bool | None = await conn.fetchval(_INSERT + " RETURNING true", *_row(flag, received_at))
    return bool(fresh)


async def write_replayed(
    conn: Connection, flag: RiskFlag, received_at: datetime, alert_id: UUID | None
) -> None:
    """`save` then `link_to_alert` in one row, without an answer: a write only, which a batch
    of writes can hold (a projection rebuild, which folds the alerts first and so knows which
    one each flag joined). By binary COPY: a plain insert, so only into an emptied table (an
    `executemany` started an executor per row)."""
    await conn.copy_records_to_table(
        "risk_flags", records=[(*_row(flag, received_at), alert_id)], columns=_REPLAYED_COLUMNS
    )


_REPLAYED_COLUMNS = (
    "flag_id",
    "client_id",
    "site_id",
    "level",
    "source",
    "flagged_at",
    "received_at",
    "alert_id",
)


async def link_to_alert(conn: Connection, flag_id: UUID, alert_id: UUID) -> None:
    await conn.execute("UPDATE risk_flags SET alert_id = $2 WHERE flag_id = $1", flag_id, alert_id)


async def alert_of_flag(conn: Connection, flag_id: UUID) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT alert_id FROM risk_flags WHERE flag_id = $1", flag_id
    )
    return found


async def flag_view(conn: Connection, flag_id: UUID) -> dict[str, Any] | None:
    """A recorded flag with the alert it opened or joined (None below moderate)."""
    row = await conn.fetchrow(
        """SELECT flag_id, alert_id, client_id, site_id, level, source, flagged_at
           FROM risk_flags WHERE flag_id = $1""",
        flag_id,
    )
    return dict(row) if row else None
