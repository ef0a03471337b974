"""Everything notify knows about a recipient and their site, read in one round trip (this runs
for every queued and every delivered message)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from counseling_shared.codes import Channel
from notify.domain.preferences import RecipientPreferences
from notify.domain.quiet_hours import QuietHours
from notify.domain.recipients import ClientProfile, Site, StaffMember

if TYPE_CHECKING:
    from counseling_shared.db import Connection


@dataclass(frozen=True)
class RecipientFacts:
    preferences: RecipientPreferences | None
    site: Site | None
    staff: StaffMember | None
    client: ClientProfile | None


async def recipient_facts(conn: Connection, recipient_id: UUID, site_id: UUID) -> RecipientFacts:
    row = await conn.fetchrow(
        """SELECT p.recipient_id AS p_id, p.quiet_start, p.quiet_end, p.channel AS p_channel,
                  p.updated_at AS p_updated_at, p.version AS p_version,
                  s.site_id AS s_id, s.name AS s_name, s.timezone AS s_timezone,
                  s.locale AS s_locale,
                  st.staff_id AS st_id, st.site_id AS st_site_id, st.name AS st_name,
                  st.role AS st_role, st.email AS st_email, st.phone AS st_phone,
                  st.locale AS st_locale, st.deactivated_at AS st_deactivated_at,
                  c.client_id AS c_id, c.site_id AS c_site_id, c.locale AS c_locale,
                  c.timezone AS c_timezone, c.preferred_channel AS c_channel
           FROM (SELECT $1::uuid AS recipient_id, $2::uuid AS site_id) AS asked
           LEFT JOIN recipient_preferences p ON p.recipient_id = asked.recipient_id
           LEFT JOIN sites s ON s.site_id = asked.site_id
           LEFT JOIN staff_contacts st ON st.staff_id = asked.recipient_id
           LEFT JOIN clients c ON c.client_id = asked.recipient_id""",
        recipient_id,
        site_id,
    )
    assert row is not None  # the driving row always exists
    preferences = None
    if row["p_id"] is not None:
        quiet = (
            QuietHours(row["quiet_start"], row["quiet_end"])
            if row["quiet_start"] is not None
            else None
        )
        preferences = RecipientPreferences(
            recipient_id=row["p_id"],
            quiet_hours=quiet,
            channel=Channel(row["p_channel"]) if row["p_channel"] else None,
            updated_at=row["p_updated_at"],
            version=row["p_version"],
        )
    site = (
        Site(row["s_id"], row["s_name"], row["s_timezone"], row["s_locale"])
        if row["s_id"] is not None
        else None
    )
    staff = (
        StaffMember(
            staff_id=row["st_id"],
            site_id=row["st_site_id"],
            name=row["st_name"],
            role=row["st_role"],
            email=row["st_email"],
            phone=row["st_phone"],
            locale=row["st_locale"],
            active=row["st_deactivated_at"] is None,
        )
        if row["st_id"] is not None
        else None
    )
    client = (
        ClientProfile(
            client_id=row["c_id"],
            site_id=row["c_site_id"],
            locale=row["c_locale"],
            timezone=row["c_timezone"],
            preferred_channel=Channel(row["c_channel"]),
        )
        if row["c_id"] is not None
        else None
    )
    return RecipientFacts(preferences=preferences, site=site, staff=staff, client=client)
